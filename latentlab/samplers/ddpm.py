"""DDPM: ancestral sampling (Ho et al. 2020, "Denoising Diffusion Probabilistic Models", Algorithm 2).

Each step samples x_{t'} from the Gaussian posterior q(x_{t'} | x_t, x0) with x0 replaced by the
model's guess x̂0 — so every step adds fresh noise. t' is the previous timestep in `timesteps`
(t' = t − 1 with all 1000 steps; with fewer steps the same formulas hold for the jump t → t').

| code                     | paper                                  | meaning                                |
|--------------------------|----------------------------------------|----------------------------------------|
| `t`, `prev_t`            | t, t' (t − 1 in the paper)             | current and next timestep              |
| `alpha_bar`, `alpha_bar_prev` | ᾱ_t, ᾱ_{t'}                       | signal left at t and t' (ᾱ_{−1} = 1)   |
| `alpha`, `beta`          | α_t = ᾱ_t/ᾱ_{t'}, β_t = 1 − α_t        | the jump's own α and β                 |
| `pred_x0`                | x̂0                                     | predicted clean sample (eq. 15)        |
| `coef_x0`, `coef_xt`     | the two weights of μ̃_t (eq. 7)        | posterior mean = coef_x0·x̂0 + coef_xt·x_t |
| `variance`               | β̃_t (eq. 7)                           | posterior variance ("fixed_small", §3.2) |
| `noise`                  | z ~ N(0, I)                            | fresh noise, none at the last step     |
"""

from __future__ import annotations

import torch

from latentlab.samplers.base import Sampler, StepOutput, fresh_noise, leading_timesteps


class DDPMSampler(Sampler):
    """Ancestral DDPM sampler, 'leading' timesteps (0, k, 2k, … descending; diffusers' default)."""

    name = "ddpm"

    def _make_timesteps(self, n: int) -> torch.Tensor:
        return leading_timesteps(self.schedule.num_train_timesteps, n)

    def step(self, model_output: torch.Tensor, t, x_t: torch.Tensor,
             generator: torch.Generator | None = None) -> StepOutput:
        """One step t → t'. model_output (ε or v) and x_t: same shape (B, ...). Returns StepOutput."""
        i = self.check_step_inputs(model_output, t, x_t)
        t = float(self.timesteps[i])
        prev_t = self.previous_timestep(t)

        # 1. ᾱ at both ends of the jump, and the jump's own α_t, β_t
        alpha_bar = self.schedule.alpha_bar[int(t)]
        alpha_bar_prev = self.alpha_bar_or_one(prev_t)
        alpha = alpha_bar / alpha_bar_prev
        beta = 1 - alpha

        # 2. the predicted clean sample x̂0 (eq. 15)
        pred_x0, _ = self.predict_x0_and_eps(model_output, x_t, alpha_bar**0.5, (1 - alpha_bar) ** 0.5)

        # 3. the posterior mean μ̃_t(x_t, x̂0) (eq. 7)
        coef_x0 = alpha_bar_prev**0.5 * beta / (1 - alpha_bar)
        coef_xt = alpha**0.5 * (1 - alpha_bar_prev) / (1 - alpha_bar)
        mean = coef_x0 * pred_x0 + coef_xt * x_t

        # 4. add noise with the posterior variance β̃_t = (1 − ᾱ_{t'})/(1 − ᾱ_t)·β_t (eq. 7);
        #    the last step (t' = −1) returns the mean: β̃ = 0 there.
        if prev_t < 0:
            return StepOutput(prev_sample=mean, pred_x0=pred_x0)
        variance = ((1 - alpha_bar_prev) / (1 - alpha_bar) * beta).clamp(min=1e-20)
        noise = fresh_noise(x_t, generator)
        return StepOutput(prev_sample=mean + variance**0.5 * noise, pred_x0=pred_x0)
