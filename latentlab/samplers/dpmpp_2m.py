"""DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
Probabilistic Models", Algorithm 2): a second-order *multistep* solver of the diffusion ODE.

It writes the ODE in λ = log(α_t/σ_t) (half the log-SNR), where the linear part integrates exactly,
and approximates the x0-prediction between two steps by a line through the last two predictions.
Second order for the price of one model call per step: the previous call is re-used.

| code                     | paper (Alg. 2)            | meaning                                                |
|--------------------------|---------------------------|--------------------------------------------------------|
| `alpha_s`, `sigma_s`     | α_{t_{i−1}}, σ_{t_{i−1}}  | VP signal and noise scales now: x = α·x0 + σ·ε, α² + σ² = 1 |
| `alpha_t`, `sigma_t`     | α_{t_i}, σ_{t_i}          | the same at the next timestep (σ = 0 after the last)   |
| `lambda_s`, `lambda_t`   | λ = log(α/σ)              | half log-SNR                                           |
| `h`, `h_last`            | h_i, h_{i−1}              | λ_t − λ_s, and the previous step's h                   |
| `r`                      | r_i = h_{i−1}/h_i         | ratio of step sizes                                    |
| `pred_x0`, `previous`    | x_θ(x̃_{t_{i−1}}), the one before | this and the previous x0-prediction             |
| `D`                      | D_i                       | the extrapolated x0 used for the step                  |

State: a multistep method must remember the previous x0-prediction. It is kept *with the index of
its timestep* and used only when that index is the step just before this one; otherwise (first
step, img2img starting mid-way, a repeated call) the step is first order. `set_timesteps` clears it.
"""

from __future__ import annotations

import numpy as np
import torch

from latentlab.samplers.base import Sampler, StepOutput
from latentlab.schedules import NoiseSchedule


class DPMPP2MSampler(Sampler):
    """DPM-Solver++(2M), 'linspace' timesteps over n+1 points with the last one replaced by σ = 0."""

    name = "dpmpp_2m"

    def __init__(self, schedule: NoiseSchedule | None = None, prediction_type: str = "epsilon"):
        super().__init__(schedule, prediction_type)
        self._previous: tuple[int, torch.Tensor] | None = None  # (index of its timestep, x̂0)

    def _make_timesteps(self, n: int) -> torch.Tensor:
        T = self.schedule.num_train_timesteps
        # n+1 evenly spaced integer timesteps T−1 … 0; the final 0 becomes σ = 0 (clean data)
        timesteps = np.linspace(0, T - 1, n + 1).round()[::-1][:-1].copy().astype(np.int64)
        return torch.from_numpy(timesteps)

    def _use_timesteps(self, timesteps: torch.Tensor) -> torch.Tensor:
        self.sigmas = torch.cat([self.schedule.sigma[timesteps], torch.zeros(1)])  # (n+1,) σ-space σ
        self._previous = None  # a new grid: the remembered x̂0 belongs to none of its steps
        return timesteps

    @staticmethod
    def _alpha_sigma(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """σ-space σ → VP (α_t, σ_t) = (1/√(σ²+1), σ/√(σ²+1))."""
        alpha = 1 / (sigma**2 + 1) ** 0.5
        return alpha, sigma * alpha

    def step(self, model_output: torch.Tensor, t, x_t: torch.Tensor,
             generator: torch.Generator | None = None) -> StepOutput:
        """One step t_{i−1} → t_i. model_output (ε or v) and x_t: same shape (B, ...). Deterministic."""
        i = self.check_step_inputs(model_output, t, x_t)
        alpha_s, sigma_s = self._alpha_sigma(self.sigmas[i])
        alpha_t, sigma_t = self._alpha_sigma(self.sigmas[i + 1])

        # 1. the data prediction x_θ (DPM-Solver++ solves the ODE in x0, not ε)
        pred_x0, _ = self.predict_x0_and_eps(model_output, x_t, alpha_s, sigma_s)
        previous, self._previous = self._previous, (i, pred_x0)

        # 2. the last step goes to σ = 0: λ = ∞, and the exact solution there is x̂0 itself
        if i == len(self.timesteps) - 1:
            return StepOutput(prev_sample=pred_x0, pred_x0=pred_x0)

        # 3. step size in λ = log(α/σ)
        lambda_s = torch.log(alpha_s) - torch.log(sigma_s)
        lambda_t = torch.log(alpha_t) - torch.log(sigma_t)
        h = lambda_t - lambda_s

        # 4. D: the x0 to integrate with. First order (Alg. 2, first step) when there is no
        #    prediction from the step just before; else the 2M extrapolation
        #    D_i = (1 + 1/(2r))·x̂0_i − 1/(2r)·x̂0_{i−1},  r = h_{i−1}/h_i.
        if previous is not None and previous[0] == i - 1 and previous[1].shape == pred_x0.shape:
            alpha_u, sigma_u = self._alpha_sigma(self.sigmas[i - 1])
            h_last = lambda_s - (torch.log(alpha_u) - torch.log(sigma_u))
            r = h_last / h
            D = pred_x0 + 0.5 / r * (pred_x0 - previous[1])
        else:
            D = pred_x0

        # 5. the exact linear part plus the integrated x0 term (Alg. 2):
        #    x_{t_i} = (σ_t/σ_s)·x − α_t·(e^{−h} − 1)·D
        prev_sample = (sigma_t / sigma_s) * x_t - alpha_t * (torch.exp(-h) - 1.0) * D
        return StepOutput(prev_sample=prev_sample, pred_x0=pred_x0)
