"""The course as a student sees it: JupyterLab in a real browser (Chromium driven by Playwright).

    LabServer(root)                       JupyterLab on 127.0.0.1, a free port, a random token; kernels get
                                          LATENTLAB_FAST=1 and OMP_NUM_THREADS=1; `with` stops it and its kernels
    open_lab(page, server)                load JupyterLab in a Playwright page (once per page)
    drive_notebook(page, path, shots)     open a notebook, run every cell, then touch every widget control one
                                          by one and check that the widget's output changed → NotebookReport
    start_notebook / finish_notebook      the same in two halves: the cells of one notebook run (in its page's
                                          kernel) while another page's widgets are driven
    widget_code_differs(student, solution)   whether a solution notebook's widgets can differ from the student's
    cpu_seconds()                         CPU seconds of this process tree (server, kernels, browser), from /proc
    python -m latentlab.browser screenshots   the README's widget pictures, into docs/screenshots/

Used by tests/test_browser.py (one server and one browser for every lesson) and by the command above.
Playwright's own browser download is not needed: the driver launches the system's Chromium
(LATENTLAB_CHROMIUM, else chromium / chromium-browser / google-chrome on the PATH).

The package, one concern per module:

    server.py       the JupyterLab server (ports, tokens, read-only contents, shutdown) and /proc CPU accounting
    page.py         Chromium through Playwright and the JupyterLab page: the helpers installed in it (PAGE_JS),
                    console errors, waiting for the kernel and the widgets, a cell's screenshot
    drive.py        a notebook run and its widgets driven control by control (what "touch" means for each kind)
    report.py       ControlResult and NotebookReport: what the driving found
    screenshots.py  `python -m latentlab.browser screenshots`
"""

from .drive import (
    PROMPTS,
    NotebookRun,
    close_notebook,
    drive_notebook,
    finish_notebook,
    start_notebook,
    widget_code_differs,
)
from .page import BrowserMissing, attach_console, check_playwright, find_chromium, launch_browser, open_lab
from .report import ControlResult, NotebookReport
from .screenshots import PICTURE_NAMES, SCREENSHOTS, main, make_screenshots
from .server import NOTEBOOKS, ROOT, LabServer, cpu_seconds

__all__ = [
    "NOTEBOOKS", "PICTURE_NAMES", "PROMPTS", "ROOT", "SCREENSHOTS", "BrowserMissing", "ControlResult", "LabServer",
    "NotebookReport", "NotebookRun", "attach_console", "check_playwright", "close_notebook", "cpu_seconds",
    "drive_notebook", "find_chromium", "finish_notebook", "launch_browser", "main", "make_screenshots", "open_lab",
    "start_notebook", "widget_code_differs",
]
