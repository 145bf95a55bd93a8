"""Walking between pictures (lesson 06): slerp between two noises, lerp between two prompts, and CFG,
which walks past the prompt.

A text-to-image picture is fixed by its starting noise (the seed) and its prompt, so a path between
two pictures is a path between two noises and two contexts:

- **noise: slerp** (Shoemake 1985; White 2016 for generative models, `pipeline.slerp`). Gaussian
  noise of n values has a norm of almost exactly √n. The straight line (lerp) between two such noises
  dips to ≈ √(n/2) half-way, a norm that noise never has and the model never saw; slerp walks along
  the arc and keeps the norm. `viz.path_norm_figure` measures it; the app's `path` control lets you see it.
- **context: lerp.** Prompt encodings are not Gaussian noise, and a straight line between them is the
  usual (and simplest) mix; both prompts must be known words, as any prompt.
- **classifier-free guidance** is a line too: ε̂ = ε̂_∅ + w·(ε̂_c − ε̂_∅) passes through the unconditional
  prediction (w = 0) and the conditional one (w = 1), and extrapolates past it for w > 1.
  `cfg_sweep` shows one seed at several w.

    app = InterpolateApp(model, vae)
    app.controls["weight"].value = 0.5; app.render()["noise_norm"]

All frames of one setting (seeds, prompts, path) are sampled together as one batch and cached: the
weight slider then only swaps pictures.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import ipywidgets as W
import numpy as np
import torch
from PIL import Image

from ..i18n import N_, tr
from ..images import to_uint8
from ..pipeline import (
    SamplingDefaults,
    Trajectory,
    decode,
    empty_latent,
    encode_prompt,
    interpolate_noise,
    make_generator,
    make_model_sampler,
    sample,
    text_to_image,
)
from ..samplers import Sampler
from .kit import App, LRUCache, course_models, png, resolve_pair

if TYPE_CHECKING:
    from ..ldm import LatentDiffusion
    from ..vae import AutoencoderKL

PATHS = ("slerp", "lerp")
CFG_SCALES = (1.0, 3.0, 5.0, 7.5, 10.0)
# the app's first prompts, in the learner's language
DEFAULT_PROMPTS = (N_("a large red circle on a white background"), N_("a large blue square on a white background"))
THUMB = 80              # pixels per frame of the strip
FRAME_SETTINGS_KEPT = 6  # settings (seeds, prompts, path) whose frames stay in memory


@torch.no_grad()
def sample_from_noise(model: LatentDiffusion, sampler: Sampler, noise: torch.Tensor,
                      steps: int = SamplingDefaults.steps, cfg: float = SamplingDefaults.cfg, context=None,
                      uncond_context=None,
                      generator: torch.Generator | None = None) -> Trajectory:
    """KSampler at denoise 1 started from the noise you give, not from a seed → its `Trajectory`.

    Walking *between* two noises needs to hand the noise in (as ComfyUI's KSamplerAdvanced does with
    add_noise disabled): `pipeline.sample(noise=…)` from the empty latent, so
    noise = torch.randn(shape, generator=make_generator(seed)) gives what text_to_image gives for seed.

    noise: (B, c, h, w); context, uncond_context: (B, L, D). generator: only stochastic samplers
    (DDPM, DDIM with η > 0) use it, for the noise they add at every step."""
    return sample(model, sampler, initial_latent=torch.zeros_like(noise), steps=steps, cfg=cfg, context=context,
                  uncond_context=uncond_context, generator=generator, noise=noise)




def cfg_sweep(model: LatentDiffusion, vae: AutoencoderKL, prompt: str, seed: int = 0,
              scales: tuple[float, ...] = CFG_SCALES, steps: int = SamplingDefaults.steps,
              sampler: str = SamplingDefaults.sampler) -> tuple[torch.Tensor, list[Trajectory]]:
    """One prompt and one seed (so one starting noise) at each guidance scale w in `scales`.

    → pictures (len(scales), 3, H, W) in [-1, 1] and the trajectories (2 model calls per step for w ≠ 1)."""
    runs = [text_to_image(model, vae, prompt, seed=seed, steps=steps, cfg=float(w), sampler=sampler) for w in scales]
    return torch.cat([pictures for pictures, _ in runs]), [trajectory for _, trajectory in runs]


class InterpolateApp(App):
    """Frames between (seed a, prompt a) and (seed b, prompt b), the noise on a slerp or lerp path.

    model: a LatentDiffusion or its name/path; vae: the AutoencoderKL of its latent space, a name/path,
    or None for the one it was trained with. frames: pictures per path (the weight slider moves
    between them). steps, cfg, sampler: the KSampler's settings. prompts: None means DEFAULT_PROMPTS
    in the learner's language.
    """

    def __init__(self, model="ldm-shapes", vae=None, seeds: tuple[int, int] = (0, 1),
                 prompts: tuple[str, str] | None = None,
                 frames: int = 9, path: str = "slerp", steps: int = SamplingDefaults.steps,
                 cfg: float = SamplingDefaults.cfg, sampler: str = SamplingDefaults.sampler):
        super().__init__()
        self.model, self.vae = resolve_pair(model, vae)
        prompts = tuple(tr(p) for p in DEFAULT_PROMPTS) if prompts is None else prompts
        if frames < 2:
            raise ValueError(tr("frames must be at least 2 (the two ends), got {frames}").format(frames=frames))
        if path not in PATHS:
            raise ValueError(tr("path must be one of {paths}, got {path!r}").format(paths=PATHS, path=path))
        self.frames, self.steps, self.cfg, self.sampler = frames, steps, cfg, sampler
        size, f, c = self.model.config.image_size, self.vae.downsample_factor, self.vae.config.latent_channels
        self.latent_shape = tuple(empty_latent(size, size, 1, c, f).shape)  # (1, c, h, w)
        self._cache = LRUCache(FRAME_SETTINGS_KEPT)  # (seeds, prompts, path) → the frames

        text = dict(continuous_update=False, layout=W.Layout(width="420px"))
        number = dict(min=0, max=2**31 - 1, layout=W.Layout(width="180px"))
        self.controls = {
            "seed_a": W.BoundedIntText(value=seeds[0], description=tr("seed a"), **number),
            "prompt_a": W.Text(value=prompts[0], description=tr("prompt a"), **text),
            "seed_b": W.BoundedIntText(value=seeds[1], description=tr("seed b"), **number),
            "prompt_b": W.Text(value=prompts[1], description=tr("prompt b"), **text),
            "path": W.ToggleButtons(options=list(PATHS), value=path, description=tr("noise path")),
            "weight": W.FloatSlider(value=0.0, min=0.0, max=1.0, step=1 / (frames - 1), description=tr("weight"),
                                    readout_format=".3f", continuous_update=True),
        }
        self.frame_view = W.Image(format="png", layout=W.Layout(width="256px", height="256px", object_fit="contain"))
        self.frame_title = W.HTML()
        self.thumbs = [W.Image(format="png", layout=W.Layout(width=f"{THUMB}px", height=f"{THUMB}px"))
                       for _ in range(frames)]
        self.thumb_labels = [W.HTML() for _ in range(frames)]
        self.explanation = W.HTML()
        c = self.controls
        self.widget = W.VBox([
            W.HBox([c["prompt_a"], c["seed_a"]]), W.HBox([c["prompt_b"], c["seed_b"]]),
            c["path"], c["weight"],
            W.VBox([self.frame_title, self.frame_view]),
            W.HBox([W.VBox([label, thumb]) for label, thumb in zip(self.thumb_labels, self.thumbs)],
                   layout=W.Layout(flex_flow="row wrap")),
            self.explanation, self.status,
        ])
        self.observe_all()

    # --- the frames, once per setting ---------------------------------------------------------------

    @torch.no_grad()
    def all_frames(self) -> dict:
        """{"weights", "noise" (frames, c, h, w), "noise_a", "noise_b", "latents", "images", "pngs", "thumbs",
        "norms", "model_calls"} for the current seeds, prompts and path; cached."""
        c = self.controls
        key = (c["seed_a"].value, c["seed_b"].value, c["prompt_a"].value, c["prompt_b"].value, c["path"].value)
        return self._cache.get(key, lambda: self._sample_frames(*key))

    @torch.no_grad()
    def _sample_frames(self, seed_a: int, seed_b: int, prompt_a: str, prompt_b: str, path: str) -> dict:
        n = self.frames
        self.status.value = "⏳ " + tr("sampling {n} frames together ({steps} steps)…").format(n=n, steps=self.steps)
        device = self.model.device
        # The noise text_to_image would start from for each seed: the generator's first draw.
        generator = make_generator(seed_a)
        noise_a = torch.randn(self.latent_shape, generator=generator)  # (1, c, h, w)
        noise_b = torch.randn(self.latent_shape, generator=make_generator(seed_b))
        weights = [k / (n - 1) for k in range(n)]
        noise = torch.cat([interpolate_noise(noise_a, noise_b, w, path) for w in weights])  # (n, c, h, w)
        context_a, context_b = encode_prompt(self.model, prompt_a), encode_prompt(self.model, prompt_b)  # (1, L, D)
        mix = torch.tensor(weights, device=context_a.device)[:, None, None]  # (n, 1, 1)
        context = context_a + mix * (context_b - context_a)  # (n, L, D): lerp between the prompts
        uncond = encode_prompt(self.model, "", batch=n) if self.cfg != 1 else None
        sampler = make_model_sampler(self.model, self.sampler)
        trajectory = sample_from_noise(self.model, sampler, noise.to(device), self.steps, self.cfg, context, uncond,
                                       generator=generator)
        images = to_uint8(decode(self.vae, trajectory.sample))  # (n, S, S, 3)
        state = {
            "weights": weights, "noise": noise, "noise_a": noise_a, "noise_b": noise_b,
            "latents": trajectory.sample, "images": images, "pngs": [png(im) for im in images],
            "thumbs": [png(np.asarray(Image.fromarray(im).resize((THUMB, THUMB), Image.Resampling.LANCZOS)))
                       for im in images],
            "norms": noise.flatten(1).norm(dim=1).tolist(), "model_calls": trajectory.model_calls,
        }
        return state

    # --- the update ----------------------------------------------------------------------------------

    def render(self) -> dict:
        """Show the frame nearest the weight and the strip. Returns the numbers shown:

        {"weight" (of the frame shown), "frame", "frames", "path", "seeds", "prompts", "noise_norm",
         "norm_a", "norm_b", "expected_norm" (√n), "norm_ratio" (noise_norm / mean of the ends' norms),
         "model_calls" (of the batch of frames), "steps", "latent_shape"}"""
        state = self.all_frames()
        frame = round(self.controls["weight"].value * (self.frames - 1))
        weight, norms = state["weights"][frame], state["norms"]
        ends = (norms[0] + norms[-1]) / 2
        path = self.controls["path"].value
        self.frame_view.value = state["pngs"][frame]
        for k, (thumb, label) in enumerate(zip(self.thumbs, self.thumb_labels)):
            thumb.value = state["thumbs"][k]
            thumb.layout.border = "3px solid #e65100" if k == frame else "3px solid transparent"
            label.value = f"<small>w {state['weights'][k]:.2f}<br>‖ε‖ {norms[k]:.1f}</small>"
        n = math.prod(self.latent_shape)
        self.frame_title.value = tr("<b>weight {weight:.3f}</b> (frame {frame} of {frames}): ‖noise‖ = {norm:.1f}, "
                                    "{ratio:.2f}× the ends' norm").format(
            weight=weight, frame=frame + 1, frames=self.frames, norm=norms[frame], ratio=norms[frame] / ends)
        a, b = (html.escape(self.controls[k].value) for k in ("prompt_a", "prompt_b"))
        self.explanation.value = tr(
            "Noise: <b>{path}</b> from seed {seed_a} to seed {seed_b}; context: lerp from “{a}” to “{b}”. Gaussian "
            "noise of n = {n} values has a norm near √n = {sqrt_n:.1f}: slerp keeps it all the way, lerp dips to "
            "about 0.71× half-way, a noise the model never saw (look at the middle frames). All {frames} frames "
            "were sampled as one batch ({calls} model calls).").format(
            path=path, seed_a=self.controls["seed_a"].value, seed_b=self.controls["seed_b"].value, a=a, b=b, n=n,
            sqrt_n=math.sqrt(n), frames=self.frames, calls=state["model_calls"])
        return {
            "weight": weight, "frame": frame, "frames": self.frames, "path": path,
            "seeds": [self.controls["seed_a"].value, self.controls["seed_b"].value],
            "prompts": [self.controls["prompt_a"].value, self.controls["prompt_b"].value],
            "noise_norm": norms[frame], "norm_a": norms[0], "norm_b": norms[-1], "expected_norm": math.sqrt(n),
            "norm_ratio": norms[frame] / ends, "model_calls": state["model_calls"], "steps": self.steps,
            "latent_shape": list(self.latent_shape[1:]),
        }

    @classmethod
    def for_bench(cls, size: int) -> InterpolateApp:
        """The shipped models (or untrained twins, same cost); frames are the model's size (`size` does not apply)."""
        return cls(*course_models())

    def bench_step(self, i: int) -> None:
        """A student drags the weight slider one notch (cached: pictures are swapped, no model call)."""
        frame = round(self.controls["weight"].value * (self.frames - 1))
        self.controls["weight"].value = ((frame + 1) % self.frames) / (self.frames - 1)



__all__ = ["InterpolateApp", "interpolate_noise", "sample_from_noise", "cfg_sweep", "CFG_SCALES",
           "PATHS"]
