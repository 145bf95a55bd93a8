"""Denoising trajectory player (lesson 05): the trained text-to-image model turns noise into a picture.

One sampling run per (prompt, seed, sampler, steps, CFG) keeps every step's model input x_t and
predicted clean latent x̂0 (`pipeline.Trajectory`). The final picture is decoded first, on its own,
so it is on screen as soon as the sampler is done; then every step's x_t and x̂0 go through the VAE
decoder in ONE batched call, and every frame is stored as PNG bytes. Moving the step slider (or
pressing ▶) then only swaps stored pictures: no model call, no VAE call.

    app = TrajectoryApp()                  # "ldm-shapes" and its VAE; or TrajectoryApp(model, vae)
    app.controls["step"].value = 10; app.render()["x_t_norm"]

The plain functions below it are what the lesson and the tests call directly:

    decode_frames(vae, trajectory)            → the x_t and x̂0 pictures of every step, in one VAE call
    compare_samplers(model, vae, prompt, …)   → {sampler: SamplerResult}: same seed, final picture,
                                                model calls, seconds
The lesson's analysis lives with the rest of the package: `pipeline.sample_prompt` (one run, not
decoded), `viz.trajectory_pca`, `viz.principal_components`, `viz.pca_figure`, `viz.norm_figure`.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass

import ipywidgets as W
import numpy as np
import torch
from PIL import Image, ImageDraw

from .. import pipeline
from ..i18n import N_, tr
from ..images import to_uint8
from ..ldm import LatentDiffusion
from ..pipeline import Trajectory, sample_prompt
from ..samplers import FLOW_SAMPLERS, SAMPLERS
from ..vae import AutoencoderKL
from .kit import App, LRUCache, colormap, course_models, png, resolve_pair

DEFAULT_PROMPT = N_("a large red circle on a blue background, center")  # a caption of the training grammar
CACHED_RUNS = 6               # sampling runs kept per app: flip back to a recent setting for free
FRAME_PX = 160                # on-screen side of each picture (the model's pictures are 128 px)
CHANNEL_PX = 48               # on-screen side of each latent channel's heatmap
PLOT_W, PLOT_H = 320, 130     # the norm-over-steps plot, drawn with PIL (a figure would cost ~100 ms)
# compared side by side: the three deterministic ODE solvers next to each other, DDIM (the default) first
COMPARED = ("ddim", "euler", "dpmpp_2m", "ddpm")
X_T_COLOUR, PRED_X0_COLOUR = (31, 119, 180), (255, 127, 14)  # matplotlib's tab:blue and tab:orange


# --- one run: sample, then decode every frame at once ------------------------------------------


@torch.no_grad()
def decode_frames(vae: AutoencoderKL, trajectory: Trajectory) -> dict[str, np.ndarray]:
    """Every step's x_t and x̂0 through the decoder in ONE batched call (one call of 2·steps latents
    costs less than 2·steps calls of one). Only the first picture of a batch is decoded.

    Returns {"x_t": (steps, S, S, 3), "pred_x0": (steps, S, S, 3)}, uint8."""
    n = len(trajectory)
    latents = torch.cat([*(x[:1] for x in trajectory.x_t), *(x[:1] for x in trajectory.pred_x0)])  # (2n, c, h, w)
    device = next(vae.parameters()).device
    pictures = to_uint8(pipeline.decode(vae, latents.to(device)).cpu())  # (2n, S, S, 3)
    return {"x_t": pictures[:n], "pred_x0": pictures[n:]}


def channel_strip(x_t: np.ndarray, pred_x0: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    """The c channels of x_t (top row) and of x̂0 (bottom row) as red-blue heatmaps.

    x_t, pred_x0: (c, h, w); limits: the colour range ±limit of each row (one range per run, so a
    channel that fades while scrubbing really is shrinking). → (2·side + 2, c·(side + 2) − 2, 3) uint8."""
    rows = []
    for latent, limit in zip((x_t, pred_x0), limits):
        c, h, w = latent.shape
        zoom = max(1, CHANNEL_PX // h)
        tiles = [colormap(latent[k], -limit, limit, "RdBu_r").repeat(zoom, axis=0).repeat(zoom, axis=1)
                 for k in range(c)]
        gap = np.full((tiles[0].shape[0], 2, 3), 255, np.uint8)
        rows.append(np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1))
    gap = np.full((2, rows[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([rows[0], gap, rows[1]], axis=0)


def norm_plot(x_t_norms: list[float], pred_x0_norms: list[float], noise_norm: float, step: int,
              width: int = PLOT_W, height: int = PLOT_H) -> np.ndarray:
    """‖x_t‖ (blue) and ‖x̂0‖ (orange) against the step, the norm of pure noise √N (grey dashes) and
    a marker at `step`, drawn with PIL. → (height, width, 3) uint8."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    n = len(x_t_norms)
    top = 1.1 * max(*x_t_norms, *pred_x0_norms, noise_norm)
    left, right, upper, lower = 34, width - 8, 6, height - 16  # the plot's box, in pixels

    def point(k: float, value: float) -> tuple[float, float]:
        return left + (right - left) * k / max(n - 1, 1), lower - (lower - upper) * value / top

    grey = (150, 150, 150)
    draw.line([(left, upper), (left, lower), (right, lower)], fill=grey)
    noise_y = point(0, noise_norm)[1]
    for x in range(left, right, 8):
        draw.line([(x, noise_y), (min(x + 4, right), noise_y)], fill=grey)
    for norms, colour in ((x_t_norms, X_T_COLOUR), (pred_x0_norms, PRED_X0_COLOUR)):
        if n > 1:
            draw.line([point(k, v) for k, v in enumerate(norms)], fill=colour, width=2)
    marker_x = point(step, 0)[0]
    draw.line([(marker_x, upper), (marker_x, lower)], fill=(0, 0, 0))
    for norms, colour in ((x_t_norms, X_T_COLOUR), (pred_x0_norms, PRED_X0_COLOUR)):
        x, y = point(step, norms[step])
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
    draw.text((2, upper), f"{top:.0f}", fill=grey)
    draw.text((2, lower - 10), "0", fill=grey)
    draw.text((left, lower + 3), tr("step 1"), fill=grey)
    draw.text((right - 6 * len(str(n)), lower + 3), str(n), fill=grey)
    return np.array(image)


# --- several runs: samplers side by side, seeds in PCA -------------------------------------------


@dataclass
class SamplerResult:
    """One sampler's run in `compare_samplers`.

    picture: the final picture (S, S, 3) uint8. model_calls: UNet calls (2 per step with CFG ≠ 1).
    seconds: wall time of the sampling loop (the decode not included). trajectory: the whole run."""

    sampler: str
    picture: np.ndarray
    model_calls: int
    seconds: float
    trajectory: Trajectory


def compare_samplers(model: LatentDiffusion, vae: AutoencoderKL, prompt: str, seed: int = 0,
                     steps: int = pipeline.SamplingDefaults.steps, cfg: float = pipeline.SamplingDefaults.cfg,
                     samplers: tuple[str, ...] = COMPARED) -> dict[str, SamplerResult]:
    """Each sampler from the same seed (so the same starting noise) with the same prompt, steps and CFG.

    The final latents are decoded together in one VAE call. → {sampler name: SamplerResult}."""
    trajectories = {name: sample_prompt(model, vae, prompt, seed, name, steps, cfg) for name in samplers}
    finals = torch.cat([trajectory.sample[:1].cpu() for trajectory in trajectories.values()])  # (n, c, h, w)
    device = next(vae.parameters()).device
    pictures = to_uint8(pipeline.decode(vae, finals.to(device)).cpu())  # (n, S, S, 3)
    return {name: SamplerResult(name, picture, trajectory.model_calls, trajectory.seconds, trajectory)
            for (name, trajectory), picture in zip(trajectories.items(), pictures)}


# --- the player ----------------------------------------------------------------------------------


class TrajectoryApp(App):
    """Prompt, seed, sampler, steps and CFG in; x_t and x̂0 decoded at every step, the latent's
    channels and its norm over the steps out. Scrubbing only swaps cached PNGs.

    model: a LatentDiffusion or its name/path; vae: the AutoencoderKL of its latent space, a name/path,
    or None for the one it was trained with (`kit.resolve_pair`). prompt: None means DEFAULT_PROMPT in
    the learner's language."""

    def __init__(self, model="ldm-shapes", vae=None, prompt: str | None = None, seed: int = 0,
                 sampler: str = pipeline.SamplingDefaults.sampler, steps: int = pipeline.SamplingDefaults.steps,
                 cfg: float = pipeline.SamplingDefaults.cfg, max_steps: int = 50):
        super().__init__()
        self.model, self.vae = resolve_pair(model, vae)
        # A rectified-flow model (ldm-shapes-flow, lesson 08) runs the flow samplers; its ODE twin
        # stands in for a diffusion sampler's name (ddim → flow_euler), anything else is refused.
        sampler = pipeline.make_model_sampler(self.model, sampler).name
        sampler_names = list(FLOW_SAMPLERS if self.model.config.is_flow else SAMPLERS)
        prompt = tr(DEFAULT_PROMPT) if prompt is None else prompt
        self.sampling_runs = 0  # how many times the model sampled: a scrub must not add to it
        self._runs = LRUCache(CACHED_RUNS)  # (token ids, seed, sampler, steps, cfg) → frames as PNGs

        self.controls = {
            "prompt": W.Text(value=prompt, description=tr("prompt"), continuous_update=False,
                             layout=W.Layout(width="520px")),
            "seed": W.BoundedIntText(value=seed, min=0, max=2**31 - 1, description=tr("seed"),
                                     layout=W.Layout(width="180px")),
            "sampler": W.Dropdown(options=sampler_names, value=sampler, description=tr("sampler"),
                                  layout=W.Layout(width="200px")),
            "steps": W.IntSlider(value=steps, min=2, max=max_steps, description=tr("steps"), continuous_update=False),
            "cfg": W.FloatSlider(value=cfg, min=1.0, max=10.0, step=0.5, description=tr("CFG"),
                                 continuous_update=False),
            "step": W.IntSlider(value=0, min=0, max=steps - 1, description=tr("step")),
        }
        self.play = W.Play(value=0, min=0, max=steps - 1, step=1, interval=300,
                           tooltip=tr("play the steps"))
        W.jslink((self.play, "value"), (self.controls["step"], "value"))  # ▶ moves the slider in the browser

        square = W.Layout(width=f"{FRAME_PX}px", height=f"{FRAME_PX}px")
        self.x_t_image, self.pred_x0_image, self.final_image = (W.Image(format="png", layout=square)
                                                                for _ in range(3))
        self.channels_image, self.norm_image = W.Image(format="png"), W.Image(format="png")
        self.titles = [W.HTML() for _ in range(3)]
        pictures = [W.VBox([title, image]) for title, image in
                    zip(self.titles, (self.x_t_image, self.pred_x0_image, self.final_image))]
        self.summary = W.HTML()
        self.widget = W.VBox([
            W.HBox([self.controls["prompt"], self.controls["seed"]]),
            W.HBox([self.controls["sampler"], self.controls["steps"], self.controls["cfg"]]),
            W.HBox([self.play, self.controls["step"]]),
            W.HBox(pictures),
            W.HBox([
                W.VBox([W.HTML(tr("<b>latent channels at this step</b> (top: x_t, bottom: x̂0; red +, blue −)")),
                        self.channels_image], layout=W.Layout(margin="0 16px 0 0")),
                W.VBox([W.HTML(tr("<b>norm over the steps</b>: {x_t}, {pred_x0}, {noise}").format(
                    x_t=f"<span style='color:rgb{X_T_COLOUR}'>‖x_t‖</span>",
                    pred_x0=f"<span style='color:rgb{PRED_X0_COLOUR}'>‖x̂0‖</span>",
                    noise="<span style='color:grey'>- - {}</span>".format(tr("pure noise √N")))), self.norm_image]),
            ]),
            self.summary, self.status,
        ])
        self.observe_all()

    def _ipython_display_(self):
        if not len(self._runs):  # the first look shows pictures, not empty frames
            self.safe_render()
        super()._ipython_display_()

    # --- the expensive part: once per (prompt, seed, sampler, steps, cfg) ------------------------

    def run(self) -> dict:
        """The current setting's run with every frame as PNG bytes; sampled and decoded on first use."""
        c = self.controls
        prompt, seed, sampler = c["prompt"].value, int(c["seed"].value), c["sampler"].value
        steps, cfg = int(c["steps"].value), float(c["cfg"].value)
        ids = tuple(self.model.tokenizer(prompt)[0].tolist())  # unknown words raise here, before sampling
        key = (ids, seed, sampler, steps, cfg)  # "A red circle." and "a red circle" share a run
        return self._runs.get(key, lambda: self._sample_and_decode(prompt, seed, sampler, steps, cfg))

    def _sample_and_decode(self, prompt: str, seed: int, sampler: str, steps: int, cfg: float) -> dict:
        start = time.perf_counter()
        trajectory = sample_prompt(self.model, self.vae, prompt, seed, sampler, steps, cfg)
        self.sampling_runs += 1
        # The final picture first, alone (1/(2·steps) of the frames' decode): it is on screen while
        # the frames decode, so a new setting shows its picture as soon as the sampler is done.
        device = next(self.vae.parameters()).device
        final_png = png(to_uint8(pipeline.decode(self.vae, trajectory.sample[:1].to(device)).cpu())[0])
        self.final_image.value = final_png
        picture_seconds = time.perf_counter() - start
        frames = decode_frames(self.vae, trajectory)
        decode_seconds = time.perf_counter() - start - picture_seconds

        x_t = torch.stack([x[0] for x in trajectory.x_t])  # (steps, c, h, w)
        pred_x0 = torch.stack([x[0] for x in trajectory.pred_x0])  # (steps, c, h, w)
        x_t_norms = x_t.flatten(1).norm(dim=1).tolist()
        pred_x0_norms = pred_x0.flatten(1).norm(dim=1).tolist()
        noise_norm = x_t[0].numel() ** 0.5  # E‖ε‖ ≈ √N for N values of unit variance
        # one colour range per row for the whole run (99th percentile: an outlier does not wash it out)
        limits = tuple(float(v.abs().flatten().quantile(0.99).clamp_min(1e-6)) for v in (x_t, pred_x0))
        return {
            "prompt": prompt, "trajectory": trajectory, "picture_seconds": picture_seconds,
            "decode_seconds": decode_seconds,
            "x_t_norms": x_t_norms, "pred_x0_norms": pred_x0_norms, "noise_norm": noise_norm,
            "x_t_png": [png(picture) for picture in frames["x_t"]],
            "pred_x0_png": [png(picture) for picture in frames["pred_x0"]],
            "final_png": final_png,
            "channels_png": [png(channel_strip(x_t[k].numpy(), pred_x0[k].numpy(), limits)) for k in range(steps)],
            "norm_png": [png(norm_plot(x_t_norms, pred_x0_norms, noise_norm, k)) for k in range(steps)],
        }

    # --- the cheap part: every slider move -------------------------------------------------------

    def render(self) -> dict:
        """Sample and decode if the setting is new, then show the frames of `step`. Returns the numbers shown:

        {"prompt", "seed", "sampler", "steps", "cfg", "step", "t", "x_t_norm", "pred_x0_norm",
         "noise_norm" (√N), "model_calls", and for the run shown: "sample_ms" (the sampling loop),
         "picture_ms" (from the setting to its final picture on screen: prompt, loop, one decode),
         "decode_ms" (every frame, one VAE call); "frames" (cached frames of the run = steps),
         "sampling_runs" (runs sampled by this app so far)}"""
        run = self.run()
        trajectory: Trajectory = run["trajectory"]
        steps = len(trajectory)
        if self.controls["step"].max != steps - 1:  # after sampling: a clamped slider re-renders from the cache
            self.controls["step"].max = self.play.max = steps - 1
        k = min(int(self.controls["step"].value), steps - 1)

        self.x_t_image.value = run["x_t_png"][k]
        self.pred_x0_image.value = run["pred_x0_png"][k]
        self.final_image.value = run["final_png"]
        self.channels_image.value = run["channels_png"][k]
        self.norm_image.value = run["norm_png"][k]
        t = trajectory.timesteps[k]
        self.titles[0].value = tr("<b>x_t decoded</b> (step {step}/{steps}, t = {t:.0f})").format(
            step=k + 1, steps=steps, t=t)
        self.titles[1].value = tr("<b>x̂0 decoded</b> (the model's guess)")
        self.titles[2].value = "<b>{}</b>".format(tr("final picture"))
        cfg = float(self.controls["cfg"].value)
        calls = tr("{calls} model calls ({per_step})").format(
            calls=trajectory.model_calls, per_step=tr("2 per step: CFG") if cfg != 1 else tr("1 per step"))
        self.summary.value = tr(
            "‖x_t‖ = {x_t:.1f}, ‖x̂0‖ = {pred_x0:.1f} (pure noise: √N = {noise:.1f}). This run: {calls} in "
            "{sample_ms:.0f} ms, the final picture on screen after {picture_ms:.0f} ms; then {frames} frames decoded "
            "in one VAE call in {decode_ms:.0f} ms. Scrubbing replays these: no model or VAE call. "
            "Prompt: <i>{prompt}</i>").format(
            x_t=run["x_t_norms"][k], pred_x0=run["pred_x0_norms"][k], noise=run["noise_norm"], calls=calls,
            sample_ms=1000 * trajectory.seconds, picture_ms=1000 * run["picture_seconds"], frames=2 * steps,
            decode_ms=1000 * run["decode_seconds"], prompt=html.escape(run["prompt"]))
        return {"prompt": run["prompt"], "seed": int(self.controls["seed"].value),
                "sampler": self.controls["sampler"].value, "steps": steps, "cfg": cfg, "step": k, "t": t,
                "x_t_norm": run["x_t_norms"][k], "pred_x0_norm": run["pred_x0_norms"][k],
                "noise_norm": run["noise_norm"], "model_calls": trajectory.model_calls,
                "sample_ms": 1000 * trajectory.seconds, "picture_ms": 1000 * run["picture_seconds"],
                "decode_ms": 1000 * run["decode_seconds"],
                "frames": len(run["x_t_png"]), "sampling_runs": self.sampling_runs}

    @classmethod
    def for_bench(cls, size: int) -> TrajectoryApp:
        """The shipped models (or untrained twins, same cost), one 20-step run sampled and decoded;
        bench_step then scrubs the cached frames. The pictures are the model's size (`size` does not apply)."""
        app = cls(*course_models())
        app.render()
        return app

    def bench_step(self, i: int) -> None:
        """A student scrubbing the step slider (the run is cached: pictures are swapped, nothing sampled)."""
        slider = self.controls["step"]
        steps = slider.max + 1
        new = (7 * i + 3) % steps
        slider.value = new if new != slider.value else (new + 1) % steps


# --- samplers side by side -----------------------------------------------------------------------


class SamplerComparisonApp(App):
    """Every sampler from the same seed: the final pictures, model calls, seconds, and how far each
    picture is from the first sampler's (mean |difference| in 0–255 levels). prompt: None means
    DEFAULT_PROMPT in the learner's language."""

    def __init__(self, model="ldm-shapes", vae=None, prompt: str | None = None, seed: int = 0,
                 steps: int = pipeline.SamplingDefaults.steps, cfg: float = pipeline.SamplingDefaults.cfg,
                 samplers: tuple[str, ...] = COMPARED):
        super().__init__()
        self.model, self.vae = resolve_pair(model, vae)
        prompt = tr(DEFAULT_PROMPT) if prompt is None else prompt
        self.samplers = tuple(samplers)
        self._cache: tuple | None = None  # (key, results): the last comparison only
        self.controls = {
            "prompt": W.Text(value=prompt, description=tr("prompt"), continuous_update=False,
                             layout=W.Layout(width="520px")),
            "seed": W.BoundedIntText(value=seed, min=0, max=2**31 - 1, description=tr("seed"),
                                     layout=W.Layout(width="180px")),
            "steps": W.IntSlider(value=steps, min=2, max=50, description=tr("steps"), continuous_update=False),
            "cfg": W.FloatSlider(value=cfg, min=1.0, max=10.0, step=0.5, description=tr("CFG"),
                                 continuous_update=False),
        }
        square = W.Layout(width=f"{FRAME_PX}px", height=f"{FRAME_PX}px")
        self.images = {name: W.Image(format="png", layout=square) for name in self.samplers}
        self.captions = {name: W.HTML() for name in self.samplers}
        self.widget = W.VBox([
            W.HBox([self.controls["prompt"], self.controls["seed"]]),
            W.HBox([self.controls["steps"], self.controls["cfg"]]),
            W.HBox([W.VBox([self.captions[name], self.images[name]]) for name in self.samplers]),
            self.status,
        ])
        self.observe_all()

    def _ipython_display_(self):
        if self._cache is None:
            self.safe_render()
        super()._ipython_display_()

    def render(self) -> dict:
        """Run every sampler (if the setting is new) and show them. Returns the numbers shown:

        {"model_calls": {sampler: n}, "seconds": {sampler: s}, "difference": {sampler: mean |Δ| from
         the first sampler's picture, 0–255}, "steps", "cfg"}"""
        c = self.controls
        prompt, seed, steps, cfg = c["prompt"].value, int(c["seed"].value), int(c["steps"].value), float(c["cfg"].value)
        key = (tuple(self.model.tokenizer(prompt)[0].tolist()), seed, steps, cfg)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, compare_samplers(self.model, self.vae, prompt, seed, steps, cfg, self.samplers))
        results = self._cache[1]
        first = results[self.samplers[0]].picture.astype(np.float32)
        difference = {name: float(np.abs(r.picture.astype(np.float32) - first).mean()) for name, r in results.items()}
        for name, result in results.items():
            self.images[name].value = png(result.picture)
            self.captions[name].value = tr("<b>{name}</b><br><small>{calls} model calls, {ms:.0f} ms<br>mean |Δ| "
                                           "from {first}: {difference:.1f}</small>").format(
                name=html.escape(name), calls=result.model_calls, ms=1000 * result.seconds, first=self.samplers[0],
                difference=difference[name])
        return {"model_calls": {name: r.model_calls for name, r in results.items()},
                "seconds": {name: r.seconds for name, r in results.items()}, "difference": difference,
                "steps": steps, "cfg": cfg}



__all__ = ["TrajectoryApp", "SamplerComparisonApp", "SamplerResult", "decode_frames", "channel_strip", "norm_plot",
           "compare_samplers", "DEFAULT_PROMPT", "COMPARED"]
