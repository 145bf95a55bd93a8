"""What every sampler shares: `StepOutput`, the timestep bookkeeping, the input checks, and the
conversion of a model's prediction (ε or v) into the predicted clean sample x̂0.

A sampler never counts steps behind the caller's back: `step(model_output, t, x_t)` finds t in
`self.timesteps` and takes the previous timestep from that array. Calling `step` twice with the
same t gives the same answer twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from latentlab.schedules import NoiseSchedule

PREDICTION_TYPES = ("epsilon", "v_prediction")


@dataclass
class StepOutput:
    """The result of one sampler step. Both tensors are shaped like x_t.

    prev_sample: x at the next (smaller) timestep, in the sampler's own space.
    pred_x0:     the model's current guess of the clean sample x̂0 (data space, for every sampler).
    """

    prev_sample: torch.Tensor
    pred_x0: torch.Tensor


class Sampler:
    """Base class: holds the schedule, the prediction type and the timesteps from `set_timesteps`."""

    name = "sampler"
    # Standard deviation of the pure-noise x at the first step: 1 for samplers working on the
    # variance-preserving x_t = √ᾱ·x0 + √(1−ᾱ)·ε; larger for σ-space samplers (Euler).
    init_noise_sigma = 1.0

    def __init__(self, schedule: NoiseSchedule | None = None, prediction_type: str = "epsilon"):
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"unknown prediction_type {prediction_type!r}; known: {', '.join(PREDICTION_TYPES)}")
        self.schedule = schedule if schedule is not None else NoiseSchedule.from_name("scaled_linear")
        self.prediction_type = prediction_type
        self.timesteps: torch.Tensor | None = None  # (n,), descending, set by set_timesteps

    def __repr__(self) -> str:
        n = None if self.timesteps is None else len(self.timesteps)
        return f"{type(self).__name__}({self.schedule!r}, prediction_type={self.prediction_type!r}, steps={n})"

    # -- timesteps --------------------------------------------------------------------------

    def set_timesteps(self, num_inference_steps: int) -> torch.Tensor:
        """Choose the n timesteps to sample at (descending); returns and stores `self.timesteps`."""
        T = self.schedule.num_train_timesteps
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int):
            raise TypeError(f"num_inference_steps must be an int, got {num_inference_steps!r}")
        if not 1 <= num_inference_steps <= T:
            raise ValueError(f"num_inference_steps must be between 1 and the {T} training steps, got {num_inference_steps}")
        self.timesteps = self._make_timesteps(num_inference_steps)
        return self.timesteps

    def _make_timesteps(self, n: int) -> torch.Tensor:  # pragma: no cover - every sampler overrides it
        raise NotImplementedError

    def index_of(self, t) -> int:
        """Position of t in `self.timesteps`; a clear error if t is not one of them."""
        if self.timesteps is None:
            raise RuntimeError(f"{type(self).__name__}: call set_timesteps(n) before step()")
        t = torch.as_tensor(t).detach().cpu()
        if t.numel() != 1:
            raise ValueError(f"step takes one timestep t (a number or a 0-d tensor), got shape {tuple(t.shape)}")
        value = float(t.reshape(-1)[0])
        self.schedule.check_t(value)  # t outside [0, T−1] gets the schedule's message
        matches = torch.nonzero(self.timesteps.double() == value)
        if len(matches) == 0:
            shown = ", ".join(f"{v:g}" for v in self.timesteps[:6].tolist())
            raise ValueError(f"t={value:g} is not one of this sampler's {len(self.timesteps)} timesteps "
                             f"[{shown}{', …' if len(self.timesteps) > 6 else ''}]; loop over sampler.timesteps")
        return int(matches[0])

    def previous_timestep(self, t) -> float:
        """The timestep after t in the sampling loop (the next smaller one), or −1 after the last."""
        i = self.index_of(t)
        return float(self.timesteps[i + 1]) if i + 1 < len(self.timesteps) else -1.0

    def alpha_bar_or_one(self, t: float) -> torch.Tensor:
        """ᾱ_t, with ᾱ_{−1} = 1: one step past the end is clean data (x_{−1} = x0)."""
        return torch.tensor(1.0) if t < 0 else self.schedule.alpha_bar[int(t)]

    # -- what the loop calls around the model -----------------------------------------------

    def scale_model_input(self, x: torch.Tensor, t) -> torch.Tensor:
        """The x the model sees at t. Identity here: these samplers already hold x_t = √ᾱ·x0 + √(1−ᾱ)·ε."""
        return x

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
        """Noise clean data to timestep t in this sampler's space (img2img's starting point)."""
        return self.schedule.q_sample(x0, int(torch.as_tensor(t).round()), noise)

    # -- checks and conversions shared by every step ----------------------------------------

    def check_step_inputs(self, model_output: torch.Tensor, t, x_t: torch.Tensor) -> int:
        """Raise a clear error for a wrong shape, a t that is not ours, or NaN/inf; return t's index."""
        i = self.index_of(t)
        if model_output.shape != x_t.shape:
            raise ValueError(f"model output and sample must have the same shape: model output is "
                             f"{tuple(model_output.shape)}, sample x_t is {tuple(x_t.shape)}")
        for what, tensor in (("model output", model_output), ("sample x_t", x_t)):
            if not torch.isfinite(tensor).all():
                bad = int((~torch.isfinite(tensor)).sum())
                raise ValueError(f"{what} at step {i + 1} of {len(self.timesteps)} (t={float(self.timesteps[i]):g}) "
                                 f"holds {bad} NaN/inf value(s); the model diverged or was fed a bad input")
        return i

    def predict_x0_and_eps(self, model_output: torch.Tensor, x_t: torch.Tensor, sqrt_alpha_bar: torch.Tensor,
                           sqrt_one_minus_alpha_bar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x̂0, ε̂) from the model's prediction, for the variance-preserving x_t. Shapes of x_t.

        epsilon (DDPM eq. 15 rearranged):     x̂0 = (x_t − √(1−ᾱ)·ε̂) / √ᾱ
        v (Salimans & Ho 2022, v = √ᾱ·ε − √(1−ᾱ)·x0):
                                              x̂0 = √ᾱ·x_t − √(1−ᾱ)·v,   ε̂ = √ᾱ·v + √(1−ᾱ)·x_t
        """
        if self.prediction_type == "epsilon":
            pred_eps = model_output
            pred_x0 = (x_t - sqrt_one_minus_alpha_bar * pred_eps) / sqrt_alpha_bar
        else:  # v_prediction
            pred_x0 = sqrt_alpha_bar * x_t - sqrt_one_minus_alpha_bar * model_output
            pred_eps = sqrt_alpha_bar * model_output + sqrt_one_minus_alpha_bar * x_t
        return pred_x0, pred_eps

    def step(self, model_output: torch.Tensor, t, x_t: torch.Tensor,
             generator: torch.Generator | None = None) -> StepOutput:  # pragma: no cover - overridden
        raise NotImplementedError


def fresh_noise(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """z ~ N(0, I) shaped like x, drawn on the generator's device (CPU generators give the same
    noise on every machine) and moved to x's device."""
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=device).to(x.device)


def leading_timesteps(num_train_timesteps: int, n: int) -> torch.Tensor:
    """'leading' spacing (DDIM's and SD's original): 0, k, 2k, … (k = T // n), descending. (n,) int64"""
    step_ratio = num_train_timesteps // n
    return (torch.arange(n, dtype=torch.int64) * step_ratio).flip(0)


__all__ = ["StepOutput", "Sampler", "PREDICTION_TYPES", "fresh_noise", "leading_timesteps"]
