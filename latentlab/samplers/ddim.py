"""DDIM (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models").

A non-Markovian process with the same marginals q(x_t | x0) as DDPM, so the same trained model
serves. Each step re-noises the predicted x̂0 to the next timestep, re-using the predicted noise ε̂
for the "direction pointing to x_t". η = 0 makes sampling deterministic (an ODE solver); η = 1
brings back DDPM's amount of fresh noise.

| code                     | paper (eq. 12, 16)              | meaning                                      |
|--------------------------|---------------------------------|----------------------------------------------|
| `t`, `prev_t`            | t, t − 1 (τ_i, τ_{i−1} in §4.2) | current and next timestep                    |
| `alpha_bar`, `alpha_bar_prev` | α_t, α_{t−1} (the paper writes α for our ᾱ) | signal left (ᾱ_{−1} = 1) |
| `pred_x0`                | "predicted x0" term of eq. 12   | (x_t − √(1−ᾱ_t)·ε̂) / √ᾱ_t                   |
| `pred_eps`               | ε_θ(x_t)                        | predicted noise                              |
| `eta`                    | η                               | 0: deterministic, 1: DDPM-like               |
| `std`                    | σ_t(η) (eq. 16)                 | std of the fresh noise                       |
| `direction`              | √(1 − ᾱ_{t−1} − σ_t²)·ε̂        | "direction pointing to x_t"                  |
"""

from __future__ import annotations

import torch

from latentlab.samplers.base import Sampler, StepOutput, fresh_noise, leading_timesteps
from latentlab.schedules import NoiseSchedule


class DDIMSampler(Sampler):
    """DDIM with stochasticity η ≥ 0, 'leading' timesteps and ᾱ_{−1} = 1 (the last step lands on x̂0)."""

    name = "ddim"

    def __init__(self, schedule: NoiseSchedule | None = None, prediction_type: str = "epsilon", eta: float = 0.0):
        super().__init__(schedule, prediction_type)
        if not eta >= 0:  # also refuses NaN
            raise ValueError(f"eta (η) must be ≥ 0: 0 is deterministic DDIM, 1 is DDPM-like; got {eta}")
        self.eta = float(eta)

    def _make_timesteps(self, n: int) -> torch.Tensor:
        return leading_timesteps(self.schedule.num_train_timesteps, n)

    def step(self, model_output: torch.Tensor, t, x_t: torch.Tensor,
             generator: torch.Generator | None = None) -> StepOutput:
        """One step t → t−1 (eq. 12). model_output (ε or v) and x_t: same shape (B, ...)."""
        # Steps 1–2 open DDPM's step (ddpm.py) too: written out in both on purpose, so each sampler file
        # reads top to bottom on its own, as the paper's algorithm does.
        i = self.check_step_inputs(model_output, t, x_t)
        t = float(self.timesteps[i])
        prev_t = self.previous_timestep(t)

        # 1. ᾱ at both ends of the jump
        alpha_bar = self.schedule.alpha_bar[int(t)]
        alpha_bar_prev = self.alpha_bar_or_one(prev_t)

        # 2. predicted x0 and predicted noise (the first and the ε_θ of eq. 12)
        pred_x0, pred_eps = self.predict_x0_and_eps(model_output, x_t, alpha_bar**0.5, (1 - alpha_bar) ** 0.5)

        # 3. σ_t(η) of eq. 16: η·√((1 − ᾱ_{t−1})/(1 − ᾱ_t))·√(1 − ᾱ_t/ᾱ_{t−1})
        variance = (1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev)
        std = self.eta * variance**0.5

        # 4. eq. 12: x_{t−1} = √ᾱ_{t−1}·x̂0 + √(1 − ᾱ_{t−1} − σ_t²)·ε̂ + σ_t·z
        direction = (1 - alpha_bar_prev - std**2) ** 0.5 * pred_eps
        prev_sample = alpha_bar_prev**0.5 * pred_x0 + direction
        if self.eta > 0:
            noise = fresh_noise(x_t, generator)
            prev_sample = prev_sample + std * noise
        return StepOutput(prev_sample=prev_sample, pred_x0=pred_x0)
