"""Every notebook of the course (and every solution) executes headless, top to bottom, without error.

LATENTLAB_FAST=1 tells notebooks to shorten their long cells (live training, big sweeps).
LATENTLAB_LANG picks the edition executed: English by default, `LATENTLAB_LANG=es ./course test` runs
the Spanish notebooks (notebooks/es/) instead, with the kernels speaking Spanish.
"""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from latentlab.i18n import LANGUAGES, language, tr
from latentlab.lessons import LESSONS, lesson_notebooks
from latentlab.lessons.build import language_folder

ROOT = Path(__file__).resolve().parent.parent
LANG = language()
# The lessons manifest says which notebooks exist; a lesson added there is executed here with no other edit.
NOTEBOOKS = lesson_notebooks(LESSONS, language_folder(ROOT / "notebooks", LANG))

def _browser_drives_students() -> bool:
    """True when tests/test_browser.py will run (Chromium and Playwright present): it runs every student
    notebook's cells in JupyterLab with the same error checks, so running them here again is skipped."""
    from latentlab import browser

    try:
        browser.check_playwright()
        browser.find_chromium()
    except browser.BrowserMissing:
        return False
    return os.environ.get("LATENTLAB_NO_BROWSER") != "1"


BROWSER = _browser_drives_students()
EVERY_EDITION = {p for lang in LANGUAGES for p in lesson_notebooks(LESSONS, language_folder(ROOT / "notebooks", lang))}


def test_every_lesson_of_the_manifest_has_its_notebook_in_every_language():
    for lang in LANGUAGES:
        for lesson in LESSONS:
            path = language_folder(ROOT / "notebooks", lang) / f"{lesson.stem}.ipynb"
            assert path.is_file(), f"{path}: run `latentlab lessons build`"


def test_no_notebook_outside_the_manifest():
    on_disk = {p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts}
    assert on_disk == EVERY_EDITION, f"notebooks no lesson generates: {sorted(on_disk - EVERY_EDITION)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "notebooks")) for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{path.name}: strip outputs before committing"
            assert cell.get("execution_count") is None, f"{path.name}: strip execution counts before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "notebooks")) for p in NOTEBOOKS])
def test_notebook_executes(path):
    if BROWSER and path.parent.name != "solutions":
        pytest.skip("executed in JupyterLab by tests/test_browser.py, with the same checks and its widgets driven "
                    "(LATENTLAB_NO_BROWSER=1 runs it here instead)")
    nb = nbformat.read(path, as_version=4)
    env_before = dict(os.environ)
    os.environ["LATENTLAB_FAST"] = "1"
    os.environ["LATENTLAB_LANG"] = LANG
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    # A student must never see a traceback from the course's machinery.
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", f"{path.name}: {output.get('ename')}: {output.get('evalue')}"
            if output.get("name") == "stderr":
                assert "Traceback" not in output.get("text", ""), f"{path.name}: a traceback was printed"
    # Every reference solution, run with the notebook's own defaults, passes its checker.
    if path.parent.name == "solutions":
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
                unwritten = tr("not written yet", LANG)
                assert "❌" not in text and unwritten not in text, f"{path.name}: a solution fails: {text[:300]}"
