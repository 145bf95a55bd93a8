"""`python -m latentlab.browser screenshots`: the README's widget pictures, into docs/screenshots/.

A scratch notebook builds the four widgets as the lessons do (full settings: LATENTLAB_FAST=0),
JupyterLab renders them in Chromium, and each is shot, trimmed and saved as a small palette PNG."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from .page import (
    BrowserMissing,
    check_playwright,
    find_chromium,
    launch_browser,
    open_lab,
    screenshot_cell,
    wait_kernel_idle,
    wait_widgets_shown,
)
from .server import ROOT, LabServer

SCREENSHOTS = ROOT / "docs" / "screenshots"


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
                wait_kernel_idle(page, 120.0)
                page.evaluate("() => window.__ll.runAll()")
                page.wait_for_function("() => window.__ll.run.done", timeout=600_000, polling=500)
                wait_kernel_idle(page, 60.0)
                cells = wait_widgets_shown(page, 60.0)
                problems = [e for cell in cells for e in cell["errors"] + cell["broken"]]
                if problems:
                    raise RuntimeError("the widgets did not render: " + "; ".join(problems))
                page.evaluate("() => window.__ll.scan()")  # tags each cell's output area
                page.wait_for_timeout(500)
                for cell, name in enumerate(PICTURE_NAMES):
                    raw = tmp / f"raw-{name}"
                    screenshot_cell(page, cell, raw, ".jp-OutputArea-output > .jupyter-widgets")
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
