"""Heun's method on the probability-flow ODE in σ-space (Karras et al. 2022, "Elucidating the Design
Space of Diffusion-Based Generative Models", Algorithm 1, deterministic: S_churn = 0).

Euler (euler.py) steps along the slope at the start of the step, d_i = (x_i − D(x_i; σ_i))/σ_i, and
so misses wherever the path bends. Heun first takes that Euler step to a trial point x̃, asks the
model for the slope *there*, d'_i, and redoes the step with the average of the two slopes: the
trapezoidal rule, second order. The price is a second model call per step, except the last step
(σ_{i+1} = 0, where the slope cannot be evaluated; Alg. 1 line 7 skips it): 2n − 1 calls for n steps.

The second call happens in the loop, in plain sight (see base.py): `step` is the predictor and
sets `correct_at` = t_{i+1}; the loop calls the model on `prev_sample` at t_{i+1}; `correct` returns
the finished step. Timesteps, σ's, input scaling and img2img noising are Euler's.

| code             | paper (Karras 2022, Alg. 1)      | meaning                                          |
|------------------|----------------------------------|--------------------------------------------------|
| `sigmas[i]`      | t_i (σ(t) = t; t_N = 0)          | noise level at step i                            |
| `x`              | x_i                              | the σ-space sample, x = x0 + σ·ε                 |
| `pred_x0`        | D_θ(x_i; t_i)                    | the denoised guess at the start of the step      |
| `derivative`     | d_i = (x_i − D_θ(x_i; t_i))/t_i  | slope at the start (line 5)                      |
| `predicted`      | x_{i+1} of line 6                | the Euler trial point x̃ (the predictor)          |
| `derivative_next`| d'_i = (x_{i+1} − D_θ(x_{i+1}; t_{i+1}))/t_{i+1} | slope at the trial point (line 7) |
| `dt`             | t_{i+1} − t_i                    | the step (negative: σ shrinks)                   |
"""

from __future__ import annotations

import torch

from latentlab.samplers.base import StepOutput
from latentlab.samplers.euler import EulerSampler


class HeunSampler(EulerSampler):
    """Deterministic Heun (2nd order) in σ-space: Euler's grid, two model calls per step but the last."""

    name = "heun"

    def step(self, model_output: torch.Tensor, t, x_t: torch.Tensor,
             generator: torch.Generator | None = None) -> StepOutput:
        """The predictor: an Euler step σ_i → σ_{i+1} (Alg. 1 lines 5–6). x_t: the σ-space sample;
        model_output (ε or v) has its shape. Sets `correct_at` = t_{i+1} unless σ_{i+1} = 0.

        `generator` is unused (deterministic); it is accepted so every sampler has the same step()."""
        i = self.check_step_inputs(model_output, t, x_t)
        x = x_t
        sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]

        # 1. the denoiser and the slope at the start of the step (line 5)
        pred_x0 = self.denoise(model_output, x, sigma)
        derivative = (x - pred_x0) / sigma

        # 2. the Euler trial point x̃ (line 6)
        predicted = x + derivative * (sigma_next - sigma)

        # 3. the last step lands on σ = 0, where (x − D)/σ is undefined: it stays first order (line 7)
        if sigma_next == 0:
            return StepOutput(prev_sample=predicted, pred_x0=pred_x0)
        return StepOutput(prev_sample=predicted, pred_x0=pred_x0, correct_at=float(self.timesteps[i + 1]))

    def correct(self, model_output: torch.Tensor, t, x_t: torch.Tensor, predicted: StepOutput) -> StepOutput:
        """The corrector (Alg. 1 lines 7–8): model_output is the model's ε or v at `predicted.prev_sample`,
        timestep `predicted.correct_at`; x_t is the sample the step started from. Returns the finished
        step (pred_x0 stays the guess at x_t, so the trajectory pairs each x_t with its own x̂0)."""
        i = self.check_step_inputs(model_output, t, x_t)
        if predicted.correct_at is None or predicted.correct_at != float(self.timesteps[i + 1]):
            raise ValueError(f"correct() takes the StepOutput that step() returned for t={float(self.timesteps[i]):g} "
                             f"(correct_at={float(self.timesteps[i + 1]) if i + 1 < len(self.timesteps) else None}); "
                             f"got one with correct_at={predicted.correct_at}")
        sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]
        x_trial = predicted.prev_sample

        # 4. both slopes: d_i at the start (from the predictor's x̂0), d'_i at the trial point (line 7)
        derivative = (x_t - predicted.pred_x0) / sigma
        derivative_next = (x_trial - self.denoise(model_output, x_trial, sigma_next)) / sigma_next

        # 5. the step again from x_i, along their average (line 8: the trapezoidal rule)
        dt = sigma_next - sigma
        prev_sample = x_t + 0.5 * (derivative + derivative_next) * dt
        return StepOutput(prev_sample=prev_sample, pred_x0=predicted.pred_x0)
