"""JupyterLab in Chromium: the browser launched through Playwright, and the page it shows made
drivable.

    launch_browser(playwright)      the system's Chromium, headless (LATENTLAB_CHROMIUM, else chromium /
                                    chromium-browser / google-chrome on the PATH; Playwright's own browser
                                    download is not needed)
    open_lab(page, server)          load JupyterLab in a page and install PAGE_JS's helpers (window.__ll)
    attach_console(page)            collect the page's console errors
    wait_kernel_idle, wait_widgets_shown, screenshot_cell   what drive.py and screenshots.py wait for and shoot
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from .server import LabServer


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


# --- waiting for the page, and pictures of it ----------------------------------------------------------------

def wait_kernel_idle(page, timeout_s: float, quiet_ms: int = 300) -> bool:
    """Wait until the page's notebook kernel is idle and has been for `quiet_ms` (→ True), at most timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        kernel = page.evaluate("() => window.__ll.kernel()")
        if kernel["status"] == "idle" and kernel["quiet"] >= quiet_ms:
            return True
        time.sleep(0.1)
    return False


def wait_widgets_shown(page, timeout_s: float) -> list[dict]:
    """Wait until every widget the cells' outputs hold is drawn (at most timeout_s) → window.__ll.cells()."""
    deadline = time.monotonic() + timeout_s
    while True:
        cells = page.evaluate("() => window.__ll.cells()")
        if not any(c["pending"] for c in cells) or time.monotonic() > deadline:
            return cells
        time.sleep(0.2)



def screenshot_cell(page, cell: int, path: Path, selector: str = "") -> float:
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
