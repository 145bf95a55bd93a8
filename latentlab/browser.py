"""The course as a student sees it: JupyterLab in a real browser (Chromium driven by Playwright).

    LabServer(root)                       JupyterLab on 127.0.0.1, a free port, a random token; kernels get
                                          LATENTLAB_FAST=1 and OMP_NUM_THREADS=1; `with` stops it and its kernels
    open_lab(page, server)                load JupyterLab in a Playwright page (once per page)
    drive_notebook(page, path, shots)     open a notebook, run every cell, then touch every widget control one
                                          by one and check that the widget's output changed → NotebookReport
    start_notebook / finish_notebook      the same in two halves: the cells of one notebook run (in its page's
                                          kernel) while another page's widgets are driven
    widget_code_differs(student, solution)   whether a solution notebook's widgets can differ from the student's
    python -m latentlab.browser screenshots   the README's widget pictures, into docs/screenshots/

Used by tests/test_browser.py (one server and one browser for every lesson) and by the command above.
Playwright's own browser download is not needed: the driver launches the system's Chromium
(LATENTLAB_CHROMIUM, else chromium / chromium-browser / google-chrome on the PATH).

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

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SCREENSHOTS = ROOT / "docs" / "screenshots"

# Valid prompts of the course's caption grammar, per language; a text box gets the first one it does not hold.
PROMPTS = {
    "en": ("a large blue square on a white background", "a small red circle, top left"),
    "es": ("un cuadrado azul grande sobre fondo blanco", "un círculo rojo pequeño, arriba a la izquierda"),
}


class BrowserMissing(RuntimeError):
    """No Chromium (or no Playwright) on this machine; the message says how to install them."""


def find_chromium() -> Path:
    """The Chromium to drive: LATENTLAB_CHROMIUM, else chromium / chromium-browser / google-chrome on the PATH."""
    chosen = os.environ.get("LATENTLAB_CHROMIUM")
    if chosen:
        path = Path(chosen)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise BrowserMissing(f"LATENTLAB_CHROMIUM={chosen!r} is not an executable file; "
                             "point it at a Chrome/Chromium binary, or unset it and `apt-get install chromium`")
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise BrowserMissing("no Chromium found (looked for LATENTLAB_CHROMIUM, chromium, chromium-browser, "
                         "google-chrome): `apt-get install chromium` (Debian/Ubuntu) or set LATENTLAB_CHROMIUM")


def check_playwright() -> None:
    """Raise BrowserMissing when the Playwright package is not installed."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise BrowserMissing("Playwright is not installed: `pip install -e .[dev]` (or `pip install playwright`); "
                             "its browser download is not needed, the system's Chromium is used") from None


def launch_browser(playwright, **options):
    """Chromium (the system's) launched headless through Playwright."""
    args = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
            "--disable-background-timer-throttling", "--disable-renderer-backgrounding"]
    return playwright.chromium.launch(executable_path=str(find_chromium()), headless=True, args=args, **options)


# --- JupyterLab -------------------------------------------------------------------------------------------

# Settings of the throw-away JupyterLab: every cell kept in the page (windowing off: the driver looks
# for widgets in cells out of view), nothing saved behind the driver's back, no news fetched.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                       "checkForUpdates": False},
}


def tree_cpu_seconds(root: int | None = None) -> float:
    """CPU seconds (user + system) used so far by process `root` (this one by default) and every live
    descendant, with the children each has already reaped: the server, its kernels and the browser
    included. Linux only (reads /proc); 0.0 elsewhere. Unlike wall time, it hardly depends on what
    else the machine is doing."""
    root = os.getpid() if root is None else root
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    parents: dict[int, int] = {}
    cpu: dict[int, int] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return 0.0
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        parents[pid] = int(fields[1])
        cpu[pid] = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total / tick


def _descendants(root: int) -> list[int]:
    """The pids of the live descendants of `root` (Linux: /proc; [] elsewhere)."""
    parents = {}
    try:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", "rb") as handle:
                        parents[int(entry)] = int(handle.read().rsplit(b")", 1)[1].split()[1])
                except OSError:
                    continue
    except OSError:
        return []
    found, todo = [], [root]
    while todo:
        here = todo.pop()
        children = [pid for pid, parent in parents.items() if parent == here]
        found += children
        todo += children
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """JupyterLab serving `root` on 127.0.0.1 for a browser to drive; a context manager.

    The notebooks are never written: saving is refused (ReadOnlyContentsManager) and checkpoints go to
    a temporary folder, as do the settings, workspaces and runtime files. Kernels inherit the
    environment with LATENTLAB_FAST=1 and OMP_NUM_THREADS=1 (and MPLBACKEND unset: figures inline,
    as a student sees them)."""

    def __init__(self, root: str | Path = NOTEBOOKS, env: dict | None = None, startup_timeout: float = 180.0):
        self.root = Path(root).resolve()
        self.token = secrets.token_hex(24)
        self.port = 0
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self) -> str:
        return f"{self.url}/lab?reset&token={self.token}"

    def start(self) -> LabServer:
        self._tmp = tempfile.TemporaryDirectory(prefix="latentlab-browser-")
        tmp = Path(self._tmp.name)
        for relative, values in LAB_SETTINGS.items():
            path = tmp / "settings" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        for name in ("workspaces", "checkpoints", "runtime", "config"):
            (tmp / name).mkdir(exist_ok=True)
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)
        env.update({"LATENTLAB_FAST": "1", "OMP_NUM_THREADS": "1", "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
                    "JUPYTER_CONFIG_DIR": str(tmp / "config"), "PYTHONUNBUFFERED": "1"})
        env.update(self.extra_env)
        self.log_path = tmp / "jupyterlab.log"
        for attempt in range(3):  # a free port can be taken between the probe and the bind: try another
            self.port = _free_port()
            command = [
                sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
                "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                f"--LabApp.user_settings_dir={tmp / 'settings'}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
                "--ServerApp.contents_manager_class=latentlab.browser.ReadOnlyContentsManager",
                f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}",
                "--ServerApp.terminals_enabled=False", "--MappingKernelManager.cull_idle_timeout=0",
            ]
            with open(self.log_path, "ab") as log:  # the server keeps its own copy of the descriptor
                self.process = subprocess.Popen(command, cwd=self.root, env=env, stdout=log,
                                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                start_new_session=True)
            if self._wait_ready():
                return self
            self._kill()
            if attempt == 2 or "address already in use" not in self.log_tail().lower():
                break
        raise RuntimeError(f"JupyterLab did not start within {self.startup_timeout:.0f} s; its log:\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                self.api("GET", "/api/status", timeout=5)
                return True
            except (OSError, urllib.error.URLError):
                time.sleep(0.3)
        return False

    def api(self, method: str, path: str, timeout: float = 10.0):
        """One REST call to the server (token in the header) → the decoded JSON, or None."""
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except (OSError, AttributeError):
            return ""

    def stop(self) -> None:
        """Shut every kernel down, then the server; kill what is left of its process group."""
        if self.process is not None and self.process.poll() is None:
            try:
                for kernel in self.api("GET", "/api/kernels") or []:
                    self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=20)
                self.api("POST", "/api/shutdown", timeout=10)
            except (OSError, urllib.error.URLError, ValueError):
                pass
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            self._kill()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _kill(self) -> None:
        """End the server and what it started, by their ids: its process group (SIGTERM, then SIGKILL
        after 10 s), then any of its descendants left in groups of their own (kernels)."""
        if self.process is None:
            return
        left = _descendants(self.process.pid)
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
            pass
        for kill, target in [(os.killpg, self.process.pid)] + [(os.kill, pid) for pid in left]:
            try:
                kill(target, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _read_only_manager():
    from jupyter_server.services.contents.largefilemanager import LargeFileManager
    from tornado import web

    class ReadOnlyContentsManager(LargeFileManager):
        """Serves the notebooks but refuses to write them: a driven notebook (outputs and all) is never saved."""

        def save(self, model, path=""):
            raise web.HTTPError(403, "latentlab.browser: this server never writes the course's files")

        def rename_file(self, old_path, new_path):
            raise web.HTTPError(403, "latentlab.browser: this server never writes the course's files")

        def delete_file(self, path):
            raise web.HTTPError(403, "latentlab.browser: this server never writes the course's files")

    return ReadOnlyContentsManager


def __getattr__(name: str):
    # Imported by the JupyterLab server (--ServerApp.contents_manager_class); built on first use so that
    # importing this module does not import jupyter_server.
    if name == "ReadOnlyContentsManager":
        return _read_only_manager()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- the page ----------------------------------------------------------------------------------------------

# Helpers installed in the JupyterLab page (window.__ll): open a notebook, run it, list the widget
# controls of each cell, fingerprint a cell's output, check labels and pictures.
PAGE_JS = r"""
() => {
  if (window.__ll) return true;
  const WIDGET = 'application/vnd.jupyter.widget-view+json';
  const ll = {panel: null, status: 'unknown', busy: 0, changedAt: Date.now(), run: null};
  const app = () => window.jupyterapp;
  const hash = (s) => { let h = 2166136261; for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); } return (h >>> 0).toString(16) + ':' + s.length; };
  const visibleText = (el) => (el ? (el.innerText || el.textContent || '') : '').replace(/[\u200b\s]+/g, ' ').trim();

  ll.open = async (path) => {
    const panel = await app().commands.execute('docmanager:open', {path, factory: 'Notebook', kernel: {name: 'python3'}});
    app().shell.activateById(panel.id);
    await panel.context.ready;
    await panel.sessionContext.ready;
    ll.panel = panel; ll.busy = 0; ll.run = null; ll.status = panel.sessionContext.kernelDisplayStatus;
    ll.changedAt = Date.now();
    panel.sessionContext.statusChanged.connect((_, s) => { ll.status = s; ll.changedAt = Date.now(); if (s === 'busy') ll.busy++; });
    return panel.id;
  };
  ll.kernelId = () => (ll.panel && ll.panel.sessionContext.session && ll.panel.sessionContext.session.kernel
                        ? ll.panel.sessionContext.session.kernel.id : null);
  ll.kernel = () => ({status: ll.panel ? ll.panel.sessionContext.kernelDisplayStatus : 'none', busy: ll.busy, quiet: Date.now() - ll.changedAt});
  ll.runAll = () => {
    ll.run = {done: false, ok: null, error: null};
    app().shell.activateById(ll.panel.id);
    app().commands.execute('notebook:run-all-cells').then((ok) => { ll.run.done = true; ll.run.ok = ok; },
                                                          (e) => { ll.run.done = true; ll.run.error = String(e); });
  };
  // The top-level outputs of an output area that show a widget (the widget renderer sets no mime type).
  const widgetOutputs = (node) => [...node.querySelectorAll(':scope > .jp-OutputArea-child > .jp-OutputArea-output')]
    .filter((o) => o.querySelector('.jupyter-widgets') || o.classList.contains('jupyter-widgets'));
  ll.codeCells = () => ll.panel.content.widgets.filter((c) => c.model.type === 'code');
  ll.cells = () => ll.codeCells().map((cell, i) => {
    const outputs = cell.model.outputs.toJSON();
    const errors = [];
    for (const o of outputs) {
      if (o.output_type === 'error') errors.push(`${o.ename}: ${o.evalue}`);
      if (o.output_type === 'stream' && o.name === 'stderr') { const t = [].concat(o.text).join(''); if (t.includes('Traceback')) errors.push(t.slice(-600)); }
    }
    const node = cell.outputArea.node;
    if (!errors.length) for (const el of node.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')) {
      const t = visibleText(el); if (t.includes('Traceback')) { errors.push(t.slice(-600)); break; }  // shown, not in the model
    }
    const broken = [];
    for (const el of node.querySelectorAll('.jupyter-widgets')) { const t = visibleText(el); if (t.startsWith('Error displaying widget')) broken.push(t); }
    const expected = outputs.filter((o) => o.data && o.data[WIDGET]).length;
    const pending = Math.max(0, expected - widgetOutputs(node).length);
    return {index: i, count: cell.model.executionCount, errors, broken, pending, source: cell.model.sharedModel.getSource().slice(0, 80)};
  });

  // The widget controls of each cell's output area, in page order; each is tagged data-ll-id="w<cell>-<k>".
  const controlOf = (el) => {
    if (el.classList.contains('widget-play')) return {kind: 'play', el};
    if (el.querySelector(':scope > .noUi-target, :scope .slider-container .noUi-target, :scope .noUi-target')) return {kind: 'slider', el};
    if (el.classList.contains('widget-dropdown')) return {kind: 'dropdown', el};
    if (el.classList.contains('widget-toggle-buttons')) return {kind: 'toggle', el};
    if (el.classList.contains('widget-checkbox')) return {kind: 'checkbox', el};
    if (el.classList.contains('widget-radio')) return {kind: 'radio', el};
    if (el.classList.contains('widget-upload')) return {kind: 'upload', el};
    if (el.classList.contains('widget-button')) return {kind: 'button', el};
    if (el.classList.contains('widget-text') || el.classList.contains('widget-textarea')) {
      const input = el.querySelector('input, textarea');
      if (!input) return null;
      return {kind: input.type === 'number' ? 'number' : 'text', el};
    }
    return null;
  };
  const SELECTOR = '.widget-hslider, .widget-vslider, .widget-slider, .widget-dropdown, .widget-toggle-buttons, .widget-checkbox, .widget-radio, .widget-upload, button.widget-button, .widget-text, .widget-textarea, .widget-play';
  const labelOf = (el, kind) => {
    const own = el.querySelector(':scope > .widget-label');
    let text = visibleText(own && own.style.display !== 'none' ? own : null);
    if (!text && kind === 'checkbox') text = visibleText(el.querySelector('.widget-label-basic'));
    if (!text && (kind === 'button' || kind === 'upload')) text = visibleText(el);
    if (!text) text = (el.getAttribute('title') || el.getAttribute('aria-label') || '').trim();  // a tooltip: icon-only controls
    if (!text) {  // a label element next to it: the previous sibling in its box, a Label or HTML widget
      const prev = el.previousElementSibling;
      if (prev && (prev.classList.contains('widget-label') || prev.classList.contains('widget-html') || prev.classList.contains('widget-htmlmath'))) text = visibleText(prev);
    }
    return text;
  };
  ll.scan = () => {
    const cells = ll.codeCells();
    const out = [];
    cells.forEach((cell, ci) => {
      const node = cell.outputArea.node;
      if (!widgetOutputs(node).length) return;
      node.setAttribute('data-ll-cell', String(ci));
      const seen = new Set(), controls = [];
      for (const el of node.querySelectorAll(SELECTOR)) {
        if ([...seen].some((s) => s.contains(el))) continue;  // the inside of a control already listed
        const c = controlOf(el);
        if (!c) continue;
        seen.add(el);
        const id = `w${ci}-${controls.length}`;
        el.setAttribute('data-ll-id', id);
        const disabled = !!el.querySelector('[disabled]') || el.disabled === true;
        const shown = (c.kind === 'button' || c.kind === 'upload') ? el : (c.kind === 'checkbox' ? el.querySelector('.widget-label-basic')
                                                                          : el.querySelector(':scope > .widget-label'));
        const cuts = (x) => !!x && x.scrollWidth > x.clientWidth + 1;  // the text ends in "…"
        const cut = [shown, ...el.querySelectorAll('.widget-toggle-button')].filter(cuts).map(visibleText);
        controls.push({id, kind: c.kind, label: labelOf(el, c.kind), disabled, cut});
      }
      const images = [];
      for (const img of node.querySelectorAll('img')) {
        if (img.closest('.jp-RenderedImage') && !img.closest('.jupyter-widgets')) continue;  // matplotlib output, not a widget
        const alt = (img.getAttribute('alt') || img.getAttribute('title') || img.getAttribute('aria-label') || '').trim();
        let caption = '';
        const box = img.parentElement;
        if (box) for (const sib of box.children) {
          if (sib !== img && (sib.classList.contains('widget-html') || sib.classList.contains('widget-htmlmath') || sib.classList.contains('widget-label'))) { caption = visibleText(sib); if (caption) break; }
        }
        const empty = !img.getAttribute('src') || (img.complete && img.naturalWidth === 0);  // drawn as a broken picture
        images.push({alt, caption: caption.slice(0, 60), width: img.clientWidth, height: img.clientHeight, empty});
      }
      out.push({cell: ci, controls, images, source: cell.model.sharedModel.getSource().split('\n').slice(-1)[0].slice(0, 60)});
    });
    return out;
  };
  // A fingerprint of what a cell's widgets show: pictures, HTML texts and Output widgets (not the controls).
  ll.fingerprint = (ci) => {
    const node = document.querySelector(`[data-ll-cell="${ci}"]`);
    if (!node) return null;
    const parts = [];
    for (const img of node.querySelectorAll('.jupyter-widgets img, .widget-image')) parts.push('img:' + (img.getAttribute('src') || ''));
    for (const el of node.querySelectorAll('.widget-html-content, .widget-htmlmath-content')) parts.push('html:' + el.innerHTML);
    for (const el of node.querySelectorAll('.widget-output')) parts.push('out:' + visibleText(el));
    const warnings = [...node.querySelectorAll('.widget-html-content')].map(visibleText).filter((t) => t.startsWith('⚠'));
    return {hash: hash(parts.join('\u0001')), warnings};
  };
  ll.state = (id) => {
    const el = document.querySelector(`[data-ll-id="${id}"]`);
    if (!el) return null;
    const handle = el.querySelector('.noUi-handle');
    const select = el.querySelector('select');
    const input = el.querySelector('input, textarea');
    return {
      now: handle ? Number(handle.getAttribute('aria-valuenow')) : null,
      min: handle ? Number(handle.getAttribute('aria-valuemin')) : null,
      options: select ? select.options.length : null,
      selected: select ? select.selectedIndex : null,
      value: input ? input.value : null,
      toggles: [...el.querySelectorAll('.widget-toggle-button')].map((b) => b.classList.contains('mod-active')),
      radios: [...el.querySelectorAll('input[type=radio]')].map((r) => r.checked),
    };
  };
  ll.close = async () => {
    const panel = ll.panel;
    if (!panel) return;
    ll.panel = null;
    try { await panel.sessionContext.shutdown(); } catch (e) { /* the kernel may be gone already */ }
    panel.context.model.dirty = false;
    panel.dispose();
  };
  window.__ll = ll;
  return true;
}
"""


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


# Console errors that are JupyterLab's own, not the course's, to leave out of the reports. None so far
# (JupyterLab 4.6 with news and update checks off logs no error while it opens and runs the lessons).
IGNORED_CONSOLE: tuple[re.Pattern, ...] = ()


def attach_console(page) -> list[str]:
    """Collect the page's console errors and uncaught exceptions into a list (returned, and kept on the page)."""
    messages: list[str] = []

    def on_console(msg):
        if msg.type == "error" and not any(p.search(msg.text) for p in IGNORED_CONSOLE):
            where = msg.location.get("url", "") if isinstance(msg.location, dict) else ""
            messages.append(f"{msg.text[:500]}" + (f" ({where})" if where else ""))

    page.on("console", on_console)
    page.on("pageerror", lambda err: messages.append(f"uncaught: {str(err)[:500]}"))
    page._latentlab_console = messages
    return messages


def open_lab(page, server: LabServer, timeout_s: float = 180.0) -> None:
    """Load JupyterLab in `page` and install the driver's helpers."""
    if not hasattr(page, "_latentlab_console"):
        attach_console(page)
    page.goto(server.lab_url(), wait_until="domcontentloaded", timeout=timeout_s * 1000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started !== undefined",
                           timeout=timeout_s * 1000)
    page.evaluate("() => window.jupyterapp.started")
    page.wait_for_selector("#jp-main-dock-panel", timeout=timeout_s * 1000)
    page.evaluate(PAGE_JS)
    page._latentlab_server = server


def _slug(text: str, limit: int = 24) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:limit] or "control"


def _lang_of(relative: str) -> str:
    from .i18n import DEFAULT, LANGUAGES

    first = Path(relative).parts[0] if Path(relative).parts else ""
    return first if first in LANGUAGES and first != DEFAULT else DEFAULT


def _upload_file(folder: Path) -> Path:
    """A small photo (PNG) to give upload buttons."""
    path = folder / "upload-test.png"
    if not path.exists():
        from PIL import Image

        from .images import bundled_photo, square_photo

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
    _wait_kernel_idle(page, 120.0)
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
        _wait_kernel_idle(page, 60.0)
        cells = _wait_widgets_shown(page, 30.0)
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
        report.kernel_cpu_seconds = kernel_cpu_seconds(handle.kernel_id)
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


def kernel_cpu_seconds(kernel_id: str) -> float:
    """CPU seconds (user + system) the kernel `kernel_id` has used so far, found by its connection file
    in /proc (Linux); 0.0 when it cannot be found."""
    if not kernel_id:
        return 0.0
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return 0.0
    for entry in entries:
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if f"kernel-{kernel_id}".encode() not in handle.read():
                    continue
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return 0.0


def _wait_kernel_idle(page, timeout_s: float, quiet_ms: int = 300) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        kernel = page.evaluate("() => window.__ll.kernel()")
        if kernel["status"] == "idle" and kernel["quiet"] >= quiet_ms:
            return True
        time.sleep(0.1)
    return False


def _wait_widgets_shown(page, timeout_s: float) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        cells = page.evaluate("() => window.__ll.cells()")
        if not any(c["pending"] for c in cells) or time.monotonic() > deadline:
            return cells
        time.sleep(0.2)


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


def _shot(page, cell: int, path: Path, selector: str = "") -> float:
    """A screenshot of the cell's output area, or of `selector` inside it, cropped to it → the seconds it took.
    JupyterLab scrolls the notebook inside a window-sized panel, so a widget taller than that panel is
    shot with the window made tall enough for it for a moment."""
    start = time.monotonic()
    element = page.locator(f'[data-ll-cell="{cell}"] {selector}'.strip()).first
    viewport = page.viewport_size
    box = element.bounding_box()
    grown = box is not None and viewport is not None and box["height"] > viewport["height"] - 250
    if grown:
        page.set_viewport_size({"width": viewport["width"], "height": int(box["height"]) + 300})
    try:
        element.scroll_into_view_if_needed(timeout=10_000)
        element.screenshot(path=str(path), animations="disabled", timeout=30_000)
    finally:
        if grown:
            page.set_viewport_size(viewport)
    return time.monotonic() - start


def _drive_widget(page, report: NotebookReport, stem: str, w: int, widget: dict, shots: Path,
                  timeout_s: float, lang: str, screenshots: bool) -> None:
    from playwright.sync_api import Error as PlaywrightError

    cell = widget["cell"]
    previous_shot: Path | None = None
    if screenshots:
        previous_shot = shots / f"{stem}_w{w}_initial.png"
        report.shot_seconds += _shot(page, cell, previous_shot)
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
            report.shot_seconds += _shot(page, cell, after_path)
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


# --- python -m latentlab.browser screenshots -----------------------------------------------------------------

def _picture_notebook(folder: Path) -> Path:
    """A scratch notebook showing the README's four widgets as the lessons build them (full settings)."""
    import nbformat

    sources = (
        "from latentlab.data import HELD_OUT_PHOTO\n"
        "from latentlab.widgets.compression import CompressionApp\n"
        "app = CompressionApp(photo=HELD_OUT_PHOTO, size=256)\napp.safe_render()\napp",
        "from latentlab.widgets.channels import ChannelsApp\n"
        "app = ChannelsApp('vae-f8c4', photo=HELD_OUT_PHOTO, size=256)\napp.safe_render()\napp",
        "from latentlab.widgets.cross_attention import CrossAttentionApp\n"
        "app = CrossAttentionApp('ldm-shapes', prompt='a red circle, top left, and a blue star, bottom right, "
        "on a white background')\napp.safe_render()\napp",
        "from latentlab.widgets.trajectory import TrajectoryApp\n"
        "app = TrajectoryApp('ldm-shapes')\napp.safe_render()\napp.controls['step'].value = 12\napp",
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "readme_pictures.ipynb"
    nbformat.write(nb, path)
    return path


PICTURE_NAMES = ("compression-explorer.png", "channel-viewer.png", "cross-attention-maps.png", "trajectory-player.png")


def _small_png(source: Path, target: Path, width: int = 760, colours: int = 96) -> int:
    """Crop-to-widget screenshot → a small palette PNG at most `width` px wide; → bytes written."""
    from PIL import Image, ImageChops

    image = Image.open(source).convert("RGB")
    background = Image.new("RGB", image.size, image.getpixel((0, 0)))
    box = ImageChops.difference(image, background).getbbox()  # trim the empty margin right and below
    if box:
        image = image.crop((0, 0, min(image.width, box[2] + 8), min(image.height, box[3] + 8)))
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image = image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    image.save(target, optimize=True)
    return target.stat().st_size


def make_screenshots(out: Path = SCREENSHOTS) -> list[Path]:
    """Regenerate docs/screenshots/*.png: the README's four widgets, rendered by JupyterLab in Chromium
    from a scratch notebook (kernels with LATENTLAB_FAST unset: the pictures show the full settings)."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="latentlab-pictures-") as tmp:
        tmp = Path(tmp)
        notebook = _picture_notebook(tmp)
        with LabServer(tmp, env={"LATENTLAB_FAST": "0"}) as server, sync_playwright() as p:
            browser = launch_browser(p)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                open_lab(page, server)
                page.evaluate("(p) => window.__ll.open(p)", notebook.name)
                _wait_kernel_idle(page, 120.0)
                page.evaluate("() => window.__ll.runAll()")
                page.wait_for_function("() => window.__ll.run.done", timeout=600_000, polling=500)
                _wait_kernel_idle(page, 60.0)
                cells = _wait_widgets_shown(page, 60.0)
                problems = [e for cell in cells for e in cell["errors"] + cell["broken"]]
                if problems:
                    raise RuntimeError("the widgets did not render: " + "; ".join(problems))
                page.evaluate("() => window.__ll.scan()")  # tags each cell's output area
                page.wait_for_timeout(500)
                for cell, name in enumerate(PICTURE_NAMES):
                    raw = tmp / f"raw-{name}"
                    _shot(page, cell, raw, ".jp-OutputArea-output > .jupyter-widgets")
                    target = out / name
                    size = _small_png(raw, target)
                    print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}: {size // 1024} KB")
                    written.append(target)
                page.evaluate("() => window.__ll.close()")
            finally:
                browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["screenshots"]:
        print("usage: python -m latentlab.browser screenshots   (regenerates docs/screenshots/*.png)", file=sys.stderr)
        return 2
    try:
        check_playwright()
        find_chromium()
    except BrowserMissing as err:
        print(f"latentlab.browser: {err}", file=sys.stderr)
        return 1
    written = make_screenshots()
    total = sum(p.stat().st_size for p in written)
    print(f"{len(written)} pictures, {total // 1024} KB in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
