"""How long a lesson takes, measured: `latentlab lessons time [--lessons 01 02] [--json]`.

Each lesson's header ("About this lesson", written by `latentlab lessons build`) gives the time a
student waits for the lesson's cells on a CPU. That figure is never typed by hand: this module runs
each lesson's **solution** notebook (the student notebook for a lesson without exercises, which has
no solution notebook) top to bottom with nbclient, on the CPU, in normal mode — not the test suite's
`LATENTLAB_FAST=1` short paths — and records the wall-clock seconds in
`latentlab/results/lesson-times.json`:

    {"command": "latentlab lessons time",
     "lessons": {"03": {"seconds": 41.7, "notebook": "notebooks/solutions/03_adding_noise_solutions.ipynb",
                        "hardware": "…", "cpu_cores": 2, "torch_threads": 2, "date": "2026-12-01",
                        "fast": false}, …}}

A run with `--lessons` replaces only those lessons' entries, so every entry carries its own hardware
and date. The time includes starting the kernel and reading the models: what a student waits for,
not counting reading and thinking. The seconds depend on the machine and on its load, so measure on
an idle one; the header says which machine measured it.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path

from . import HERE, LESSONS, NOTEBOOKS, Lesson

TIMES = HERE.parent / "results" / "lesson-times.json"
COMMAND = "latentlab lessons time"
# The last cell appended to the executed copy: what the kernel really ran with (threads can be set by
# OMP_NUM_THREADS or by the notebook itself), printed behind a tag that no lesson prints.
PROBE_TAG = "LATENTLAB_TIMING_PROBE "
PROBE = f"import json as _json, torch as _torch\nprint({PROBE_TAG!r} + _json.dumps({{'torch_threads': _torch.get_num_threads()}}))"


class LessonTimingError(RuntimeError):
    """A lesson notebook that could not be timed (missing, or a cell raised)."""


def cpu_cores() -> int:
    """The CPU cores this process may use (a container's share, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def hardware() -> str:
    """e.g. 'Intel(R) Xeon(R) CPU @ 2.20GHz (x86_64), 2 cores, torch 2.5.1'."""
    import torch

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model} ({platform.machine()}), {cpu_cores()} cores, torch {torch.__version__}"


def notebook_to_time(lesson: Lesson, notebooks: Path = NOTEBOOKS) -> Path:
    """The notebook whose run is the lesson's time: its solution notebook (every exercise solved, so
    every cell does its full work), or the student notebook when the lesson has no exercises."""
    solution = Path(notebooks) / "solutions" / f"{lesson.stem}_solutions.ipynb"
    return solution if solution.is_file() else Path(notebooks) / f"{lesson.stem}.ipynb"


def read_times(path: str | Path = TIMES) -> dict[str, dict]:
    """The recorded entries by lesson number ('03'), or {} when nothing has been measured yet."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")).get("lessons", {}))
    except (ValueError, AttributeError) as err:
        raise ValueError(f"{path}: not a lesson-times file ({err}); delete it and run `{COMMAND}`") from None


def time_phrase(entry: dict | None, lang: str | None = None) -> str:
    """The header's words for one entry: 'about 4 minutes on 2 CPU cores, measured by …', or
    'not measured yet' when there is no entry or only a FAST-mode (test) one."""
    from ..i18n import tr

    if not entry or entry.get("fast"):
        return tr("not measured yet (`{command}` measures it)", lang).format(command=COMMAND)
    seconds = float(entry["seconds"])
    minutes = max(round(seconds / 60), 1)
    amount = (tr("under a minute", lang) if seconds < 30 else
              tr("about 1 minute", lang) if minutes == 1 else tr("about {n} minutes", lang).format(n=minutes))
    cores = entry.get("cpu_cores")
    where = (tr("on a CPU", lang) if not cores else tr("on 1 CPU core", lang) if cores == 1 else
             tr("on {n} CPU cores", lang).format(n=cores))
    return tr("{amount} {where}, measured by `{command}` ({date}): the time its cells take to run, not "
              "counting reading and thinking", lang).format(amount=amount, where=where, command=COMMAND,
                                                            date=entry.get("date", tr("undated", lang)))


@contextmanager
def _kernel_environment(fast: bool):
    """The kernel inherits this process's environment: CPU only, no display, FAST only if asked."""
    before = dict(os.environ)
    os.environ["LATENTLAB_DEVICE"] = "cpu"
    os.environ["MPLBACKEND"] = "Agg"
    os.environ.pop("LATENTLAB_FAST", None)
    if fast:
        os.environ["LATENTLAB_FAST"] = "1"
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


def time_notebook(path: Path, fast: bool = False, timeout: int = 3600) -> dict:
    """Execute the notebook at `path` in a fresh kernel (in its own folder, as JupyterLab does) and
    return {'seconds', 'torch_threads'}. `timeout` is per cell, in seconds. A cell that raises is a
    LessonTimingError naming the notebook and the error: a time of a broken run means nothing."""
    import nbformat
    try:
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError:
        raise LessonTimingError("timing lessons needs nbclient: pip install -e '.[dev]'") from None

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    with _kernel_environment(fast):
        start = time.perf_counter()
        try:
            client.execute()
        except CellExecutionError as err:
            raise LessonTimingError(f"{path}: a cell failed, so no time was recorded:\n{str(err)[-1500:]}") from None
        seconds = time.perf_counter() - start
    probe = "".join(output.get("text", "") for output in nb.cells[-1].outputs)
    threads = json.loads(probe.split(PROBE_TAG, 1)[1])["torch_threads"] if PROBE_TAG in probe else None
    return {"seconds": round(seconds, 1), "torch_threads": threads}


def time_lessons(lessons: list[Lesson] | None = None, out: str | Path = TIMES, fast: bool = False,
                 notebooks: Path = NOTEBOOKS, timeout: int = 3600, progress=print) -> dict:
    """Time each lesson (all of the manifest's by default) and merge the entries into `out`, written
    atomically after every lesson, so an interrupted run keeps the lessons it finished.
    `fast=True` runs the test suite's short paths; its entries are marked "fast" and the headers
    ignore them. Returns the whole file's content."""
    from ..atomic import atomic_write_text
    from ..strict_json import dumps

    out = Path(out)
    entries = read_times(out)
    for lesson in lessons if lessons is not None else LESSONS:
        path = notebook_to_time(lesson, notebooks)
        if not path.is_file():
            raise LessonTimingError(f"lesson {lesson.number:02d}: no notebook at {path}; run `latentlab lessons build`")
        progress(f"timing {lesson.stem} ({path.name}){' in FAST mode' if fast else ''} …")
        measured = time_notebook(path, fast=fast, timeout=timeout)
        shown = path.relative_to(Path(notebooks).parent) if path.is_relative_to(Path(notebooks).parent) else path
        entries[f"{lesson.number:02d}"] = {
            "seconds": measured["seconds"], "notebook": str(shown), "hardware": hardware(), "cpu_cores": cpu_cores(),
            "torch_threads": measured["torch_threads"], "date": datetime.date.today().isoformat(), "fast": fast}
        progress(f"  {measured['seconds']:.1f} s")
        result = {"command": COMMAND, "lessons": dict(sorted(entries.items()))}
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, dumps(result, indent=2) + "\n")
    return {"command": COMMAND, "lessons": dict(sorted(entries.items()))}


def select_lessons(numbers: list[str] | None, lessons: list[Lesson] | None = None) -> list[Lesson]:
    """The manifest's lessons named by `numbers` ('01', '1' or '7'), all of them for None; an unknown
    number is a ValueError listing the known ones."""
    lessons = lessons if lessons is not None else LESSONS
    if not numbers:
        return list(lessons)
    by_number = {lesson.number: lesson for lesson in lessons}
    chosen = []
    for text in numbers:
        if not text.isdigit() or int(text) not in by_number:
            known = ", ".join(f"{n:02d}" for n in by_number)
            raise ValueError(f"no lesson {text!r} in the manifest; the lessons are {known}")
        chosen.append(by_number[int(text)])
    return chosen


__all__ = ["TIMES", "LessonTimingError", "hardware", "notebook_to_time", "read_times", "select_lessons",
           "time_lessons", "time_notebook", "time_phrase"]
