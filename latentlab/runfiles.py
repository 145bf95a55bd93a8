"""The files one training run writes: checked before the first step, written atomically, rescued.

A run writes two kinds of file: its run checkpoints (`<run_dir>/last.safetensors`, and caches such
as `latents.safetensors`) and the exported model (`out`). `RunFiles` is built before any work:

- `out` must end in `.safetensors`, must not be the checkpoint the run starts from, and may only
  replace a latentlab checkpoint of the same kind (never a photo, never someone else's file);
- a run directory that already holds a run is refused unless the run resumes it (`--resume`) or
  starts it over (`--overwrite`); a resumed run must have the same model config and the settings
  that decide its batches (`RESUME_MUST_MATCH`), or it would not continue the same run;
- every folder is proven writable by writing in it, so a read-only place fails now, not after an
  hour of training; temporary files that a killed run left there are removed.

If a save still fails at the end (disk full, a folder gone), the file is written to a fallback
place and a warning says where. Every write goes through this class: under DistributedDataParallel
only rank 0 will write, and `self.writes` is the one place to say so.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from . import checkpoints
from .atomic import check_writable, clean_stale_temps
from .checkpoints import CheckpointError

RUN_CHECKPOINT = "last.safetensors"


class RunExistsError(FileExistsError):
    """A new run pointed at a run directory that already holds a run."""


def settings_json(settings) -> str:
    """The settings a run was started with, as stored in its run checkpoints."""
    return json.dumps({k: v for k, v in settings.__dict__.items() if k != "extra_metrics"})


def _unused(path: Path) -> Path:
    """`path`, or `stem-2.suffix`, `stem-3.suffix`, … : the first name nothing is using yet."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _save_somewhere(write: Callable[[Path], object], path: Path, fallbacks: list[Path], what: str) -> Path:
    """write(path); if that fails, write(the first fallback that works) and warn where it went."""
    try:
        write(path)
        return path
    except OSError as err:
        first = err
    for alternative in fallbacks:
        try:
            write(alternative)
        except OSError:
            continue
        warnings.warn(f"could not write {path} ({first}); saved the {what} to {alternative} instead", stacklevel=3)
        return alternative
    raise OSError(f"could not write the {what} to {path} ({first}), nor to any fallback: "
                  f"{', '.join(map(str, fallbacks))}")


def check_out(out: Path, kind: str, inputs: list[tuple[Path, str]] = (), what: str = "model") -> None:
    """Refuse an output path that would lose data: one not ending in `.safetensors`, one of the
    `inputs` ((path, what it is) pairs: the file being read), a folder, or an existing file that is
    not a latentlab checkpoint of this `kind`. Replacing a latentlab checkpoint of the same kind is
    what --out is for."""
    out = Path(out)
    if out.suffix != ".safetensors":
        example = out.with_suffix(".safetensors") if out.name else f"{what}.safetensors"
        raise ValueError(f"--out {str(out)!r}: a {what} is written as a .safetensors file; give a path ending in "
                         f".safetensors, e.g. {example}")
    for source, description in inputs:
        # samefile also catches a hard link or another spelling of the same file
        if out.resolve() == source.resolve() or (out.exists() and source.exists() and out.samefile(source)):
            raise ValueError(f"--out {out} is {description}: writing there would replace it; choose another --out")
    if out.is_dir():
        raise IsADirectoryError(f"--out {out} is a folder; give a file name ending in .safetensors")
    if not out.exists():
        return
    try:
        meta = checkpoints.read_metadata(out)
    except CheckpointError:
        meta = {}
    if meta.get("format") != checkpoints.FORMAT:
        raise FileExistsError(f"--out {out} exists and is not a latentlab checkpoint: refusing to replace it; "
                              "choose another --out, or move that file away")
    if meta.get("kind") != kind:
        raise FileExistsError(f"--out {out} holds a latentlab {meta.get('kind')!r} checkpoint and this command "
                              f"writes a {kind!r} one: refusing to replace it; choose another --out")


class RunFiles:
    """Where a run writes, checked at construction (see the module docstring); the one writer."""

    def __init__(self, run_dir, out, *, kind: str, config_json: str, settings, resume: bool = False,
                 overwrite: bool = False, inputs: tuple = ()):
        """kind: the exported model's checkpoint kind ('vae', 'ldm'); run checkpoints are '<kind>-train'.
        inputs: files the run reads (an --init checkpoint), which `out` must not replace."""
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.out = Path(out) if out is not None else None
        self.kind, self.run_kind, self.config_json = kind, f"{kind}-train", config_json
        self.resume = resume
        # DistributedDataParallel (to come): set to rank == 0, so that one process alone writes.
        self.writes = True
        if self.out is not None:
            check_out(self.out, kind, [(Path(p), "the checkpoint this run starts from (--init)")
                                       for p in inputs if p is not None], what="model")
        self._check_run_dir(settings, overwrite)
        for folder, targets in self._folders():
            check_writable(folder)
            removed = clean_stale_temps(folder, targets)
            if removed:
                warnings.warn(f"removed {len(removed)} temporary file(s) that a killed run left in {folder}: "
                              f"{', '.join(p.name for p in removed)}", stacklevel=2)

    @property
    def run_path(self) -> Path | None:
        return self.run_dir / RUN_CHECKPOINT if self.run_dir is not None else None

    def _folders(self) -> list[tuple[Path, list[str] | None]]:
        """(folder, the file names whose temporaries may be cleaned there; None: any)."""
        folders = [(self.run_dir, None)] if self.run_dir is not None else []
        if self.out is not None:
            folders.append((self.out.parent, [self.out.name]))
        return folders

    def _check_run_dir(self, settings, overwrite: bool) -> None:
        path = self.run_path
        if not self.resume:
            if path is not None and path.is_file() and not overwrite:
                raise RunExistsError(f"{self.run_dir} already holds a run ({_describe_run(path)}): continue it "
                                     "with --resume, choose another --run-dir, or start over with --overwrite "
                                     "(which replaces it)")
            return
        if path is None or not path.is_file():
            where = path if path is not None else "(no run directory given)"
            raise FileNotFoundError(f"nothing to resume: no run checkpoint at {where}; "
                                    "start a new run without --resume, or give the run's --run-dir")
        meta = checkpoints.read_metadata(path)
        if meta.get("format") != checkpoints.FORMAT or meta.get("kind") != self.run_kind:
            raise CheckpointError(f"{path} holds a {meta.get('kind')!r} checkpoint, not a {self.run_kind!r} run: "
                                  "resume it with the command that started it")
        try:
            theirs, saved = json.loads(meta["config"]), json.loads(meta.get("settings") or "{}")
        except (KeyError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{path}: its config or settings metadata is unreadable ({err})") from err
        ours = json.loads(self.config_json)
        if theirs != ours:
            diff = {k: (theirs.get(k), ours.get(k)) for k in sorted(set(ours) | set(theirs))
                    if theirs.get(k) != ours.get(k)}
            raise CheckpointError(f"{path} was trained with another {self.kind.upper()} config; differing fields "
                                  f"(file, this run): {diff}")
        for name in settings.RESUME_MUST_MATCH:
            if name in saved and saved[name] != getattr(settings, name):
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{path} was started with {name}={saved[name]!r}, this run asks for "
                                 f"{getattr(settings, name)!r}; a resumed run must draw the batches it would "
                                 f"have drawn: resume with {flag} {saved[name]}, or start a new run in "
                                 "another --run-dir")

    def save_run(self, tensors: dict, extra: dict[str, str], final: bool = False) -> Path | None:
        """The run checkpoint. A periodic save that fails warns and training goes on (it tries again
        at the next one); the final one falls back to another folder and says where."""
        if not self.writes:
            return None

        def write(path: Path) -> None:
            checkpoints.save_checkpoint(path, tensors, self.run_kind, self.config_json, extra=extra)

        if not final:
            try:
                write(self.run_path)
                return self.run_path
            except OSError as err:
                warnings.warn(f"could not write the run checkpoint {self.run_path} ({err}); training goes on "
                              "and tries again at the next checkpoint", stacklevel=2)
                return None
        rescue = [_unused(base / f"{self.run_dir.name}-rescued") / RUN_CHECKPOINT
                  for base in (Path.cwd(), Path(tempfile.gettempdir()))]
        saved = _save_somewhere(write, self.run_path, rescue, "run checkpoint")
        if saved != self.run_path:
            warnings.warn(f"continue this run with --run-dir {saved.parent} --resume", stacklevel=2)
        return saved

    def save_cache(self, name: str, write: Callable[[Path], object]) -> Path | None:
        """A cache file in the run directory (e.g. the LDM's encoded dataset)."""
        if not self.writes or self.run_dir is None:
            return None
        return Path(write(self.run_dir / name))

    def save_model(self, write: Callable[[Path], object]) -> Path | None:
        """The exported model at `out`; if that fails, beside the run checkpoint, in the current
        folder or the temporary folder, under a name no file has yet (a warning says where)."""
        if not self.writes or self.out is None:
            return None
        places = ([self.run_dir] if self.run_dir is not None else []) + [Path.cwd(), Path(tempfile.gettempdir())]
        fallbacks = [_unused(folder / self.out.name) for folder in places if folder != self.out.parent]
        return _save_somewhere(write, self.out, fallbacks, "model")


def _describe_run(path: Path) -> str:
    """e.g. 'step 26 of 9000', for the message that refuses to start over a run."""
    try:
        meta = checkpoints.read_metadata(path)
        total = json.loads(meta.get("settings") or "{}").get("steps")
        return f"step {meta['step']}" + (f" of {total}" if total else "") + f", {path.name}"
    except (CheckpointError, KeyError, ValueError):
        return f"a run checkpoint {path.name}"


__all__ = ["RUN_CHECKPOINT", "RunExistsError", "RunFiles", "check_out", "settings_json"]
