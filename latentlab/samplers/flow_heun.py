"""Heun's method on the rectified-flow ODE: flow_euler.py's step, then a second model call at the
trial point and the average of the two velocities (the trapezoidal rule, as in heun.py and Karras
et al. 2022, Alg. 1). 2n − 1 model calls for n steps: the last step lands on t = 0 with Euler.
Matches diffusers' `FlowMatchHeunDiscreteScheduler`.

| code             | meaning                                                      |
|------------------|--------------------------------------------------------------|
| `velocity`       | u_θ(x_i, t_i), the model's velocity at the start of the step |
| `predicted`      | the Euler trial point x_i + (t_{i+1} − t_i)·u                |
| `velocity_next`  | u_θ at the trial point and t_{i+1} (the second model call)   |
"""

from __future__ import annotations

import torch

from latentlab.samplers.base import StepOutput
from latentlab.samplers.flow_euler import FlowEulerSampler


class FlowHeunSampler(FlowEulerSampler):
    """Deterministic Heun (2nd order) on the flow ODE: two model calls per step but the last."""

    name = "flow_heun"

    def step(self, model_output: torch.Tensor, t, x_t: torch.Tensor,
             generator: torch.Generator | None = None) -> StepOutput:
        """The predictor: flow Euler's step; asks for a second call at t_{i+1} unless that is t = 0."""
        out = super().step(model_output, t, x_t, generator)
        i = self.index_of(t)
        if self.sigmas[i + 1] == 0:
            return out
        return StepOutput(prev_sample=out.prev_sample, pred_x0=out.pred_x0, correct_at=float(self.timesteps[i + 1]))

    def correct(self, model_output: torch.Tensor, t, x_t: torch.Tensor, predicted: StepOutput) -> StepOutput:
        """The corrector: model_output is the velocity at `predicted.prev_sample`, timestep
        `predicted.correct_at`; x_t is the sample the step started from."""
        i = self.check_step_inputs(model_output, t, x_t)
        if predicted.correct_at is None or predicted.correct_at != float(self.timesteps[i + 1]):
            raise ValueError(f"correct() takes the StepOutput that step() returned for t={float(self.timesteps[i]):g}; "
                             f"got one with correct_at={predicted.correct_at}")
        sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]

        # 1. the first velocity, recovered from the predictor's x̂0 = x_t − t·u
        velocity = (x_t - predicted.pred_x0) / sigma
        velocity_next = model_output

        # 2. the step again from x_t, along the average velocity
        dt = sigma_next - sigma
        return StepOutput(prev_sample=x_t + dt * 0.5 * (velocity + velocity_next), pred_x0=predicted.pred_x0)
