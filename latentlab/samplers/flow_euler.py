"""Euler's method on the rectified-flow ODE (Liu et al. 2023; Stable Diffusion 3, Esser et al. 2024),
as diffusers' `FlowMatchEulerDiscreteScheduler` runs it.

A flow model predicts the velocity u_θ(x_t, t) ≈ ε − x0 along the straight line x_t = (1 − t)·x0 + t·ε
(latentlab.flow). Sampling integrates dx/dt = u_θ from t = 1 (pure noise) to t = 0. Where the
paths are straight, one Euler step is exact; the fewer bends, the fewer steps.

The state is the flow sample itself, which is also what the model was trained on: no input
scaling (`scale_model_input` is the identity) and pure noise has std 1 (`init_noise_sigma` = 1).

| code             | paper / diffusers             | meaning                                          |
|------------------|-------------------------------|--------------------------------------------------|
| `timesteps[i]`   | 1000·t_i                      | what the model's time embedding sees             |
| `sigmas[i]`      | t_i (σ in diffusers; t_N = 0) | flow time at step i, after the shift             |
| `x`              | z_{t_i}                       | the flow sample (1 − t)·x0 + t·ε                 |
| `velocity`       | v_Θ(z_t, t) (SD3 eq. 2–3)     | the model's prediction of ε − x0                 |
| `pred_x0`        | z_t − t·v                     | the clean sample at the end of a straight path   |
| `dt`             | t_{i+1} − t_i                 | the step (negative: t shrinks)                   |

The grid is SD3's own (its reference `sd3_infer.py` and diffusers alike): n values evenly spaced
between the largest and the smallest flow time of the shifted training table, then shifted.
So with shift α ≠ 1 the last one is shifted twice; we keep it, to sample exactly as SD3 does.
"""

from __future__ import annotations

import numpy as np
import torch

from latentlab.flow import FlowSchedule, interpolate, shift_time
from latentlab.samplers.base import Sampler, StepOutput, check_add_noise_arguments


class FlowEulerSampler(Sampler):
    """Deterministic Euler on the flow ODE; velocity-predicting models; SD3's shifted grid."""

    name = "flow_euler"
    prediction_types = ("velocity",)
    schedule_type = FlowSchedule

    def __init__(self, schedule: FlowSchedule | None = None, prediction_type: str = "velocity"):
        super().__init__(schedule, prediction_type)

    @staticmethod
    def default_schedule() -> FlowSchedule:
        """The unshifted straight-line schedule, T = 1000."""
        return FlowSchedule()

    def _make_timesteps(self, n: int) -> torch.Tensor:
        T, table = self.schedule.num_train_timesteps, self.schedule.sigmas
        # evenly spaced between the table's ends (in timestep units, as SD3 does), then shifted
        unshifted = np.linspace(float(table[0]) * T, float(table[-1]) * T, n) / T
        sigmas = torch.from_numpy(shift_time(unshifted, self.schedule.shift)).float()
        return sigmas * T

    def _use_timesteps(self, timesteps: torch.Tensor) -> torch.Tensor:
        timesteps = timesteps.float()
        self.sigmas = torch.cat([timesteps / self.schedule.num_train_timesteps, torch.zeros(1)])  # (n+1,)
        return timesteps

    def add_noise(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """img2img start: the flow sample (1 − t)·x0 + t·ε at timestep t (q_sample's argument order)."""
        check_add_noise_arguments(x0, t, noise)
        return interpolate(x0, self.sigmas[self.index_of(t)], noise)

    def step(self, model_output: torch.Tensor, t, x_t: torch.Tensor,
             generator: torch.Generator | None = None) -> StepOutput:
        """One Euler step t_i → t_{i+1}. model_output: the velocity, shaped like x_t. Deterministic:
        `generator` is accepted so every sampler has the same step()."""
        i = self.check_step_inputs(model_output, t, x_t)
        sigma, sigma_next = self.sigmas[i], self.sigmas[i + 1]
        velocity = model_output

        # 1. where the straight line through x_t with this velocity meets t = 0
        pred_x0 = x_t - sigma * velocity

        # 2. one Euler step along dx/dt = u
        dt = sigma_next - sigma
        return StepOutput(prev_sample=x_t + dt * velocity, pred_x0=pred_x0)
