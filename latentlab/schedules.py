"""The forward (noising) process: beta schedules and the quantities derived from them.

A diffusion model is trained on noised data x_t for t = 0 … T−1. The *schedule* says how much
noise each t adds. Everything a sampler needs follows from the betas:

| name in code               | symbol            | meaning                                              |
|----------------------------|-------------------|------------------------------------------------------|
| `betas[t]`                 | β_t               | variance of the noise added at step t (DDPM eq. 2)   |
| `alphas[t]`                | α_t = 1 − β_t     | fraction of the variance kept at step t              |
| `alpha_bar[t]`             | ᾱ_t = ∏_{s≤t} α_s | fraction of the signal's variance left at t          |
| `sqrt_alpha_bar[t]`        | √ᾱ_t              | how much of x0 is in x_t                             |
| `sqrt_one_minus_alpha_bar` | √(1 − ᾱ_t)        | how much noise is in x_t                             |
| `snr[t]`                   | ᾱ_t / (1 − ᾱ_t)   | signal-to-noise ratio (Kingma et al. 2021)           |
| `sigma[t]`                 | √((1 − ᾱ_t)/ᾱ_t)  | noise level in σ-space, x = x0 + σ·ε (Karras 2022)   |

q_sample (DDPM eq. 4, Ho et al. 2020):  x_t = √ᾱ_t · x0 + √(1 − ᾱ_t) · ε,   ε ~ N(0, I).

Tables are float32 and computed with the same operations as Stable Diffusion's code, so that
ᾱ agrees bit for bit with diffusers (the oracle tests rely on it).
"""

from __future__ import annotations

import math

import numpy as np
import torch

# --- beta schedules: pure functions, (T,) float32 -------------------------------------------


def linear_betas(num_train_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """DDPM's schedule (Ho et al. 2020 §4): β rises linearly from 1e-4 to 0.02 over T = 1000 steps. → (T,)"""
    _check_num_train_timesteps(num_train_timesteps)
    return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float32)


def scaled_linear_betas(num_train_timesteps: int = 1000, beta_start: float = 0.00085,
                        beta_end: float = 0.012) -> torch.Tensor:
    """Stable Diffusion's schedule: √β linear from √0.00085 to √0.012, i.e. linspace(√β0, √β1)². → (T,)

    Less noise at the end than DDPM's linear schedule: the latents are already unit-variance and
    small (4×64×64), so a linear schedule would destroy them too early (LDM, Rombach et al. 2022).
    """
    _check_num_train_timesteps(num_train_timesteps)
    return torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float32) ** 2


def cosine_betas(num_train_timesteps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal 2021 eq. 17: ᾱ(τ) = cos²((τ + s)/(1 + s) · π/2), β_t = 1 − ᾱ(t+1)/ᾱ(t). → (T,)

    β is clipped at 0.999 (their §3.2) so that the last step does not divide by ᾱ ≈ 0.
    """
    _check_num_train_timesteps(num_train_timesteps)
    T = num_train_timesteps

    def f(tau: float) -> float:
        return math.cos((tau + s) / (1 + s) * math.pi / 2) ** 2

    betas = [min(1 - f((t + 1) / T) / f(t / T), max_beta) for t in range(T)]
    return torch.tensor(betas, dtype=torch.float32)


BETA_SCHEDULES = {"linear": linear_betas, "scaled_linear": scaled_linear_betas, "cosine": cosine_betas}


def _check_num_train_timesteps(num_train_timesteps: int) -> None:
    if not isinstance(num_train_timesteps, int) or num_train_timesteps < 2:
        raise ValueError(f"num_train_timesteps must be an integer ≥ 2, got {num_train_timesteps!r}")


# --- the schedule object ---------------------------------------------------------------------


class NoiseSchedule:
    """Every table of the forward process, from a (T,) tensor of betas. All tables are (T,) float32.

    Build one by name: `NoiseSchedule.from_name("scaled_linear")` (Stable Diffusion's, the default).
    """

    def __init__(self, betas: torch.Tensor, name: str = "custom"):
        betas = torch.as_tensor(betas, dtype=torch.float32)
        if betas.ndim != 1 or len(betas) < 2:
            raise ValueError(f"betas must be a 1-D tensor of length T ≥ 2, got shape {tuple(betas.shape)}")
        if not ((betas > 0) & (betas < 1)).all():
            raise ValueError("every beta must lie in (0, 1): it is the variance of the noise added at one step")
        self.name = name
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alpha_bar = torch.cumprod(self.alphas, dim=0)  # ᾱ_t = ∏_{s≤t} α_s
        self.sqrt_alpha_bar = self.alpha_bar.sqrt()
        self.sqrt_one_minus_alpha_bar = (1.0 - self.alpha_bar).sqrt()
        self.snr = self.alpha_bar / (1.0 - self.alpha_bar)
        self.sigma = ((1.0 - self.alpha_bar) / self.alpha_bar) ** 0.5  # = 1/√SNR

    @classmethod
    def from_name(cls, name: str = "scaled_linear", num_train_timesteps: int = 1000) -> NoiseSchedule:
        """One of `BETA_SCHEDULES` ('linear', 'scaled_linear', 'cosine') with its paper's defaults."""
        if name not in BETA_SCHEDULES:
            raise ValueError(f"unknown schedule {name!r}; known schedules: {', '.join(BETA_SCHEDULES)}")
        return cls(BETA_SCHEDULES[name](num_train_timesteps), name=name)

    @property
    def num_train_timesteps(self) -> int:
        return len(self.betas)

    def __repr__(self) -> str:
        return f"NoiseSchedule({self.name!r}, T={self.num_train_timesteps})"

    @property
    def snr_db(self) -> torch.Tensor:
        """SNR in decibels, 10·log10(ᾱ/(1−ᾱ)). (T,)"""
        return 10.0 * torch.log10(self.snr)

    # -- timesteps --------------------------------------------------------------------------

    def check_t(self, t) -> torch.Tensor:
        """t as a float64 tensor, after checking that it lies in [0, T−1]; raises ValueError otherwise."""
        t = torch.as_tensor(t).detach().cpu().to(torch.float64)
        if not torch.isfinite(t).all():
            raise ValueError(f"timestep t must be a finite number in [0, {self.num_train_timesteps - 1}], got {t.tolist()}")
        low, high = t.min().item(), t.max().item()
        if low < 0 or high > self.num_train_timesteps - 1:
            bad = low if low < 0 else high
            raise ValueError(f"timestep t={bad:g} is outside the schedule: expected 0 ≤ t ≤ "
                             f"{self.num_train_timesteps - 1} (T={self.num_train_timesteps} training steps)")
        return t

    def sigma_at(self, t) -> torch.Tensor:
        """σ at a possibly fractional t, interpolated linearly in t (as k-diffusion and Euler do). float32"""
        t = self.check_t(t)
        table = self.sigma.numpy()
        return torch.from_numpy(np.asarray(np.interp(t.numpy(), np.arange(len(table)), table))).float()

    def alpha_bar_at(self, t) -> torch.Tensor:
        """ᾱ at a possibly fractional t: the table value at an integer t, 1/(1 + σ_at(t)²) between. float32"""
        t = self.check_t(t)
        if torch.equal(t, t.round()):
            return self.alpha_bar[t.long()]
        return 1.0 / (1.0 + self.sigma_at(t) ** 2)

    # -- the forward process ----------------------------------------------------------------

    def q_sample(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """Noise clean data to step t in one jump (DDPM eq. 4): x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε.

        x0, noise: (B, ...) with the same shape. t: an integer, or integers (B,) — one per sample.
        Returns x_t shaped like x0.
        """
        if noise.shape != x0.shape:
            raise ValueError(f"noise must have the shape of x0: x0 is {tuple(x0.shape)}, noise is {tuple(noise.shape)}")
        t = self.check_t(t)
        if not torch.equal(t, t.round()):
            raise ValueError(f"q_sample needs integer timesteps, got {t.tolist()}")
        t = t.long()
        if t.ndim == 1 and len(t) != x0.shape[0]:
            raise ValueError(f"t holds {len(t)} timesteps but x0 holds a batch of {x0.shape[0]}: give one t per sample")
        # (B,) → (B, 1, 1, …) so that each sample gets its own ᾱ_t
        shape = (-1,) + (1,) * (x0.ndim - 1) if t.ndim == 1 else ()
        sqrt_alpha_bar = self.sqrt_alpha_bar[t].reshape(shape).to(x0)
        sqrt_one_minus_alpha_bar = self.sqrt_one_minus_alpha_bar[t].reshape(shape).to(x0)
        return sqrt_alpha_bar * x0 + sqrt_one_minus_alpha_bar * noise

    def t_for_snr(self, snr: float = 1.0) -> int:
        """The first training step t whose SNR is at or below `snr` (SNR falls as t grows)."""
        below = torch.nonzero(self.snr <= snr)
        if len(below) == 0:
            raise ValueError(f"the SNR never falls to {snr} in this schedule (lowest: {self.snr[-1].item():.3g})")
        return int(below[0])


__all__ = ["linear_betas", "scaled_linear_betas", "cosine_betas", "BETA_SCHEDULES", "NoiseSchedule"]
