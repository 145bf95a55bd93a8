"""Euler's method on the probability-flow ODE in σ-space (Karras et al. 2022, "Elucidating the Design
Space of Diffusion-Based Generative Models", eq. 3–4 and Algorithm 1 without its second-order step).

Divide x_t = √ᾱ·x0 + √(1−ᾱ)·ε by √ᾱ and you get x = x0 + σ·ε with σ = √((1−ᾱ)/ᾱ): noise is just
*added*, with standard deviation σ. In this space the ODE is  dx/dσ = (x − D(x; σ)) / σ,  where D is
the denoiser (the predicted x0), and Euler takes one straight step along it from σ_i to σ_{i+1}.

This *is* DDIM with η = 0 (Song et al. 2021 §4.3, eq. 14–15: DDIM is Euler's method for
dx̄ = ε̂ dσ with x̄ = x_t/√ᾱ; Karras et al. 2022 §3 say the same): on the same timesteps the two
give the same samples. What differs by default is only the grid: Euler visits T−1 … 0 evenly
('linspace', 999, 946.4, …), DDIM the 'leading' 950, 900, … 0. `EulerSampler(timestep_spacing=
"leading")` takes DDIM's grid, and then DDIM's pictures (tests/test_samplers.py, lesson 05).

The state this sampler holds is in σ-space; the model was trained on the variance-preserving x_t.
The conversion is explicit — the loop calls it where a reader sees it:

    model_input = sampler.scale_model_input(x, t)    # x_t = x / √(σ² + 1)
    model_output = model(model_input, t, context)
    x = sampler.step(model_output, t, x).prev_sample

| code             | paper (Karras 2022)          | meaning                                          |
|------------------|------------------------------|--------------------------------------------------|
| `sigmas[i]`      | σ_i (σ_N = 0)                | noise level at step i, from the schedule's σ(t)  |
| `x`              | x_i                          | the σ-space sample, x = x0 + σ·ε                 |
| `pred_x0`        | D(x_i; σ_i)                  | the denoised guess                               |
| `derivative`     | d_i = (x_i − D)/σ_i (eq. 3)  | slope of the ODE                                 |
| `dt`             | σ_{i+1} − σ_i                | the step (negative: σ shrinks)                   |
"""

from __future__ import annotations

import numpy as np
import torch

from latentlab.samplers.base import Sampler, StepOutput, check_add_noise_arguments, leading_timesteps
from latentlab.schedules import NoiseSchedule


class EulerSampler(Sampler):
    """Deterministic Euler in σ-space. Timesteps evenly spaced in [0, T−1] ('linspace', fractional t,
    k-diffusion's and diffusers' default), or DDIM's 'leading' 0, k, 2k, … to compare the two."""

    name = "euler"

    def __init__(self, schedule: NoiseSchedule | None = None, prediction_type: str = "epsilon",
                 timestep_spacing: str = "linspace"):
        super().__init__(schedule, prediction_type)
        if timestep_spacing not in ("linspace", "leading"):
            raise ValueError(f"timestep_spacing must be 'linspace' (T−1 … 0 evenly) or 'leading' (DDIM's "
                             f"grid), got {timestep_spacing!r}")
        self.timestep_spacing = timestep_spacing

    def _make_timesteps(self, n: int) -> torch.Tensor:
        T = self.schedule.num_train_timesteps
        if self.timestep_spacing == "leading":
            return leading_timesteps(T, n).float()
        # n evenly spaced, possibly fractional, timesteps from T−1 down to 0
        return torch.from_numpy(np.linspace(0, T - 1, n, dtype=np.float32)[::-1].copy())

    def _use_timesteps(self, timesteps: torch.Tensor) -> torch.Tensor:
        # σ at fractional t: linear interpolation of the σ table, then σ_N = 0 to end on clean data
        self.sigmas = torch.cat([self.schedule.sigma_at(timesteps), torch.zeros(1)])  # (n+1,) float32
        return timesteps.float()

    @property
    def init_noise_sigma(self) -> float:
        """Std of pure noise in σ-space at the first step: √(σ_max² + 1) (the VP N(0, I) divided by √ᾱ)."""
        if self.timesteps is None:
            raise RuntimeError("EulerSampler: call set_timesteps(n) before asking for init_noise_sigma")
        return float((self.sigmas[0] ** 2 + 1) ** 0.5)

    def scale_model_input(self, x: torch.Tensor, t) -> torch.Tensor:
        """σ-space x → the VP x_t the model was trained on: x_t = √ᾱ·x = x / √(σ² + 1)."""
        sigma = self.sigmas[self.index_of(t)]
        return x / (sigma**2 + 1) ** 0.5

    def add_noise(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """img2img start in σ-space: x = x0 + σ_t·ε. Arguments in q_sample's order."""
        check_add_noise_arguments(x0, t, noise)
        sigma = self.sigmas[self.index_of(t)]
        return x0 + sigma * noise

    def denoise(self, model_output: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """The denoiser D(x; σ) of Karras et al.: the predicted clean sample, from the model's ε or v
        at the σ-space sample x. Shapes of x."""
        if self.prediction_type == "epsilon":
            return x - sigma * model_output  # x = x0 + σ·ε
        # v_prediction, on the VP input x/√(σ²+1): x̂0 = √ᾱ·x_t − √(1−ᾱ)·v
        return model_output * (-sigma / (sigma**2 + 1) ** 0.5) + x / (sigma**2 + 1)

    def step(self, model_output: torch.Tensor, t, x_t: torch.Tensor,
             generator: torch.Generator | None = None) -> StepOutput:
        """One Euler step σ_i → σ_{i+1}. x_t is the σ-space sample; model_output (ε or v) has its shape.

        `generator` is unused (deterministic); it is accepted so every sampler has the same step().
        """
        i = self.check_step_inputs(model_output, t, x_t)
        x = x_t
        sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]

        # 1. the denoiser D(x; σ): the predicted clean sample
        pred_x0 = self.denoise(model_output, x, sigma)

        # 2. the ODE's slope dx/dσ = (x − D)/σ (Karras eq. 3 with σ(t) = t)
        derivative = (x - pred_x0) / sigma

        # 3. one Euler step along it
        dt = sigma_next - sigma
        return StepOutput(prev_sample=x + derivative * dt, pred_x0=pred_x0)
