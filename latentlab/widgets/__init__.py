"""Interactive apps for the lessons, one per concept (ipywidgets 8, JupyterLab 4).

Every app follows the same small protocol so lessons, tests and benchmarks can drive it:

    app = SomeApp(...)        # builds its controls; nothing heavy happens before the first render
    app                       # displayed in a notebook cell (via _ipython_display_)
    app.controls["name"]      # the ipywidgets a student touches; tests set `.value` on them
    app.render() -> dict      # recompute every output from the controls' current values and return
                              # the numbers shown (tests assert on them)
    app.bench_step(i)         # one typical student change (used by `latentlab bench widgets`)

Images are shown as `ipywidgets.Image` PNGs rather than matplotlib figures where they update
live, because re-drawing a PNG costs milliseconds and a figure costs a hundred.
A callback error is caught and shown in the app's status line: a student never sees a traceback
from the course's machinery.
"""

from __future__ import annotations

import functools
import html
import traceback

import ipywidgets as W


class App:
    """Base class: holds `controls`, a `status` line and the top-level `widget`."""

    def __init__(self):
        self.controls: dict[str, W.Widget] = {}
        self.status = W.HTML(value="")
        self.widget: W.Widget = W.VBox([])

    def render(self) -> dict:  # pragma: no cover - every app overrides it
        raise NotImplementedError

    def bench_step(self, i: int) -> None:  # pragma: no cover - every app overrides it
        raise NotImplementedError

    def observe_all(self) -> None:
        """Re-render whenever any control changes value."""
        for control in self.controls.values():
            control.observe(self._on_change, names="value")

    def _on_change(self, change=None) -> None:
        self.safe_render()

    def safe_render(self) -> dict | None:
        """render(), with any error shown in the status line instead of a traceback."""
        try:
            result = self.render()
        except Exception as err:  # noqa: BLE001 - shown to the student, logged for the teacher
            self.status.value = (f"<span style='color:#b00'>⚠ {html.escape(type(err).__name__)}: "
                                 f"{html.escape(str(err))}</span>")
            self.last_error = traceback.format_exc()
            return None
        self.status.value = ""
        return result

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def read_upload(change):
    """The newest file of a FileUpload change → (label for a dropdown, PIL picture), or None when
    the upload was cleared. A file that is not a picture raises a ValueError naming it."""
    from ..images import load_image

    files = change["new"]
    if not files:
        return None
    item = files[-1]
    name = str(item.get("name", "upload"))
    try:
        picture = load_image(bytes(item["content"]))
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    return f"uploaded: {name}", picture


def guarded(method):
    """Decorator for callbacks other than render (buttons, uploads): errors go to the status line."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as err:  # noqa: BLE001
            self.status.value = (f"<span style='color:#b00'>⚠ {html.escape(type(err).__name__)}: "
                                 f"{html.escape(str(err))}</span>")
            self.last_error = traceback.format_exc()
            return None

    return wrapper
