"""Lesson 03 — adding noise: the forward process q(x_t | x0), ᾱ from the betas, where SNR crosses 1.

The references restate `latentlab.schedules.NoiseSchedule`'s formulas (its `q_sample`, `alpha_bar`
and `t_for_snr`) for a table the checker passes in, in the table's own dtype (float64 for the betas),
so a student's float64 answer is compared at float64 precision; tests hold them equal to the package.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..i18n import N_
from ..schedules import NoiseSchedule, scaled_linear_betas
from .core import CheckResult, Mistake, check_written, random_float, random_int


def _random_alpha_bar(generator: torch.Generator, T: int = 1000) -> torch.Tensor:
    """A plausible ᾱ table: SD's scaled-linear betas with randomised ends. (T,)"""
    betas = scaled_linear_betas(T, random_float(generator, 0.0005, 0.0015), random_float(generator, 0.01, 0.02))
    return NoiseSchedule(betas).alpha_bar


def _q_sample_inputs(generator: torch.Generator) -> dict:
    alpha_bar = _random_alpha_bar(generator)
    B, C, H, W = 4, 3, 5, 6  # all different: ᾱ_t of shape (B,) cannot broadcast onto any axis by luck
    return dict(x0=torch.randn(B, C, H, W, generator=generator), t=torch.randint(1, 999, (B,), generator=generator),
                noise=torch.randn(B, C, H, W, generator=generator), alpha_bar=alpha_bar)


def _per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.reshape(-1, *([1] * (like.ndim - 1)))  # (B,) → (B, 1, 1, 1)


def q_sample_reference(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε (DDPM eq. 4), as `NoiseSchedule.q_sample`. x0, noise (B, ...); t (B,) int;
    alpha_bar (T,)."""
    a = _per_sample(alpha_bar[t], x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _q_sample_wrong(sqrt=True, shift=0, sign=1.0, swap=False):
    def fn(x0, t, noise, alpha_bar):
        a = _per_sample(alpha_bar[t + shift], x0)
        signal, noise_scale = (a.sqrt(), (1 - a).sqrt()) if sqrt else (a, 1 - a)
        if swap:
            return signal * noise + noise_scale * x0
        return signal * x0 + sign * noise_scale * noise
    return fn


def _q_sample_not_reshaped(x0, t, noise, alpha_bar):
    """ᾱ_t (B,) multiplied straight into x0 (B, C, H, W): PyTorch lines it up with the last axis, W."""
    return alpha_bar[t].sqrt() * x0 + (1 - alpha_bar[t]).sqrt() * noise


Q_SAMPLE_MISTAKES = [
    Mistake(N_("a missing square root"), N_("x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε: both scales are square roots "
            "(ᾱ_t is a fraction of the *variance*; the standard deviation is its root)."), _q_sample_wrong(sqrt=False)),
    Mistake(N_("ᾱ indexed off by one"), N_("use alpha_bar[t], not alpha_bar[t − 1] or [t + 1]: the table is "
            "indexed by t itself, from 0 to T−1."), _q_sample_wrong(shift=-1)),
    Mistake(N_("ᾱ indexed off by one"), N_("use alpha_bar[t], not alpha_bar[t − 1] or [t + 1]: the table is "
            "indexed by t itself, from 0 to T−1."), _q_sample_wrong(shift=1)),
    Mistake(N_("the wrong sign of the noise term"), N_("the noise is *added*: + √(1−ᾱ_t)·ε."), _q_sample_wrong(sign=-1.0)),
    Mistake(N_("x0 and the noise swapped"), N_("√ᾱ_t multiplies the clean data x0, √(1−ᾱ_t) multiplies the noise ε."),
            _q_sample_wrong(swap=True)),
    Mistake(N_("ᾱ_t not reshaped (alpha_bar[t].sqrt() * x0)"), N_("alpha_bar[t] has shape (B,): one number per sample. "
            "Reshape it to (B, 1, 1, 1) — alpha_bar[t].view(-1, 1, 1, 1) or alpha_bar[t][:, None, None, None] — so "
            "each number scales its own sample's whole (C, H, W) picture; unreshaped, PyTorch lines it up with the "
            "last axis, the width."), _q_sample_not_reshaped),
]


def check_q_sample(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: q_sample(x0, t, noise, alpha_bar) → x_t, with one t per sample (B,)."""
    return check_written(student_fn, q_sample_reference, _q_sample_inputs, Q_SAMPLE_MISTAKES, name="q_sample",
                         **kwargs)


def alpha_bar_reference(betas: torch.Tensor) -> torch.Tensor:
    """ᾱ_t = ∏_{s≤t} (1 − β_s), as `NoiseSchedule.alpha_bar`. betas (T,) → (T,)"""
    return torch.cumprod(1 - betas, dim=0)


def _betas_inputs(generator: torch.Generator) -> dict:
    T = random_int(generator, 50, 1000)
    start = random_float(generator, 1e-4, 1.1e-3)
    end = random_float(generator, 0.01, 0.03)
    return dict(betas=torch.linspace(start, end, T, dtype=torch.float64))


ALPHA_BAR_MISTAKES = [
    Mistake(N_("ᾱ off by one"), N_("ᾱ_0 already includes step 0: ᾱ_0 = 1 − β_0, not 1. Use an inclusive cumulative "
            "product, torch.cumprod(1 - betas, 0)."), lambda betas: torch.cat([torch.ones(1, dtype=betas.dtype),
                                                                            torch.cumprod(1 - betas, 0)[:-1]])),
    Mistake(N_("a product of β instead of α = 1 − β"), N_("ᾱ multiplies the fractions of signal *kept*, α_t = 1 − β_t."),
            lambda betas: torch.cumprod(betas, 0)),
    Mistake(N_("α_t instead of ᾱ_t"), N_("ᾱ_t is the *cumulative* product of α_s for s ≤ t — use torch.cumprod."),
            lambda betas: 1 - betas),
    Mistake(N_("a sum instead of a product"), N_("signal fractions multiply: ᾱ_t = α_0·α_1·…·α_t (torch.cumprod, not cumsum)."),
            lambda betas: 1 - torch.cumsum(betas, 0)),
    Mistake(N_("an extra square root (√ᾱ instead of ᾱ)"), N_("return ᾱ itself; the square roots "
            "come later, in q_sample."), lambda betas: torch.cumprod(1 - betas, 0).sqrt()),
]


def check_alpha_bar(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: compute_alpha_bar(betas) → ᾱ, both (T,)."""
    return check_written(student_fn, alpha_bar_reference, _betas_inputs, ALPHA_BAR_MISTAKES, name="compute_alpha_bar",
                         atol=1e-6, rtol=1e-5, **kwargs)


def _first_at_or_below(values: torch.Tensor, level: float) -> int:
    return int(torch.nonzero(values <= level)[0])


def snr_one_reference(betas: torch.Tensor) -> int:
    """The first t with SNR_t = ᾱ_t/(1 − ᾱ_t) ≤ 1 (signal and noise variance equal), as
    `NoiseSchedule.t_for_snr(1.0)`. betas (T,) → int"""
    alpha_bar = torch.cumprod(1 - betas, 0)
    return _first_at_or_below(alpha_bar / (1 - alpha_bar), 1.0)


def _snr(betas: torch.Tensor) -> torch.Tensor:
    alpha_bar = torch.cumprod(1 - betas, 0)
    return alpha_bar / (1 - alpha_bar)


SNR_ONE_MISTAKES = [
    Mistake(N_("an off-by-one (the last t with SNR > 1)"), N_("return the *first* t where SNR ≤ 1, e.g. "
            "int(torch.nonzero(snr <= 1)[0])."), lambda betas: snr_one_reference(betas) - 1),
    Mistake(N_("ᾱ indexed off by one"), N_("ᾱ_t includes step t: torch.cumprod(1 - betas, 0) with no shift."),
            lambda betas: snr_one_reference(betas) + 1),
    Mistake(N_("SNR in decibels compared with 1"), N_("SNR = 1 is 0 dB: compare the plain ratio ᾱ/(1 − ᾱ) with 1 "
            "(or 10·log10(SNR) with 0)."), lambda betas: _first_at_or_below(10 * torch.log10(_snr(betas)), 1.0)),
    Mistake(N_("SNR = ᾱ (the noise variance left out)"), N_("SNR is a ratio: signal variance ᾱ_t over noise variance "
            "1 − ᾱ_t. It is 1 where ᾱ_t = 0.5."), lambda betas: _first_at_or_below(torch.cumprod(1 - betas, 0), 1.0)),
    Mistake(N_("SNR = √ᾱ/√(1−ᾱ) compared with 0.5"), N_("SNR compares variances: ᾱ_t / (1 − ᾱ_t) ≤ 1, no square roots "
            "and no 0.5."), lambda betas: _first_at_or_below(_snr(betas).sqrt(), 0.5)),
]


def check_snr_one(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: find_snr_one(betas) → the first t (int) at which SNR ≤ 1."""
    return check_written(student_fn, snr_one_reference, _betas_inputs, SNR_ONE_MISTAKES, name="find_snr_one",
                         atol=0, rtol=0, **kwargs)


CHECKERS = [
    (check_q_sample, q_sample_reference, Q_SAMPLE_MISTAKES),
    (check_alpha_bar, alpha_bar_reference, ALPHA_BAR_MISTAKES),
    (check_snr_one, snr_one_reference, SNR_ONE_MISTAKES),
]
