"""Euler's method on the probability-flow ODE in σ-space (Karras et al. 2022, "Elucidating the Design
Space of Diffusion-Based Generative Models", eq. 3–4 and Algorithm 1 without its second-order step).

Divide x_t = √ᾱ·x0 + √(1−ᾱ)·ε by √ᾱ and you get x = x0 + σ·ε with σ = √((1−ᾱ)/ᾱ): noise is just
*added*, with standard deviation σ. In this space the ODE is  dx/dσ = (x − D(x; σ)) / σ,  where D is
the denoiser (the predicted x0), and Euler takes one straight step along it from σ_i to σ_{i+1}.

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

from latentlab.samplers.base import Sampler, StepOutput


class EulerSampler(Sampler):
    """Deterministic Euler in σ-space, timesteps evenly spaced in [0, T−1] ('linspace', fractional t)."""

    name = "euler"

    def _make_timesteps(self, n: int) -> torch.Tensor:
        T = self.schedule.num_train_timesteps
        # n evenly spaced, possibly fractional, timesteps from T−1 down to 0
        timesteps = np.linspace(0, T - 1, n, dtype=np.float32)[::-1].copy()
        # σ at fractional t: linear interpolation of the σ table, then σ_N = 0 to end on clean data
        table = self.schedule.sigma.numpy()
        sigmas = np.interp(timesteps, np.arange(T), table)
        self.sigmas = torch.from_numpy(np.concatenate([sigmas, [0.0]]).astype(np.float32))  # (n+1,)
        return torch.from_numpy(timesteps)

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

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
        """img2img start in σ-space: x = x0 + σ_t·ε."""
        sigma = self.sigmas[self.index_of(t)]
        return x0 + sigma * noise

    def step(self, model_output: torch.Tensor, t, x_t: torch.Tensor,
             generator: torch.Generator | None = None) -> StepOutput:
        """One Euler step σ_i → σ_{i+1}. x_t is the σ-space sample; model_output (ε or v) has its shape.

        `generator` is unused (deterministic); it is accepted so every sampler has the same step().
        """
        i = self.check_step_inputs(model_output, t, x_t)
        x = x_t
        sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]

        # 1. the denoiser D(x; σ): the predicted clean sample
        if self.prediction_type == "epsilon":
            pred_x0 = x - sigma * model_output  # x = x0 + σ·ε
        else:  # v_prediction, on the VP input x/√(σ²+1): x̂0 = √ᾱ·x_t − √(1−ᾱ)·v
            pred_x0 = model_output * (-sigma / (sigma**2 + 1) ** 0.5) + x / (sigma**2 + 1)

        # 2. the ODE's slope dx/dσ = (x − D)/σ (Karras eq. 3 with σ(t) = t)
        derivative = (x - pred_x0) / sigma

        # 3. one Euler step along it
        dt = sigma_next - sigma
        return StepOutput(prev_sample=x + derivative * dt, pred_x0=pred_x0)
