"""What every sampler shares: `StepOutput`, the timestep bookkeeping, the input checks, and the
conversion of a model's prediction (ε or v) into the predicted clean sample x̂0.

A sampler never counts steps behind the caller's back: `step(model_output, t, x_t)` finds t in
`self.timesteps` and takes the previous timestep from that array. Calling `step` twice with the
same t gives the same answer twice.

**Samplers that call the model twice per step** (Heun; Karras et al. 2022, Alg. 1) use the same
loop with one more branch. Their `step` is a *predictor*: it returns the first-order (Euler) guess
of the next sample and sets `StepOutput.correct_at` to the timestep where the model must be
evaluated on that guess. The loop calls the model there and hands the answer to `correct`, which
returns the finished step. Everything `correct` needs travels in the arguments (x_t and the
predictor's StepOutput), so there is still no hidden state:

    out = sampler.step(model_output, t, x)
    if out.correct_at is not None:                    # a second model call for this step
        t_next = out.correct_at
        second = model(sampler.scale_model_input(out.prev_sample, t_next), t_next, context)
        out = sampler.correct(second, t, x, out)
    x = out.prev_sample

One-call samplers leave `correct_at` at None and never see `correct`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from latentlab.schedules import NoiseSchedule

PREDICTION_TYPES = ("epsilon", "v_prediction")


@dataclass
class StepOutput:
    """The result of one sampler step. Both tensors are shaped like x_t.

    prev_sample: x at the next (smaller) timestep, in the sampler's own space. When `correct_at`
                 is set, only a first-order guess of it (see the module docstring).
    pred_x0:     the model's current guess of the clean sample x̂0 (data space, for every sampler),
                 from the model's output at (x_t, t).
    correct_at:  None for a finished step; for a two-call sampler's predictor, the timestep at which
                 the model must be evaluated on `prev_sample` before calling `sampler.correct`.
    """

    prev_sample: torch.Tensor
    pred_x0: torch.Tensor
    correct_at: float | None = None


class Sampler:
    """Base class: holds the schedule, the prediction type and the timesteps from `set_timesteps`."""

    name = "sampler"
    # the model outputs this sampler can read, and the schedule it runs on (the flow samplers
    # read a velocity on a FlowSchedule instead)
    prediction_types: tuple[str, ...] = PREDICTION_TYPES
    schedule_type: type = NoiseSchedule
    # Standard deviation of the pure-noise x at the first step: 1 for samplers working on the
    # variance-preserving x_t = √ᾱ·x0 + √(1−ᾱ)·ε; larger for σ-space samplers (Euler).
    init_noise_sigma = 1.0

    def __init__(self, schedule: NoiseSchedule | None = None, prediction_type: str = "epsilon"):
        if prediction_type not in self.prediction_types:
            raise ValueError(f"unknown prediction_type {prediction_type!r} for {type(self).__name__}; "
                             f"known: {', '.join(self.prediction_types)}")
        if schedule is not None and not isinstance(schedule, self.schedule_type):
            raise TypeError(f"{type(self).__name__} runs on a {self.schedule_type.__name__}, got a "
                            f"{type(schedule).__name__}: diffusion samplers take a NoiseSchedule, the flow "
                            "samplers ('flow_euler', 'flow_heun') a latentlab.flow.FlowSchedule")
        self.schedule = schedule if schedule is not None else self.default_schedule()
        self.prediction_type = prediction_type
        self.timesteps: torch.Tensor | None = None  # (n,), descending, set by set_timesteps

    @staticmethod
    def default_schedule() -> NoiseSchedule:
        """Stable Diffusion's schedule, for a sampler built without one."""
        return NoiseSchedule.from_name("scaled_linear")

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
        self.timesteps = self._use_timesteps(self._make_timesteps(num_inference_steps))
        return self.timesteps

    def _make_timesteps(self, n: int) -> torch.Tensor:  # pragma: no cover - every sampler overrides it
        """The sampler's grid of n timesteps, descending."""
        raise NotImplementedError

    def _use_timesteps(self, timesteps: torch.Tensor) -> torch.Tensor:
        """Prepare what the sampler derives from its timesteps (σ tables, memory); returns them."""
        return timesteps

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

    def add_noise(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """Noise clean data to timestep t in this sampler's space (img2img's starting point).

        Arguments in the order of `NoiseSchedule.q_sample(x0, t, noise)`. x0, noise: (B, ...); t: one
        of `self.timesteps`. Returns x shaped like x0."""
        check_add_noise_arguments(x0, t, noise)
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

    def correct(self, model_output: torch.Tensor, t, x_t: torch.Tensor, predicted: StepOutput) -> StepOutput:
        """Finish a two-call step (see the module docstring). One-call samplers never ask for it."""
        raise RuntimeError(f"{type(self).__name__} takes one model call per step: its step() never sets "
                           "correct_at, so there is nothing to correct")


def check_add_noise_arguments(x0: torch.Tensor, t, noise) -> None:
    """add_noise(x0, t, noise) follows q_sample's order; a tensor shaped like x0 in t's place is the
    old (x0, noise, t) order, and gets a message saying so rather than a puzzling index error."""
    if isinstance(t, torch.Tensor) and t.numel() > 1:
        raise TypeError(f"add_noise takes (x0, t, noise), like schedule.q_sample, with one timestep t; got a "
                        f"tensor of shape {tuple(t.shape)} as t. Written add_noise(x0, noise, t)? Swap the last two")
    if not isinstance(noise, torch.Tensor) or noise.shape != x0.shape:
        found = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
        raise ValueError(f"add_noise(x0, t, noise): noise must be shaped like x0 {tuple(x0.shape)}, got {found}")


def fresh_noise(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """z ~ N(0, I) shaped like x, drawn on the generator's device (CPU generators give the same
    noise on every machine) and moved to x's device."""
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=device).to(x.device)


def leading_timesteps(num_train_timesteps: int, n: int) -> torch.Tensor:
    """'leading' spacing (DDIM's and SD's original): 0, k, 2k, … (k = T // n), descending. (n,) int64"""
    step_ratio = num_train_timesteps // n
    return (torch.arange(n, dtype=torch.int64) * step_ratio).flip(0)


__all__ = ["StepOutput", "Sampler", "PREDICTION_TYPES", "check_add_noise_arguments", "fresh_noise",
           "leading_timesteps"]
