"""The denoising loop, written out: what ComfyUI's KSampler node does, in ~40 visible lines.

    noise ──► x_T ──► for t in timesteps:                          ──► x_0 (the latent)
                         model_input = sampler.scale_model_input(x, t)
                         prediction  = model(model_input, t, context)          (ε or v)
                         prediction  = CFG mix of conditional and unconditional
                         x           = sampler.step(prediction, t, x).prev_sample

`sample` works for ANY model callable `model(x_t, t, context) -> prediction`, shaped like x_t:
the course's UNet, a closed-form denoiser (latentlab.samplers.exact), or a lambda in a test.
Encoding prompts and images, and decoding latents, live with the models that do them.

img2img (SDEdit, Meng et al. 2022) uses ComfyUI's `denoise` convention: with `steps` = 20 and
`denoise` = 0.5 the sampler is set up for int(20 / 0.5) = 40 steps and only the last 20 run,
starting from the initial latent noised to the 21st of those 40 timesteps. So `denoise` is the
fraction of the noise schedule that is re-done, and `steps` is always the number of steps taken.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from latentlab.samplers import Sampler

Model = Callable[[torch.Tensor, torch.Tensor, object], torch.Tensor]


@dataclass
class Trajectory:
    """Everything a sampling run went through, for the widgets and the lessons.

    timesteps: the t of each step (n values, descending).
    x_t:       the model's input at each step, n tensors shaped like the latent. It is the
               variance-preserving x_t = √ᾱ·x0 + √(1−ᾱ)·ε for every sampler (Euler's σ-space
               state is divided by √(σ²+1) first), so trajectories of different samplers compare.
    pred_x0:   the predicted clean latent x̂0 at each step, n tensors.
    sample:    the final latent (what goes to the decoder).
    model_calls: how many times the model was called (2 per step with CFG ≠ 1).
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
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
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


@torch.no_grad()
def sample(model: Model, sampler: Sampler, latent_shape: tuple[int, ...] | None = None,
           initial_latent: torch.Tensor | None = None, steps: int = 20, cfg: float = 1.0, denoise: float = 1.0,
           context=None, uncond_context=None, generator: torch.Generator | None = None,
           device: torch.device | str | None = None) -> Trajectory:
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
    """
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
    noise = torch.randn(shape, generator=generator).to(device)
    if initial_latent is None:
        x = noise * sampler.init_noise_sigma
    else:
        x = sampler.add_noise(initial_latent.to(device), noise, timesteps[0])

    trajectory = Trajectory(sampler=sampler.name)
    start = time.perf_counter()
    for t in timesteps:
        # 4. the model sees the variance-preserving x_t (identity except for σ-space samplers)
        model_input = sampler.scale_model_input(x, t)
        prediction = model(model_input, t, context)
        trajectory.model_calls += 1

        # 5. classifier-free guidance: push the prediction away from the unconditional one
        if cfg != 1.0:
            prediction_uncond = model(model_input, t, uncond_context)
            trajectory.model_calls += 1
            prediction = prediction_uncond + cfg * (prediction - prediction_uncond)

        # 6. one sampler step
        out = sampler.step(prediction, t, x, generator=generator)  # DDPM, DDIM η>0 draw noise
        trajectory.timesteps.append(float(t))
        trajectory.x_t.append(model_input.detach().cpu())
        trajectory.pred_x0.append(out.pred_x0.detach().cpu())
        x = out.prev_sample

    trajectory.sample = x
    trajectory.seconds = time.perf_counter() - start
    return trajectory


__all__ = ["Trajectory", "sample", "start_timesteps"]
