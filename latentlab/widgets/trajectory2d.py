"""Trajectory explorer (lesson 05): a cloud of particles flowing from noise to data, four samplers
side by side.

The data is a 2-D mixture of three Gaussian blobs whose optimal denoiser is exact
(`latentlab.samplers.exact`), so every difference you see is the *sampler's*. All four samplers
start from the same noise (same seed). Particles are coloured by the blob they end in, so you can
watch where the choice is made. The step slider (with Play) scrubs through the stored
trajectories; it only redraws, because every trajectory is computed once per seed/steps change.

    app = Trajectory2DApp()
    app.controls["step"].value = 10; app.render()["t"]

Drawing: points are rasterised into a small numpy image per panel and shown as one PNG
(a few milliseconds), rather than a matplotlib figure (about a hundred).
"""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np
import torch
from PIL import Image, ImageDraw

from ..i18n import tr
from ..pipeline import Trajectory, sample
from ..samplers import SAMPLERS, make_sampler
from ..samplers.exact import GaussianMixture
from ..schedules import NoiseSchedule
from .kit import App, choices, png

PANEL = 180          # pixels per panel side: four panels fit a laptop screen side by side
LIMIT = 3.5          # the panels show [−LIMIT, LIMIT]²: N(0, I) noise and the blobs (radius 2) fit
# One colour per blob (the final assignment of each particle), on a white background.
BLOB_COLOURS = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44]], dtype=np.uint8)


def rasterise(points: np.ndarray, colours: np.ndarray, size: int = PANEL, limit: float = LIMIT,
              background: np.ndarray | None = None) -> np.ndarray:
    """Draw (n, 2) points as 2×2-pixel dots of the given (n, 3) uint8 colours → (size, size, 3) uint8.

    y points up as in a plot. Points outside [−limit, limit]² are left out.
    """
    image = np.full((size, size, 3), 255, np.uint8) if background is None else background.copy()
    pixels = ((points + limit) / (2 * limit) * (size - 2)).round().astype(np.int64)  # (n, 2) in [0, size-2]
    inside = ((pixels >= 0) & (pixels <= size - 2)).all(axis=1)
    col, row = pixels[inside, 0], (size - 2) - pixels[inside, 1]
    colours = colours[inside]
    for dr in (0, 1):
        for dc in (0, 1):
            image[row + dr, col + dc] = colours
    return image


def _data_background(data: GaussianMixture, size: int = PANEL, limit: float = LIMIT) -> np.ndarray:
    """Faint circles at 1 and 2 standard deviations of each blob, and axes: where the data is."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    scale = (size - 2) / (2 * limit)
    centre = (size - 2) / 2
    draw.line([(centre, 0), (centre, size)], fill=(235, 235, 235))
    draw.line([(0, centre), (size, centre)], fill=(235, 235, 235))
    for (x, y), s, colour in zip(data.means.tolist(), data.stds.tolist(), BLOB_COLOURS.tolist()):
        cx, cy = centre + x * scale, centre - y * scale
        light = tuple(int(255 - (255 - c) * 0.35) for c in colour)
        for k in (1, 2):
            r = k * s * scale
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=light)
    return np.array(image)


class Trajectory2DApp(App):
    """DDPM vs DDIM vs Euler vs DPM++ 2M on the three-blob mixture, at one seed."""

    def __init__(self, particles: int = 600, steps: int = 20, seed: int = 0,
                 schedule: NoiseSchedule | None = None, samplers: tuple[str, ...] = tuple(SAMPLERS)):
        super().__init__()
        self.data = GaussianMixture.three_blobs()
        self.schedule = schedule or NoiseSchedule.from_name("scaled_linear")
        self.sampler_names = samplers
        self.particles = particles
        self.background = _data_background(self.data)
        self._cache_key = None
        self.trajectories: dict[str, Trajectory] = {}

        self.controls = {
            "seed": W.BoundedIntText(value=seed, min=0, max=10_000, description=tr("seed")),
            "steps": W.IntSlider(value=steps, min=2, max=100, description=tr("steps"), continuous_update=False),
            "step": W.IntSlider(value=0, min=0, max=steps, description=tr("step")),
            "show": W.ToggleButtons(options=choices([(tr("x_t (the model's input)"), "x_t"),
                                                     (tr("x̂0 (its guess)"), "pred_x0")]),
                                    value="x_t", description=tr("show")),
        }
        self.play = W.Play(value=0, min=0, max=steps, step=1, interval=250,
                           tooltip=tr("play the steps"))
        W.jslink((self.play, "value"), (self.controls["step"], "value"))
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.table = W.HTML()
        self.widget = W.VBox([
            W.HBox([self.controls["seed"], self.controls["steps"]]),
            W.HBox([self.play, self.controls["step"]]),
            self.controls["show"], self.image, self.table, self.status,
        ])
        self.observe_all()

    # -- the expensive part: once per (seed, steps) -------------------------------------------

    def _compute(self, seed: int, steps: int) -> None:
        model = self.data.denoiser(self.schedule)
        self.trajectories = {}
        for name in self.sampler_names:
            sampler = make_sampler(name, self.schedule)
            generator = torch.Generator().manual_seed(seed)  # same noise for every sampler
            self.trajectories[name] = sample(model, sampler, latent_shape=(self.particles, 2), steps=steps,
                                             generator=generator)
        # colour each particle by the blob it ends in (per sampler: they may disagree!)
        self.colours = {name: BLOB_COLOURS[self.data.assign(traj.sample).numpy()]
                        for name, traj in self.trajectories.items()}
        # frames as numpy arrays once, so the slider does no tensor work
        self.frames = {name: {"x_t": [x.numpy() for x in traj.x_t] + [traj.sample.numpy()],
                              "pred_x0": [x.numpy() for x in traj.pred_x0] + [traj.sample.numpy()]}
                       for name, traj in self.trajectories.items()}
        weights = {name: (torch.bincount(self.data.assign(traj.sample), minlength=3).double() / self.particles)
                   for name, traj in self.trajectories.items()}
        self.weights = {name: w.tolist() for name, w in weights.items()}
        self.table.value = self._table_html()
        self._cache_key = (seed, steps)

    def _table_html(self) -> str:
        target = ", ".join(f"{w:.2f}" for w in self.data.weights.tolist())
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{traj.model_calls}</td><td>{traj.seconds * 1000:.0f} ms</td>"
            f"<td>{', '.join(f'{w:.2f}' for w in self.weights[name])}</td></tr>"
            for name, traj in self.trajectories.items())
        head = "".join(f"<th>{t}</th>" for t in (
            tr("sampler"), tr("model calls"), tr("time"),
            tr("blob weights at the end (data: {target})").format(target=target)))
        return f"<table><tr>{head}</tr>{rows}</table>"

    # -- the cheap part: every slider move --------------------------------------------------

    def render(self) -> dict:
        seed, steps = int(self.controls["seed"].value), int(self.controls["steps"].value)
        if self._cache_key != (seed, steps):
            self._compute(seed, steps)  # before touching the slider: a clamped value re-renders
            self.controls["step"].max = steps
            self.play.max = steps
        k = min(int(self.controls["step"].value), steps)
        show = self.controls["show"].value
        panels = []
        for name in self.sampler_names:
            panel = Image.fromarray(rasterise(self.frames[name][show][k], self.colours[name],
                                              background=self.background))
            ImageDraw.Draw(panel).text((4, 2), name, fill=(0, 0, 0))
            panels.append(np.array(panel))
        gap = np.full((PANEL, 4, 3), 255, np.uint8)
        strip = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
        self.image.value = png(strip)
        first = next(iter(self.trajectories.values()))
        t = first.timesteps[k] if k < steps else None
        return {"step": k, "t": t, "show": show,
                "model_calls": {name: traj.model_calls for name, traj in self.trajectories.items()},
                "final_weights": self.weights}

    @classmethod
    def for_bench(cls, size: int) -> Trajectory2DApp:
        """The default app, its trajectories computed (no photo: `size` does not apply)."""
        app = cls()
        app.render()
        return app

    def bench_step(self, i: int) -> None:
        """A student dragging the step slider (or Play running): one redraw, no sampling."""
        steps = int(self.controls["steps"].value)
        self.controls["step"].value = (i * 3) % (steps + 1)


__all__ = ["Trajectory2DApp", "rasterise"]
