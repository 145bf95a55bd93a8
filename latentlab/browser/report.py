"""What driving a notebook found: one ControlResult per widget control, gathered in a NotebookReport
(timings, errors, accessibility notes). `failures()` is what makes the notebook fail as a student
would see it; `summary()` is its one-line account."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ControlResult:
    widget: int                 # which widget (cell with widgets) of the notebook, 0-based
    index: int                  # the control's place in that widget, 0-based
    kind: str                   # slider, dropdown, toggle, checkbox, radio, text, number, button, upload, play
    label: str
    action: str = ""
    changed: bool | None = None  # None: not driven (see note)
    seconds: float = 0.0
    warning: str = ""           # the widget's status line after the change ("⚠ …"), if any
    note: str = ""
    error: str = ""             # the control could not be used (another element covers it, …)
    shots: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"widget {self.widget}, control {self.index} ({self.kind} {self.label!r}: {self.action})"


@dataclass
class NotebookReport:
    path: str
    open_seconds: float = 0.0        # opening it and starting its kernel
    run_seconds: float = 0.0         # running every cell (from run-all to the last widget shown)
    waited_seconds: float = 0.0      # of run_seconds, how long finish_notebook waited (the rest ran ahead)
    drive_seconds: float = 0.0       # driving the widgets (screenshots included)
    kernel_cpu_seconds: float = 0.0  # CPU time of the notebook's kernel (cells and widget updates)
    cells: int = 0
    widgets: int = 0
    cell_errors: list[str] = field(default_factory=list)
    widget_errors: list[str] = field(default_factory=list)      # "Error displaying widget", status-line ⚠
    console_errors: list[str] = field(default_factory=list)
    controls: list[ControlResult] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)          # controls with no visible label
    images_without_alt: list[str] = field(default_factory=list)  # widget pictures with no alt/title and no caption
    cut_labels: list[str] = field(default_factory=list)          # labels too long for their box (shown with "…")
    shot_seconds: float = 0.0    # of drive_seconds, the time taken by screenshots
    timed_out: str = ""

    @property
    def unchanged(self) -> list[ControlResult]:
        return [c for c in self.controls if c.changed is False]

    @property
    def seconds(self) -> float:
        """Wall time the notebook took, cells run ahead included."""
        return self.open_seconds + self.run_seconds + self.drive_seconds

    def failures(self) -> list[str]:
        """What makes the notebook fail as a student would see it (accessibility is reported apart)."""
        out = [f"cell error: {e}" for e in self.cell_errors]
        out += [f"widget error: {e}" for e in self.widget_errors]
        out += [f"console error: {e}" for e in self.console_errors]
        out += [f"output unchanged after {c.describe()}" for c in self.unchanged]
        out += [f"status line after {c.describe()}: {c.warning}" for c in self.controls if c.warning]
        out += [f"cannot use widget {c.widget}, control {c.index} ({c.kind} {c.label[:60]!r}): {c.error}"
                for c in self.controls if c.error]
        if self.timed_out:
            out.append(self.timed_out)
        return out

    def summary(self) -> str:
        driven = sum(bool(c.action) for c in self.controls)
        return (f"{self.path}: {self.cells} code cells run in {self.run_seconds:.1f} s, {self.widgets} widget(s), "
                f"{driven} control(s) driven in {self.drive_seconds:.1f} s (screenshots {self.shot_seconds:.1f} s), "
                f"{len(self.unchanged)} unchanged, "
                f"{len(self.cell_errors) + len(self.widget_errors)} error(s), {len(self.console_errors)} console "
                f"error(s); total {self.seconds:.1f} s, kernel {self.kernel_cpu_seconds:.0f} CPU s")

