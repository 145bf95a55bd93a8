"""Lesson 02 — the VAE's Gaussian: a KL by hand, the log-variance a KL budget buys, the scaling factor.

The references are built on the package's `vae.DiagonalGaussian` (its `kl`) and LDM §4.3.2's 1/std.
The lesson itself shows the KL summed over a latent; the exercises ask what that sum is made of
(which value costs the most, and why) and turn it around (what σ a given KL pays for).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..i18n import N_
from ..vae import DiagonalGaussian
from .core import CheckResult, Mistake, check_written, random_float, random_int


def _kl_per_value(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) of each value on its own, by the package: each value is one 'image'
    with one channel. mean, logvar (n,) → (n,) nats"""
    moments = torch.stack([mean, logvar], dim=1)[:, :, None, None]  # (n, 2, 1, 1): μ and log σ² as 2c channels
    return DiagonalGaussian(moments).kl()


# -- exercise 1: a KL by hand ----------------------------------------------------------------------

def _kl_by_hand_inputs(generator: torch.Generator) -> dict:
    """A tiny latent of n values: most close to N(0, 1), one with a large mean (|μ| from 1.5 to 2.5, σ ≈ 1)
    and one with μ = 0 and a σ far from 1, tiny or huge, that costs more: the largest |μ| is never the
    costliest value. mean, logvar (n,)"""
    n = random_int(generator, 5, 9)
    mean = torch.rand(n, generator=generator, dtype=torch.float64) * 1.2 - 0.6   # each costs ≤ 0.18 nats
    logvar = torch.rand(n, generator=generator, dtype=torch.float64) - 0.5       # each costs ≤ 0.07 nats
    big_mean, odd_sigma = torch.randperm(n, generator=generator)[:2].tolist()
    m = random_float(generator, 1.5, 2.5)
    mean[big_mean] = m if random_int(generator, 0, 2) else -m                    # costs about m²/2
    mean[odd_sigma] = 0.0
    if random_int(generator, 0, 2):  # σ tiny: ½(e^s − 1 − s) ≈ (|s| − 1)/2 ≥ m²/2 + 0.25
        logvar[odd_sigma] = -(m**2 + random_float(generator, 1.5, 3.0))
    else:                            # σ huge: e^s = e·(m² + 2) costs well over m²/2
        logvar[odd_sigma] = 1.0 + math.log(m**2 + 2.0)
    return dict(mean=mean, logvar=logvar)


def kl_by_hand_reference(mean: torch.Tensor, logvar: torch.Tensor) -> tuple[float, int]:
    """The KL to N(0, I) of a latent of n values, in nats, and the index of the value that costs the most.
    Each value costs ½(μ² + σ² − 1 − log σ²) (`DiagonalGaussian.kl` of that value alone); independent
    values add. mean, logvar (n,) → (total, index)"""
    costs = _kl_per_value(mean, logvar)  # (n,)
    return costs.sum().item(), int(costs.argmax())


def _kl_wrong(half=0.5, minus_one=1.0, logvar_sign=-1.0, sigma_power=1.0, total="sum", costliest="cost"):
    def fn(mean, logvar):
        costs = half * (mean**2 + torch.exp(sigma_power * logvar) - minus_one + logvar_sign * logvar)  # (n,)
        worst = int(mean.abs().argmax()) if costliest == "mean" else int(costs.argmax())
        return (costs.sum() if total == "sum" else costs.mean()).item(), worst
    return fn


KL_BY_HAND_MISTAKES = [
    Mistake(N_("the costliest value picked by the largest |μ|"), N_("a value with μ = 0 can cost the most: a σ far from "
            "1, tiny or huge, costs ½(σ² − 1 − log σ²) (log σ² = −6 alone costs ≈ 2.5 nats). Compute each value's "
            "½(μ² + σ² − 1 − log σ²) and take the argmax of those."), _kl_wrong(costliest="mean")),
    Mistake(N_("the 0.5 left out"), N_("each value costs ½(μ² + σ² − 1 − log σ²): halve the terms."), _kl_wrong(half=1.0)),
    Mistake(N_("the −1 left out"), N_("each value's term is μ² + σ² − 1 − log σ², which is 0 for μ = 0, σ = 1; "
            "without the −1 a perfect value would cost ½ nat."), _kl_wrong(minus_one=0.0)),
    Mistake(N_("the wrong sign of log σ²"), N_("it is *minus* log σ²: a tiny σ (log σ² ≪ 0) must cost a lot, "
            "not earn nats back."), _kl_wrong(logvar_sign=1.0)),
    Mistake(N_("σ used where σ² belongs"), N_("the term is the variance σ² = exp(logvar), not σ = exp(0.5·logvar)."),
            _kl_wrong(sigma_power=0.5)),
    Mistake(N_("the mean cost per value instead of the total"), N_("the KL of independent values adds up: return the "
            "sum over the n values, not their average."), _kl_wrong(total="mean")),
]


def check_kl_by_hand(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: kl_by_hand(mean, logvar) → (total KL in nats, index of the costliest value); mean, logvar (n,)."""
    return check_written(student_fn, kl_by_hand_reference, _kl_by_hand_inputs, KL_BY_HAND_MISTAKES,
                         name="kl_by_hand", **kwargs)


# -- exercise 2: the log-variance a KL budget buys ----------------------------------------------------

def _solve(kl: torch.Tensor, low: torch.Tensor, high: torch.Tensor, cost: Callable) -> torch.Tensor:
    """Bisection for cost(s) = kl on [low, high], where cost − kl changes sign once. All (n,) float64."""
    rising = cost(high) > cost(low)
    for _ in range(80):  # 80 halvings of a bracket of width < 20: far below float64's resolution
        middle = (low + high) / 2
        above = (cost(middle) > kl) == rising  # the root lies below the middle
        low, high = torch.where(above, low, middle), torch.where(above, middle, high)
    return (low + high) / 2


def _kl_at_zero_mean(logvar: torch.Tensor) -> torch.Tensor:
    return _kl_per_value(torch.zeros_like(logvar), logvar)  # ½(e^s − 1 − s), s = log σ²


def _logvar_inputs(generator: torch.Generator) -> dict:
    """Target KLs of a few values, 0.1 to 2.5 nats: large enough that the e^s term matters
    (−2k − 1 is off by more than the tolerance). kl (n,) float64"""
    n = random_int(generator, 3, 7)
    return dict(kl=torch.rand(n, generator=generator, dtype=torch.float64) * 2.4 + 0.1)


def logvar_for_kl_reference(kl: torch.Tensor) -> torch.Tensor:
    """The log σ² < 0 for which a value with μ = 0 costs exactly `kl` nats: ½(e^s − 1 − s) = k, solved by
    bisection on [−(2k + 2), 0], where the KL falls from k + ½ to 0. kl (n,) > 0 → log σ² (n,)"""
    return _solve(kl, -(2 * kl + 2), torch.zeros_like(kl), _kl_at_zero_mean)


def _positive_root(kl: torch.Tensor) -> torch.Tensor:
    return _solve(kl, torch.zeros_like(kl), torch.log(2 * kl + 1) + 1, _kl_at_zero_mean)


LOGVAR_FOR_KL_MISTAKES = [
    Mistake(N_("the positive root (σ > 1)"), N_("two log-variances cost k nats, one with σ < 1 and one with σ > 1; the "
            "exercise asks for the one with σ < 1, log σ² < 0: search s between −(2k + 2) and 0."), _positive_root),
    Mistake(N_("the e^s term dropped (log σ² = −2k − 1)"), N_("−2k − 1 solves ½(−1 − s) = k, which forgets σ² = e^s; at "
            "k = 1 that is e^−3 ≈ 0.05, not nothing: solve ½(e^s − 1 − s) = k itself (bisection, or Newton)."),
            lambda kl: -2 * kl - 1),
    Mistake(N_("the 0.5 left out (solved e^s − 1 − s = k)"), N_("one value's KL is ½(e^s − 1 − s) at μ = 0: with the ½ "
            "dropped you found the log σ² of a KL of k/2."),
            lambda kl: _solve(kl, -(kl + 2), torch.zeros_like(kl), lambda s: 2 * _kl_at_zero_mean(s))),
    Mistake(N_("log σ returned instead of log σ²"), N_("your σ is right, but the answer is the log-*variance*: "
            "log σ² = 2·log σ."), lambda kl: logvar_for_kl_reference(kl) / 2),
    Mistake(N_("σ² returned instead of log σ²"), N_("return the log of the variance, s = log σ², not e^s."),
            lambda kl: logvar_for_kl_reference(kl).exp()),
]


def check_logvar_for_kl(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: logvar_for_kl(kl) → the log σ² < 0 whose KL at μ = 0 is kl nats; kl (n,) → (n,)."""
    # atol 1e-5: a bisection or Newton solve lands far closer; −2k − 1 is off by ≥ 2e-3 on these inputs.
    return check_written(student_fn, logvar_for_kl_reference, _logvar_inputs, LOGVAR_FOR_KL_MISTAKES,
                         name="logvar_for_kl", atol=1e-5, rtol=1e-5, **kwargs)


# -- exercise 3: the scaling factor ------------------------------------------------------------------

def _latents_inputs(generator: torch.Generator) -> dict:
    """Latents as a VAE produces them: not centred, a spread far from 1. (B, c, h, w)"""
    std = random_float(generator, 2.0, 8.0)
    offset = random_float(generator, 1.0, 3.0)
    return dict(latents=torch.randn(8, 4, 16, 12, generator=generator) * std + offset)


def scaling_factor_reference(latents: torch.Tensor) -> float:
    """LDM §4.3.2: 1 / std of the latents over data, so that latents · factor have unit variance
    (`vae.compute_scaling_factor` does the same over a whole dataset)."""
    return 1.0 / latents.double().std().item()


SCALING_FACTOR_MISTAKES = [
    Mistake(N_("std instead of 1/std"), N_("the factor *multiplies* the latents to bring their std to 1, so it is "
            "1 / std (SD's 0.18215 ≈ 1 / 5.49)."), lambda latents: latents.double().std().item()),
    Mistake(N_("1/variance instead of 1/std"), N_("dividing by the variance gives a std of 1/std, not 1: use "
            "1 / latents.std()."), lambda latents: 1.0 / latents.double().var().item()),
    Mistake(N_("the mean not subtracted (1/RMS)"), N_("the std is measured around the mean: latents.std(), not "
            "√mean(z²)."), lambda latents: 1.0 / latents.double().pow(2).mean().sqrt().item()),
    Mistake(N_("1/max|z| instead of 1/std"), N_("the factor sets the *spread* to 1 (std), not the largest value."),
            lambda latents: 1.0 / latents.double().abs().max().item()),
]


def check_scaling_factor(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: scaling_factor(latents) → 1/std of latents (B, c, h, w), a float."""
    # rtol 1e-3: the biased and unbiased std differ by 1/(2N) ≈ 8e-5 here; both are right.
    return check_written(student_fn, scaling_factor_reference, _latents_inputs, SCALING_FACTOR_MISTAKES,
                         name="scaling_factor", atol=0, rtol=1e-3, **kwargs)


CHECKERS = [
    (check_kl_by_hand, kl_by_hand_reference, KL_BY_HAND_MISTAKES),
    (check_logvar_for_kl, logvar_for_kl_reference, LOGVAR_FOR_KL_MISTAKES),
    (check_scaling_factor, scaling_factor_reference, SCALING_FACTOR_MISTAKES),
]
