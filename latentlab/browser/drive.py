"""Driving a notebook as a student would: open it in a JupyterLab page, run every cell, then touch
every widget control one by one and check that the widget's output changed.

    drive_notebook(page, path, shots)     all of it → NotebookReport
    start_notebook / finish_notebook      the same in two halves: the cells of one notebook run (in its page's
                                          kernel) while another page's widgets are driven
    close_notebook(handle)                shut a started notebook's kernel down, unsaved
    widget_code_differs(student, solution)   whether a solution notebook's widgets can differ from the student's

What "touch every control" means, control by control (in the order the page shows them):
    slider         focus its handle, press ArrowLeft (ArrowRight at the minimum): one step, as a keyboard user
    dropdown       pick the previous option (the last one from the first)
                   (down rather than up: fewer steps and smaller pictures are the cheaper settings)
    toggle buttons click the first button that is not selected
    checkbox       click it
    radio buttons  choose the first option not chosen
    text box       a prompt: type a valid prompt of the course's grammar (in the notebook's language); any
                   other text box (a quiz answer): type "1"; then press Enter
    number box     type the value + 1, press Enter (seeds)
    button         click it
    upload         choose a small PNG through the file chooser
    play           not pressed: ▶ only moves the slider it is linked to, and that slider is driven itself
The widget's output is the cell's output area: its pictures (the images' src), its HTML texts and
Output widgets, never the controls' own read-outs. A change must show there within a bounded time.
A control whose change shows nothing is accepted only when the next button of its widget does change
the output afterwards (the control only sets what the button does: "swap … with …", a quiz's answers).
"""

from __future__ import annotations

import re
import shutil
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from .page import screenshot_cell, wait_kernel_idle, wait_widgets_shown
from .report import ControlResult, NotebookReport
from .server import cpu_seconds

# Valid prompts of the course's caption grammar, per language; a text box gets the first one it does not hold.
PROMPTS = {
    "en": ("a large blue square on a white background", "a small red circle, top left"),
    "es": ("un cuadrado azul grande sobre fondo blanco", "un círculo rojo pequeño, arriba a la izquierda"),
}


def _slug(text: str, limit: int = 24) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:limit] or "control"


def _lang_of(relative: str) -> str:
    from ..i18n import DEFAULT, LANGUAGES

    first = Path(relative).parts[0] if Path(relative).parts else ""
    return first if first in LANGUAGES and first != DEFAULT else DEFAULT


def _upload_file(folder: Path) -> Path:
    """A small photo (PNG) to give upload buttons."""
    path = folder / "upload-test.png"
    if not path.exists():
        from PIL import Image

        from ..images import bundled_photo, square_photo

        Image.fromarray(square_photo(bundled_photo("coffee"), 96)).save(path)
    return path


@dataclass
class NotebookRun:
    """A notebook opened in a page with its cells running (start_notebook); finish_notebook completes it."""
    page: object
    relative: str
    report: NotebookReport
    started: float                   # time.monotonic() when run-all was sent
    console_seen: int                # the page's console messages before this notebook
    kernel_id: str = ""


def start_notebook(page, relative_path: str | Path) -> NotebookRun:
    """Open `relative_path` (relative to the server's root) in the JupyterLab of `page`, wait for its
    kernel, and start running every cell; returns at once. The cells run in the kernel while the
    caller does something else (drives another page's widgets): finish_notebook waits for them."""
    relative = Path(relative_path).as_posix()
    console = getattr(page, "_latentlab_console", None)
    if console is None:
        raise RuntimeError("open_lab(page, server) first: the page is not a driven JupyterLab")
    handle = NotebookRun(page, relative, NotebookReport(relative), 0.0, len(console))
    start = time.monotonic()
    page.evaluate("(p) => window.__ll.open(p)", relative)
    wait_kernel_idle(page, 120.0)
    handle.kernel_id = page.evaluate("() => window.__ll.kernelId()") or ""
    handle.report.open_seconds = time.monotonic() - start
    page.evaluate("() => window.__ll.runAll()")
    handle.started = time.monotonic()
    return handle


def finish_notebook(handle: NotebookRun, shots_dir: str | Path, *, run_timeout_s: float = 600.0,
                    control_timeout_s: float = 90.0, screenshots: bool = True, drive: bool = True) -> NotebookReport:
    """Wait until every cell of a started notebook has run (at most run_timeout_s after the start),
    collect errors, then drive every widget control one by one (see the module's docstring).
    Screenshots of each widget's output before and after each control go to `shots_dir`, named
    `<notebook stem>_w<widget>_<control>-<kind>-<label>_{before,after}.png`. The kernel is shut down
    and the notebook closed unsaved at the end. drive=False runs the cells but touches no control."""
    page, report, relative = handle.page, handle.report, handle.relative
    shots = Path(shots_dir)
    shots.mkdir(parents=True, exist_ok=True)
    stem = Path(relative).stem
    try:
        waiting = time.monotonic()
        deadline = handle.started + run_timeout_s
        while True:
            progress = page.evaluate("() => window.__ll.run")
            if progress["done"]:
                break
            if time.monotonic() > deadline:
                report.timed_out = f"the cells did not finish within {run_timeout_s:.0f} s"
                page.evaluate("() => window.__ll.panel.sessionContext.session?.kernel?.interrupt()")
                break
            time.sleep(0.2)
        wait_kernel_idle(page, 60.0)
        cells = wait_widgets_shown(page, 30.0)
        report.run_seconds = time.monotonic() - handle.started
        report.waited_seconds = time.monotonic() - waiting
        report.cells = len(cells)
        for cell in cells:
            report.cell_errors += [f"cell {cell['index']} ({cell['source']!r}): {e}" for e in cell["errors"]]
            report.widget_errors += [f"cell {cell['index']}: {e}" for e in cell["broken"]]
            if cell["count"] is None and not report.timed_out and not report.cell_errors:
                report.cell_errors.append(f"cell {cell['index']} ({cell['source']!r}) was not run")
        if progress.get("error"):
            report.cell_errors.append(f"run all cells: {progress['error']}")

        start = time.monotonic()
        widgets = page.evaluate("() => window.__ll.scan()")
        report.widgets = len(widgets)
        for w, widget in enumerate(widgets):
            for k, control in enumerate(widget["controls"]):
                if not control["label"]:
                    report.unlabelled.append(f"widget {w} ({widget['source']!r}), control {k}: a {control['kind']}")
                if control["cut"]:
                    report.cut_labels.append(f"widget {w} ({widget['source']!r}), control {k} ({control['kind']} "
                                             f"{control['label']!r}): {', '.join(map(repr, control['cut']))}")
            empty = [i for i, image in enumerate(widget["images"]) if image["empty"]]
            if empty:
                report.widget_errors.append(f"widget {w} ({widget['source']!r}): {len(empty)} of its "
                                            f"{len(widget['images'])} pictures empty (a broken-image box) after "
                                            f"every cell ran: pictures {empty}")
            for i, image in enumerate(widget["images"]):
                if not image["alt"] and not image["caption"]:
                    report.images_without_alt.append(f"widget {w} ({widget['source']!r}), picture {i} "
                                                     f"({image['width']}×{image['height']} px)")
            if drive and not report.cell_errors and not report.timed_out:
                _drive_widget(page, report, stem, w, widget, shots, control_timeout_s, _lang_of(relative),
                              screenshots)
        _accept_button_choosers(report)
        # Errors a control may have caused after the run: tracebacks and broken widgets, anywhere.
        for cell in page.evaluate("() => window.__ll.cells()"):
            for e in cell["errors"]:
                line = f"cell {cell['index']} ({cell['source']!r}): {e}"
                if line not in report.cell_errors:
                    report.cell_errors.append(line + " (after the widgets were driven)")
            for e in cell["broken"]:
                line = f"cell {cell['index']}: {e}"
                if line not in report.widget_errors:
                    report.widget_errors.append(line)
        report.drive_seconds = time.monotonic() - start
    finally:
        report.kernel_cpu_seconds = cpu_seconds(kernel_id=handle.kernel_id)
        close_notebook(handle)
    return report


def close_notebook(handle: NotebookRun) -> None:
    """Shut the notebook's kernel down and close it unsaved; its page's console errors go to its report."""
    try:
        handle.page.evaluate("() => window.__ll.close()")
    except Exception as err:  # noqa: BLE001 - the report says what went wrong first
        handle.report.console_errors.append(f"closing the notebook: {err}")
    handle.report.console_errors += handle.page._latentlab_console[handle.console_seen:]


def drive_notebook(page, relative_path: str | Path, shots_dir: str | Path, **options) -> NotebookReport:
    """Open `relative_path` (relative to the server's root) in the JupyterLab of `page`, run every cell,
    then drive every widget control one by one: start_notebook then finish_notebook (its options)."""
    return finish_notebook(start_notebook(page, relative_path), shots_dir, **options)


# --- one control, then one widget ------------------------------------------------------------------------------

ACTION_MS = 5_000  # a click, key press or choice that cannot happen in 5 s cannot happen (the control is covered)


def _act(page, control: dict, lang: str, upload: Path) -> str:
    """Change one control as a student would (mouse and keyboard, through Playwright, which refuses to
    click what another element covers); → what was done."""
    ident, kind = control["id"], control["kind"]
    locator = page.locator(f'[data-ll-id="{ident}"]')
    state = page.evaluate("(id) => window.__ll.state(id)", ident)
    if kind == "slider":
        at_min = state["now"] is not None and state["min"] is not None and state["now"] <= state["min"]
        key = "ArrowRight" if at_min else "ArrowLeft"
        locator.locator(".noUi-handle").first.press(key, timeout=ACTION_MS)
        return f"pressed {key}"
    if kind == "dropdown":
        if not state["options"] or state["options"] < 2:
            return ""
        index = (state["selected"] - 1) % state["options"]
        label = locator.locator("select").evaluate(f"(s) => s.options[{index}].text", timeout=ACTION_MS)
        locator.locator("select").select_option(index=index, timeout=ACTION_MS)
        return f"picked {label!r}"
    if kind == "toggle":
        buttons = locator.locator(".widget-toggle-button")
        for i, active in enumerate(state["toggles"]):
            if not active:
                text = buttons.nth(i).inner_text(timeout=ACTION_MS).strip()
                buttons.nth(i).click(timeout=ACTION_MS)
                return f"clicked {text!r}"
        return ""
    if kind == "checkbox":
        locator.locator("input[type=checkbox]").click(timeout=ACTION_MS)
        return "clicked"
    if kind == "radio":
        options = locator.locator("input[type=radio]")
        for i, checked in enumerate(state["radios"]):
            if not checked:
                text = options.nth(i).evaluate("(r) => (r.parentElement.innerText || r.value || '').trim()",
                                               timeout=ACTION_MS)
                options.nth(i).check(timeout=ACTION_MS)
                return f"chose {text[:40]!r}"
    if kind == "button":
        locator.click(timeout=ACTION_MS)
        return "clicked"
    if kind == "upload":
        with page.expect_file_chooser(timeout=10_000) as chooser:
            locator.click(timeout=ACTION_MS)
        chooser.value.set_files(str(upload))
        return f"uploaded {upload.name}"
    if kind in ("text", "number"):
        field_ = locator.locator("input, textarea").first
        if kind == "number":
            try:
                value = str(int(float(state["value"])) + 1)
            except (TypeError, ValueError):
                value = "1"
        elif "prompt" in control["label"].lower():  # the word is "prompt" in every edition of the course
            prompts = PROMPTS.get(lang, PROMPTS["en"])
            value = next(p for p in prompts if p != state["value"])
        else:  # another text box (a quiz answer, …): a short value that parses as a number too
            value = "2" if state["value"] == "1" else "1"
        field_.fill(value, timeout=ACTION_MS)
        field_.press("Enter", timeout=ACTION_MS)
        return f"typed {value!r}"
    return ""


def _drive_widget(page, report: NotebookReport, stem: str, w: int, widget: dict, shots: Path,
                  timeout_s: float, lang: str, screenshots: bool) -> None:
    from playwright.sync_api import Error as PlaywrightError

    cell = widget["cell"]
    previous_shot: Path | None = None
    if screenshots:
        previous_shot = shots / f"{stem}_w{w}_initial.png"
        report.shot_seconds += screenshot_cell(page, cell, previous_shot)
    upload = _upload_file(shots)
    for k, control in enumerate(widget["controls"]):
        result = ControlResult(w, k, control["kind"], control["label"])
        report.controls.append(result)
        if control["kind"] == "play":
            result.note = "not pressed: ▶ moves the slider linked to it, which is driven itself"
            continue
        if control["disabled"]:
            result.note = "disabled"
            continue
        if page.locator(f'[data-ll-id="{control["id"]}"]').count() == 0:
            result.changed, result.note = False, "the control vanished from the page before its turn"
            continue
        before = page.evaluate("(c) => window.__ll.fingerprint(c)", cell)
        busy = page.evaluate("() => window.__ll.kernel()")["busy"]
        start = time.monotonic()
        try:
            result.action = _act(page, control, lang, upload)
        except PlaywrightError as err:
            result.error = _why_not(str(err))
            continue
        if not result.action:
            result.note = "nothing to change (a single option)"
            continue
        result.changed, after = _wait_change(page, cell, before, busy, timeout_s)
        result.seconds = time.monotonic() - start
        if after and after["warnings"]:
            result.warning = "; ".join(after["warnings"])[:300]
        if screenshots:
            name = f"{stem}_w{w}_{k:02d}-{control['kind']}-{_slug(control['label'])}"
            before_path, after_path = shots / f"{name}_before.png", shots / f"{name}_after.png"
            if previous_shot is not None and previous_shot.exists():
                shutil.copyfile(previous_shot, before_path)
            report.shot_seconds += screenshot_cell(page, cell, after_path)
            previous_shot = after_path
            result.shots = (str(before_path), str(after_path))


def _why_not(message: str) -> str:
    """Playwright's refusal to act, in one line: what covers the control, when something does."""
    first = message.strip().splitlines()[0][:160] if message.strip() else "failed"
    covering = re.findall(r"(<[^\n]*?>)[^\n]*? intercepts pointer events", message)
    if not covering:
        return first
    value = re.search(r'data-value="([^"]*)"', covering[-1])
    what = f"the option {urllib.parse.unquote(value.group(1))[:60]!r}" if value else covering[-1][:80]
    return f"another element covers it, {what} (a student's click lands there); {first}"


def _wait_change(page, cell: int, before: dict, busy: int, timeout_s: float) -> tuple[bool, dict | None]:
    """Wait until the cell's output has changed and settled (→ True), or until the kernel has handled
    the change and gone quiet with the output as it was (→ False); at most timeout_s."""
    start = time.monotonic()
    deadline = start + timeout_s
    last = None
    while time.monotonic() < deadline:
        now = page.evaluate("(c) => window.__ll.fingerprint(c)", cell)
        kernel = page.evaluate("() => window.__ll.kernel()")
        settled = kernel["status"] == "idle" and kernel["quiet"] >= 200
        if now is None:
            return False, None
        if now["hash"] != before["hash"]:
            if settled and last is not None and now["hash"] == last["hash"]:
                return True, now
        elif settled and (kernel["busy"] > busy or time.monotonic() - start > 5.0):
            # the kernel handled the change (or none reached it within 5 s) and the output is as before
            if last is not None and last["hash"] == before["hash"]:
                return False, now
        last = now
        time.sleep(0.15)
    return (last is not None and last["hash"] != before["hash"]), last


def _accept_button_choosers(report: NotebookReport) -> None:
    """A control that changed nothing by itself, followed in its widget by a button (the next one after
    it) that changed the output, only chooses what that button does ("swap [0] with [1]", a quiz's
    answers before "check"): accepted, with a note."""
    for result in report.unchanged:
        later = [c for c in report.controls if c.widget == result.widget and c.index > result.index]
        button = next((c for c in later if c.kind == "button"), None)
        if button is not None and button.changed:
            result.changed = None
            result.note = f"changes nothing by itself; it sets what the button {button.label!r} does, which changed " \
                          "the output"


# --- student notebook vs solution notebook -------------------------------------------------------------------

# Code that builds or shows a widget: ipywidgets, the course's apps, interact.
WIDGET_CODE = re.compile(r"\bW\.[A-Z]|\bipywidgets\b|\blatentlab\.widgets\b|\b[A-Z]\w*App\(|\binteract(ive)?\b"
                         r"|\.controls\[")


def _code_cells(path: Path) -> list[str]:
    import nbformat

    return [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def _names(source: str, defined: bool) -> set[str]:
    """The top-level names a cell defines (defined=True) or reads (False); empty when it does not parse (magics)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    if defined:
        names = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        return names
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def widget_code_differs(student: Path, solution: Path) -> list[str]:
    """Why the solution notebook's widgets may behave differently from the student notebook's: its
    cells that are not in the student notebook (the worked exercises) and that build a widget, or
    define a name a widget cell reads. [] when every widget cell is the same code fed by the same
    names: driving the student notebook's widgets then covers the solution's."""
    theirs, ours = _code_cells(solution), set(_code_cells(student))
    changed = [source for source in theirs if source not in ours]
    reasons = [f"a solution cell builds a widget: {source.splitlines()[0][:70]!r}"
               for source in changed if WIDGET_CODE.search(source)]
    redefined = set().union(*(_names(source, defined=True) for source in changed)) if changed else set()
    for source in theirs:
        if WIDGET_CODE.search(source):
            used = _names(source, defined=False) & redefined
            if used:
                reasons.append(f"a widget cell reads {sorted(used)}, defined differently in the solution: "
                               f"{source.splitlines()[0][:70]!r}")
    return reasons
