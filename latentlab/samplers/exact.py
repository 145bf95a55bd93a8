"""Toy data whose optimal denoiser is known exactly: a mixture of isotropic Gaussians.

With data x0 ~ Σ_k π_k N(μ_k, s_k² I) and x_t = √ᾱ·x0 + √(1−ᾱ)·ε, each component stays Gaussian:
x_t | k ~ N(√ᾱ·μ_k, v_k I) with v_k = ᾱ·s_k² + 1 − ᾱ. The best possible (MSE-optimal) denoiser is
the posterior mean, in closed form:

    r_k(x_t)   = π_k N(x_t; √ᾱ μ_k, v_k I) / Σ_j π_j N(x_t; √ᾱ μ_j, v_j I)     (responsibilities)
    E[x0|x_t]  = Σ_k r_k(x_t) · (μ_k + √ᾱ·s_k²/v_k · (x_t − √ᾱ μ_k))

A sampler driven by this "model" must reproduce the data distribution — a test of the sampler
alone, with no network and no training in the way. One component is the Gaussian N(μ, s²I).
`velocity_model` is the same optimum for a flow sampler (rectified flow, latentlab.flow).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from latentlab.flow import FlowSchedule, flow_time_to_alpha_bar, flow_to_vp_sample
from latentlab.schedules import NoiseSchedule


@dataclass
class GaussianMixture:
    """π_k (K,), μ_k (K, D), s_k (K,): a mixture of K isotropic Gaussians in D dimensions."""

    weights: torch.Tensor
    means: torch.Tensor
    stds: torch.Tensor

    def __post_init__(self):
        self.weights = torch.as_tensor(self.weights, dtype=torch.float64)
        self.means = torch.as_tensor(self.means, dtype=torch.float64)
        self.stds = torch.as_tensor(self.stds, dtype=torch.float64)
        K = len(self.weights)
        if self.means.ndim != 2 or self.means.shape[0] != K or self.stds.shape != (K,):
            raise ValueError(f"expected weights (K,), means (K, D), stds (K,); got {tuple(self.weights.shape)}, "
                             f"{tuple(self.means.shape)}, {tuple(self.stds.shape)}")
        if (self.weights < 0).any() or abs(self.weights.sum().item() - 1) > 1e-6:
            raise ValueError(f"mixture weights must be ≥ 0 and sum to 1, got {self.weights.tolist()}")

    @classmethod
    def gaussian(cls, mean, std: float) -> GaussianMixture:
        """The single Gaussian N(mean, std² I)."""
        return cls(weights=[1.0], means=[list(mean)], stds=[std])

    @classmethod
    def three_blobs(cls) -> GaussianMixture:
        """The 2-D teaching example: three blobs of unequal weight on a circle of radius 2."""
        angles = torch.tensor([90.0, 210.0, 330.0]) * math.pi / 180
        means = torch.stack([2 * angles.cos(), 2 * angles.sin()], dim=1)
        return cls(weights=[0.5, 0.3, 0.2], means=means, stds=[0.3, 0.3, 0.3])

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def mean(self) -> torch.Tensor:
        """E[x0]. (D,)"""
        return self.weights @ self.means

    def covariance(self) -> torch.Tensor:
        """Cov[x0] = Σ π_k (s_k² I + μ_k μ_kᵀ) − E[x0]E[x0]ᵀ. (D, D)"""
        D = self.dim
        second = sum(w * (s**2 * torch.eye(D, dtype=torch.float64) + torch.outer(m, m))
                     for w, m, s in zip(self.weights, self.means, self.stds))
        mu = self.mean()
        return second - torch.outer(mu, mu)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws x0. (n, D) float32"""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return (self.means[k] + self.stds[k, None] * noise).float()

    def assign(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the component each point most likely came from. x (n, D) → (n,) int64"""
        return self.responsibilities(x.double(), torch.tensor(1.0, dtype=torch.float64)).argmax(dim=1)

    def responsibilities(self, x_t: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
        """r_k(x_t): (n, D), ᾱ scalar → (n, K), rows sum to 1."""
        variance = alpha_bar * self.stds**2 + 1 - alpha_bar  # (K,)
        sq_dist = ((x_t[:, None, :] - alpha_bar**0.5 * self.means[None]) ** 2).sum(-1)  # (n, K)
        log_p = self.weights.log() - 0.5 * sq_dist / variance - 0.5 * self.dim * variance.log()
        return torch.softmax(log_p, dim=1)

    def posterior_mean(self, x_t: torch.Tensor, alpha_bar) -> torch.Tensor:
        """E[x0 | x_t] at noise level ᾱ. x_t (n, D) → (n, D), computed in float64."""
        x_t = x_t.double()
        alpha_bar = torch.as_tensor(alpha_bar, dtype=torch.float64)
        variance = alpha_bar * self.stds**2 + 1 - alpha_bar  # (K,)
        r = self.responsibilities(x_t, alpha_bar)  # (n, K)
        gain = (alpha_bar**0.5 * self.stds**2 / variance)[None, :, None]  # (1, K, 1)
        per_component = self.means[None] + gain * (x_t[:, None, :] - alpha_bar**0.5 * self.means[None])  # (n, K, D)
        return (r[:, :, None] * per_component).sum(1)

    def denoiser(self, schedule: NoiseSchedule, prediction_type: str = "epsilon"):
        """The optimal model as a callable model(x_t, t, context=None) → ε̂ or v̂, shaped like x_t (n, D).

        t may be fractional (Euler): ᾱ at t comes from `schedule.alpha_bar_at`, the same σ(t)
        interpolation Euler's input scaling uses.
        """
        if prediction_type not in ("epsilon", "v_prediction"):
            raise ValueError(f"unknown prediction_type {prediction_type!r}; known: epsilon, v_prediction")

        def model(x_t: torch.Tensor, t, context=None) -> torch.Tensor:
            alpha_bar = schedule.alpha_bar_at(t).double()
            x0 = self.posterior_mean(x_t, alpha_bar)
            eps = (x_t.double() - alpha_bar**0.5 * x0) / (1 - alpha_bar) ** 0.5
            if prediction_type == "epsilon":
                return eps.to(x_t.dtype)
            return (alpha_bar**0.5 * eps - (1 - alpha_bar) ** 0.5 * x0).to(x_t.dtype)  # v

        return model

    def velocity_model(self, schedule: FlowSchedule | None = None):
        """The optimal *flow* model: model(x_t, timestep, context=None) → E[ε − x0 | x_t], (n, D).

        x_t is the flow sample (1 − t)·x0 + t·ε at t = timestep / T. It holds the same x0 and ε as
        DDPM's x_t at the ᾱ of equal SNR, only scaled (latentlab.flow), so the posterior mean above
        serves unchanged. Not defined at t = 0, which no sampler evaluates."""
        schedule = schedule if schedule is not None else FlowSchedule()

        def model(x_t: torch.Tensor, timestep, context=None) -> torch.Tensor:
            t = schedule.check_t(timestep) / schedule.num_train_timesteps  # float64
            alpha_bar = flow_time_to_alpha_bar(t)
            x0 = self.posterior_mean(flow_to_vp_sample(x_t.double(), t), alpha_bar)
            eps = (x_t.double() - (1 - t) * x0) / t
            return (eps - x0).to(x_t.dtype)

        return model
