"""The denoising loop, written out: what ComfyUI's KSampler node does, in ~40 visible lines.

    noise ──► x_T ──► for t in timesteps:                          ──► x_0 (the latent)
                         model_input = sampler.scale_model_input(x, t)
                         prediction  = model(model_input, t, context)          (ε or v)
                         prediction  = CFG mix of conditional and unconditional
                         out         = sampler.step(prediction, t, x)
                         (Heun: the same two lines at out.correct_at, then sampler.correct)
                         x           = out.prev_sample

`sample` works for ANY model callable `model(x_t, t, context) -> prediction`, shaped like x_t:
the course's UNet, a closed-form denoiser (latentlab.samplers.exact), or a lambda in a test.

The other functions are named after ComfyUI's nodes, so a student can map one onto the other:

    ComfyUI node          latentlab                                  what it returns
    Empty Latent Image    empty_latent(width, height, batch)         zeros (B, 4, H/8, W/8)
    CLIP Text Encode      encode_prompt(model, prompt)               context (B, L, D)
    VAE Encode            encode_image(vae, picture)                 a scaled latent (1, 4, H/8, W/8)
    KSampler              sample(model, sampler, initial_latent=…,  a Trajectory; .sample is the latent
                                 steps, cfg, denoise, context, …)
    VAE Decode            decode(vae, latent)                        pictures (B, 3, H, W) in [-1, 1]

`text_to_image` and `image_to_image` chain the five for the widgets and the benchmarks.

img2img (SDEdit, Meng et al. 2022) uses ComfyUI's `denoise` convention: with `steps` = 20 and
`denoise` = 0.5 the sampler is set up for int(20 / 0.5) = 40 steps and only the last 20 run,
starting from the initial latent noised to the 21st of those 40 timesteps. So `denoise` is the
fraction of the noise schedule that is re-done, and `steps` is always the number of steps taken.
"""

from __future__ import annotations

import math
import operator
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from latentlab.ldm import check_latent_space
from latentlab.samplers import FLOW_SAMPLERS, Sampler, make_sampler

Model = Callable[[torch.Tensor, torch.Tensor, object], torch.Tensor]


@dataclass
class Trajectory:
    """Everything a sampling run went through, for the widgets and the lessons.

    timesteps: the t of each step (n values, descending).
    x_t:       the model's input at each step, n tensors shaped like the latent. It is the
               variance-preserving x_t = √ᾱ·x0 + √(1−ᾱ)·ε for every diffusion sampler (Euler's
               σ-space state is divided by √(σ²+1) first), so trajectories of different samplers
               compare; for a flow sampler it is the flow sample (1 − t)·x0 + t·ε
               (`flow.trajectory_in_flow_time` puts both kinds on one axis).
    pred_x0:   the predicted clean latent x̂0 at each step, n tensors.
    sample:    the final latent (what goes to the decoder).
    model_calls: how many times the model was called (1 per step; 2 with CFG ≠ 1; twice that
               for a second-order sampler such as Heun, except on its last step).
    seconds:   wall time of the loop.
    """

    sampler: str
    timesteps: list[float] = field(default_factory=list)
    x_t: list[torch.Tensor] = field(default_factory=list)
    pred_x0: list[torch.Tensor] = field(default_factory=list)
    sample: torch.Tensor | None = None
    model_calls: int = 0
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.timesteps)

    def stacked(self, what: str = "x_t") -> torch.Tensor:
        """'x_t' or 'pred_x0' as one tensor (steps, *latent_shape)."""
        if what not in ("x_t", "pred_x0"):
            raise ValueError(f"stacked() takes 'x_t' or 'pred_x0', got {what!r}")
        return torch.stack(getattr(self, what))


def start_timesteps(sampler: Sampler, steps: int, denoise: float) -> torch.Tensor:
    """Set the sampler up for `steps` steps at strength `denoise` (ComfyUI's KSampler rule) and
    return the timesteps to run: the last `steps` of int(steps / denoise)."""
    if isinstance(steps, bool) or not hasattr(steps, "__index__") or operator.index(steps) < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    steps = operator.index(steps)  # NumPy's integers (np.arange, a slider's value) count too
    if not 0 < denoise <= 1:
        raise ValueError(f"denoise must be in (0, 1]: 1 starts from pure noise, 0.3 keeps most of the "
                         f"initial latent; got {denoise}")
    total = int(steps / denoise)
    T = sampler.schedule.num_train_timesteps
    if total > T:
        raise ValueError(f"steps / denoise = {steps} / {denoise} = {total} steps exceeds the {T} training "
                         "steps; take fewer steps or a larger denoise")
    sampler.set_timesteps(total)
    return sampler.timesteps[-steps:]


def _check_guidance_and_denoise(cfg, denoise) -> tuple[float, float]:
    """`sample`'s two strengths checked; returns (cfg, denoise) as plain numbers."""
    # a slider's or a schedule's one-number tensor means that number
    cfg, denoise = (v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v for v in (cfg, denoise))
    if isinstance(cfg, bool) or not isinstance(cfg, (int, float)) or not math.isfinite(cfg) or cfg < 0:
        raise ValueError(f"cfg must be a number ≥ 0 and finite (1 = no guidance, 5–8 is typical), got {cfg!r}")
    if not isinstance(denoise, (int, float)) or not 0 <= denoise <= 1:
        raise ValueError(f"denoise must be in [0, 1]: 1 starts from pure noise, 0 keeps the initial latent; "
                         f"got {denoise!r}")
    return cfg, denoise


def _starting_point(sampler: Sampler, latent_shape, initial_latent, steps: int, denoise: float, noise, generator,
                    device) -> tuple[torch.Tensor, torch.Tensor]:
    """(x at the first timestep, the timesteps to run): `sample`'s steps 1–3."""
    # 1. the shape and the device
    if initial_latent is None:
        if latent_shape is None:
            raise ValueError("give latent_shape (text-to-image) or initial_latent (img2img)")
        if denoise < 1:
            raise ValueError(f"denoise={denoise} < 1 re-does only part of the schedule, so it needs an "
                             "initial_latent to start from (img2img)")
        shape = tuple(latent_shape)
    else:
        shape = tuple(initial_latent.shape)
        if latent_shape is not None and tuple(latent_shape) != shape:
            raise ValueError(f"latent_shape {tuple(latent_shape)} does not match initial_latent's {shape}")
    device = torch.device(device) if device is not None else (
        initial_latent.device if initial_latent is not None else torch.device("cpu"))

    # 2. which timesteps to run (all of them for denoise = 1)
    timesteps = start_timesteps(sampler, steps, denoise)

    # 3. the starting point: pure noise, or the initial latent noised to the first timestep
    if noise is None:
        noise = torch.randn(shape, generator=generator)
    elif tuple(noise.shape) != shape:
        raise ValueError(f"noise is shaped {tuple(noise.shape)} but the latent is {shape}")
    noise = noise.to(device)
    if initial_latent is None:
        return noise * sampler.init_noise_sigma, timesteps
    return sampler.add_noise(initial_latent.to(device), timesteps[0], noise), timesteps


@torch.no_grad()  # inference: no autograd graph kept across the steps
def sample(model: Model, sampler: Sampler, latent_shape: tuple[int, ...] | None = None,
           initial_latent: torch.Tensor | None = None, steps: int = 20, cfg: float = 1.0, denoise: float = 1.0,
           context=None, uncond_context=None, generator: torch.Generator | None = None,
           device: torch.device | str | None = None, noise: torch.Tensor | None = None) -> Trajectory:
    """Run the denoising loop and return its `Trajectory` (the result is `trajectory.sample`).

    model:          callable model(x_t, t, context) → ε or v (the sampler's prediction_type), shaped like x_t.
    latent_shape:   (B, c, h, w) or any shape, for text-to-image from pure noise; or
    initial_latent: a clean latent to start from (img2img); then latent_shape may be left out.
    steps:          number of sampler steps actually taken.
    cfg:            classifier-free guidance scale (Ho & Salimans 2022); 1 = no guidance, one model call.
    denoise:        img2img strength in (0, 1] (ComfyUI's meaning, see the module docstring).
    context, uncond_context: passed to the model as its third argument; the unconditional one
                    (default None) is used only when cfg ≠ 1.
    generator:      makes the initial noise and any sampler noise reproducible (noise is drawn on
                    the CPU, then moved to `device`, so a seed gives the same picture everywhere).
    noise:          the starting noise itself, shaped like the latent, instead of drawing it
                    (latent interpolation walks between two noises).
    """
    cfg, denoise = _check_guidance_and_denoise(cfg, denoise)
    if denoise == 0:
        if initial_latent is None:
            raise ValueError("denoise=0 keeps the initial latent as it is, so it needs an initial_latent")
        return Trajectory(sampler=sampler.name, sample=initial_latent.clone())  # ComfyUI: nothing to re-do
    # 1–3. the shape, the timesteps to run and the starting point
    x, timesteps = _starting_point(sampler, latent_shape, initial_latent, steps, denoise, noise, generator, device)

    trajectory = Trajectory(sampler=sampler.name)
    start = time.perf_counter()

    def predict(x: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor]:
        """(the model's input at t, its prediction, with CFG): one or two model calls."""
        # 4. the model sees the variance-preserving x_t (identity except for σ-space samplers)
        model_input = sampler.scale_model_input(x, t)
        prediction = model(model_input, t, context)
        trajectory.model_calls += 1
        # 5. classifier-free guidance: push the prediction away from the unconditional one
        if cfg != 1.0:
            prediction_uncond = model(model_input, t, uncond_context)
            trajectory.model_calls += 1
            prediction = prediction_uncond + cfg * (prediction - prediction_uncond)
        return model_input, prediction

    for t in timesteps:
        model_input, prediction = predict(x, t)

        # 6. one sampler step
        out = sampler.step(prediction, t, x, generator=generator)  # DDPM, DDIM η>0 draw noise
        # 7. a second-order step (Heun) asks for the model at its trial point, then corrects itself
        if out.correct_at is not None:
            _, prediction_next = predict(out.prev_sample, out.correct_at)
            out = sampler.correct(prediction_next, t, x, out)
        trajectory.timesteps.append(float(t))
        trajectory.x_t.append(model_input.detach().cpu())
        trajectory.pred_x0.append(out.pred_x0.detach().cpu())
        x = out.prev_sample

    trajectory.sample = x
    trajectory.seconds = time.perf_counter() - start
    return trajectory


# ---------------------------------------------------------------------------------------------
# The other ComfyUI nodes, and the two chains the lessons use
# ---------------------------------------------------------------------------------------------

def make_generator(seed) -> torch.Generator:
    """A CPU generator for `seed`, an integer in [0, 2⁶⁴) (what torch's generators hold)."""
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):  # np.int64 is an integer too
        raise TypeError(f"a seed is an integer, got {type(seed).__name__}: {seed!r}")
    seed = operator.index(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"a seed must be in [0, 2**64) (torch generators are 64-bit), got {seed}")
    return torch.Generator().manual_seed(seed)


def empty_latent(width: int = 128, height: int = 128, batch: int = 1, channels: int = 4, factor: int = 8) -> torch.Tensor:
    """ComfyUI's *Empty Latent Image*: zeros (batch, channels, height/f, width/f).

    Zeros, not noise: the sampler adds the noise (with denoise = 1 nothing of the zeros survives)."""
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an integer number of pixels, got {value!r}")
        if value % factor:
            lower = max(factor, value - value % factor)
            raise ValueError(f"{name}={value} is not a multiple of the VAE's factor {factor}; "
                             f"try {lower} or {lower + factor}")
        if value < 4 * factor:
            raise ValueError(f"{name}={value} is too small: the latent would be {value // factor} px; "
                             f"use at least {4 * factor}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    return torch.zeros(batch, channels, height // factor, width // factor)


def encode_prompt(model, prompt: str | list[str], batch: int | None = None) -> torch.Tensor:
    """ComfyUI's *CLIP Text Encode*: prompt(s) → context (B, L, D) for the UNet's cross-attention.

    One prompt with `batch` = n gives n copies; '' gives the unconditional context of CFG."""
    with torch.no_grad():
        return model.encode_prompt(_prompts(prompt, batch))


def _prompts(prompt, batch: int | None) -> list[str]:
    """One prompt `batch` times (None: once), or a list of prompts as it is (one picture each)."""
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ValueError(f"batch must be a positive integer (pictures per prompt), got {batch!r}")
    if isinstance(prompt, str):
        return [prompt] * (batch or 1)
    if not isinstance(prompt, (list, tuple)):
        hint = " (decode bytes first: prompt.decode())" if isinstance(prompt, (bytes, bytearray)) else ""
        raise TypeError(f"a prompt is a string, or a list of strings for one picture each; got "
                        f"{type(prompt).__name__}: {prompt!r}{hint}")
    if batch is not None and batch != len(prompt):
        raise ValueError(f"batch={batch} but {len(prompt)} prompts were given: a list gives one picture per "
                         "prompt; leave batch out")
    return list(prompt)


def encode_image(vae, picture, size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """ComfyUI's *VAE Encode*: a picture (path, PIL, array or (1, 3, H, W) tensor in [-1, 1]) →
    the scaled latent (1, c, H/f, W/f), the posterior's mean.

    size: (width, height) or a side, to match the model's training size. A picture of another
    shape is centre-cropped to the aspect and resized, and a warning says so."""
    from latentlab.images import to_tensor

    x = picture if isinstance(picture, torch.Tensor) else to_tensor(picture, multiple=1, max_side=None)
    if x.dim() == 3:
        x = x[None]
    if size is not None:
        width, height = (size, size) if not isinstance(size, (tuple, list)) or len(size) != 2 else size
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
            raise ValueError(f"size must be a side or (width, height) in whole pixels > 0, got {size!r}")
        _, _, H, W = x.shape
        if (W, H) != (width, height):
            scale = max(width / W, height / H)
            new_w, new_h = max(width, round(W * scale)), max(height, round(H * scale))
            x = F.interpolate(x, size=(new_h, new_w), mode="bicubic", antialias=True, align_corners=False).clamp(-1, 1)
            top, left = (new_h - height) // 2, (new_w - width) // 2
            x = x[:, :, top:top + height, left:left + width]
            warnings.warn(f"picture of {W}×{H} resized and centre-cropped to {width}×{height}", stacklevel=2)
    f = vae.downsample_factor
    if x.shape[-1] % f or x.shape[-2] % f:
        from latentlab.images import fit_to_multiple

        x = fit_to_multiple(x, f, "crop")
    with torch.no_grad():
        return vae.to_latent(x.to(next(vae.parameters()).device))


def decode(vae, latent: torch.Tensor) -> torch.Tensor:
    """ComfyUI's *VAE Decode*: scaled latent (B, c, h, w) → pictures (B, 3, h·f, w·f) in [-1, 1]."""
    with torch.no_grad():
        return vae.from_latent(latent).clamp(-1, 1)


def slerp(a: torch.Tensor, b: torch.Tensor, weight: float) -> torch.Tensor:
    """Spherical interpolation between two noise tensors (Shoemake 1985; used for latents since
    DCGAN/White 2016). A straight line between two Gaussian samples passes through vectors of
    smaller norm than noise ever has (the midpoint has ‖·‖ ≈ 0.71×), which the model has never
    seen; slerp keeps the norm, so every point in between is still plausible noise."""
    if not 0 <= weight <= 1:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    if a.shape != b.shape:
        raise ValueError(f"slerp needs tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    a_flat, b_flat = a.flatten().double(), b.flatten().double()
    cos = torch.dot(a_flat, b_flat) / (a_flat.norm() * b_flat.norm())
    theta = torch.arccos(cos.clamp(-1, 1))
    if theta.abs() < 1e-4:  # (nearly) parallel: the straight line is the same path
        return torch.lerp(a, b, weight)
    out = (torch.sin((1 - weight) * theta) * a_flat + torch.sin(weight * theta) * b_flat) / torch.sin(theta)
    return out.view(a.shape).to(a.dtype)


def interpolate_noise(a: torch.Tensor, b: torch.Tensor, weight: float, path: str = "slerp") -> torch.Tensor:
    """The point at `weight` ∈ [0, 1] on the path from noise a (weight 0) to noise b (weight 1):
    path "slerp" (keeps the norm of noise) or "lerp" (the straight line, which shrinks it)."""
    if path == "slerp":
        return slerp(a, b, weight)
    if path == "lerp":
        return torch.lerp(a, b, weight)
    raise ValueError(f"path must be 'slerp' or 'lerp', got {path!r}")


@dataclass(frozen=True)
class SamplingDefaults:
    """The defaults of the course's text-to-image model (chosen from `latentlab eval ldm`'s table)."""

    sampler: str = "ddim"
    steps: int = 20
    cfg: float = 7.5  # SD v1's default too; the table of `latentlab eval ldm` puts joint adherence highest here


def make_model_sampler(model, name: str | Sampler = SamplingDefaults.sampler) -> Sampler:
    """A sampler on the model's own noise schedule and prediction type (a Sampler is kept as it is)."""
    if isinstance(name, Sampler):
        return name
    if not isinstance(name, str):
        raise TypeError(f"sampler must be a name ('ddim', 'euler', ...) or a Sampler, got {type(name).__name__}")
    if getattr(model.config, "is_flow", False) and name not in FLOW_SAMPLERS:
        # DDIM and Euler on the probability-flow ODE are the same rule (lesson 04); on a flow model's
        # straight paths they are Euler on dx/dt = u, which is `flow_euler`; Heun is `flow_heun`.
        ode_twin = {"ddim": "flow_euler", "euler": "flow_euler", "heun": "flow_heun"}
        if name not in ode_twin:
            raise ValueError(f"{name!r} is a diffusion sampler and this model is a rectified-flow model: "
                             f"use one of {', '.join(FLOW_SAMPLERS)} (or ddim/euler/heun, which map to them)")
        name = ode_twin[name]
    return make_sampler(name, model.schedule, prediction_type=model.config.prediction_type)


def text_to_image(model, vae, prompt: str | list[str], seed: int = 0, batch: int | None = None,
                  steps: int = SamplingDefaults.steps, cfg: float = SamplingDefaults.cfg,
                  sampler: str | Sampler = SamplingDefaults.sampler, width: int | None = None,
                  height: int | None = None) -> tuple[torch.Tensor, Trajectory]:
    """Empty Latent Image → CLIP Text Encode → KSampler → VAE Decode.

    Returns (pictures (B, 3, H, W) in [-1, 1], trajectory). A list of prompts gives one picture each."""
    prompts = _prompts(prompt, batch)
    size = model.config.image_size
    latent = empty_latent(width or size, height or size, len(prompts), vae.config.latent_channels, vae.downsample_factor)
    sampler = make_model_sampler(model, sampler)
    context = encode_prompt(model, prompts)
    uncond = encode_prompt(model, "", batch=len(prompts)) if cfg != 1 else None
    trajectory = sample(model, sampler, initial_latent=latent, steps=steps, cfg=cfg, context=context,
                        uncond_context=uncond, generator=make_generator(seed))
    return decode(vae, trajectory.sample), trajectory


def sample_prompt(model, vae, prompt: str, seed: int = 0, sampler: str = SamplingDefaults.sampler,
                  steps: int = SamplingDefaults.steps, cfg: float = SamplingDefaults.cfg) -> Trajectory:
    """Text-to-image up to the final latent, without decoding: Empty Latent Image → CLIP Text Encode
    → KSampler, exactly as `text_to_image` does it. → the run's Trajectory (batch of 1).

    The VAE only fixes the latent's shape (c channels, the model's image size / f); one of another
    latent space is refused (`ldm.check_latent_space`). An unknown word raises ValueError naming
    the closest words the model knows."""
    check_latent_space(model, vae)
    size, c = model.config.image_size, vae.config.latent_channels
    latent = empty_latent(size, size, 1, c, vae.downsample_factor).to(model.device)  # (1, c, h, w)
    context = encode_prompt(model, prompt)  # (1, L, D)
    uncond = encode_prompt(model, "") if cfg != 1 else None  # CFG's unconditional context
    return sample(model, make_model_sampler(model, sampler), initial_latent=latent, steps=steps, cfg=cfg,
                  context=context, uncond_context=uncond, generator=make_generator(seed))


def image_to_image(model, vae, picture, prompt: str, denoise: float = 0.6, seed: int = 0,
                   steps: int = SamplingDefaults.steps, cfg: float = SamplingDefaults.cfg,
                   sampler: str | Sampler = SamplingDefaults.sampler) -> tuple[torch.Tensor, Trajectory]:
    """VAE Encode → KSampler (denoise < 1) → VAE Decode (SDEdit, Meng et al. 2022).

    The picture is resized and centre-cropped to the model's size (with a warning if it changes)."""
    latent = encode_image(vae, picture, size=model.config.image_size)
    sampler = make_model_sampler(model, sampler)
    context = encode_prompt(model, prompt)
    uncond = encode_prompt(model, "") if cfg != 1 else None
    trajectory = sample(model, sampler, initial_latent=latent, steps=steps, cfg=cfg, denoise=denoise,
                        context=context, uncond_context=uncond, generator=make_generator(seed))
    return decode(vae, trajectory.sample), trajectory


__all__ = ["Trajectory", "sample", "start_timesteps", "make_generator", "empty_latent", "encode_prompt",
           "encode_image", "decode", "SamplingDefaults", "make_model_sampler", "text_to_image", "image_to_image", "slerp",
           "interpolate_noise", "sample_prompt"]
