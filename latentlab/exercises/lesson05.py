"""Lesson 05 — samplers: a DDIM step with fresh noise (η > 0), classifier-free guidance, the norm of x_t,
PCA of trajectories.

`ddim_eta_step_reference` is `samplers.DDIMSampler.step` written for plain ᾱ values and a given noise
(tests/test_exercises_lesson05.py holds the two equal, and equal to DDPM's step at η = 1);
`cfg_mix_reference` is the guidance line of `pipeline.sample`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..i18n import N_
from .core import CheckResult, Mistake, check_written, random_float, random_int


def ddim_eta_step_reference(eps: torch.Tensor, x_t: torch.Tensor, alpha_bar_t: float, alpha_bar_prev: float,
                            eta: float, noise: torch.Tensor) -> torch.Tensor:
    """DDIM with fresh noise (Song et al. 2021): x̂0 = (x_t − √(1−ᾱ_t)·ε)/√ᾱ_t;
    σ = η·√((1−ᾱ_prev)/(1−ᾱ_t))·√(1 − ᾱ_t/ᾱ_prev) (eq. 16);
    x_prev = √ᾱ_prev·x̂0 + √(1 − ᾱ_prev − σ²)·ε + σ·noise (eq. 12). eps, x_t, noise (B, ...) → (B, ...)"""
    pred_x0 = (x_t - (1 - alpha_bar_t) ** 0.5 * eps) / alpha_bar_t**0.5
    std = eta * ((1 - alpha_bar_prev) / (1 - alpha_bar_t)) ** 0.5 * (1 - alpha_bar_t / alpha_bar_prev) ** 0.5
    return alpha_bar_prev**0.5 * pred_x0 + (1 - alpha_bar_prev - std**2) ** 0.5 * eps + std * noise


def _ddim_eta_inputs(generator: torch.Generator) -> dict:
    """ᾱ_t < ᾱ_prev in [0.05, 0.95], η = 0.3 or 1 (DDPM's amount; the checker's three trials meet both, so
    a σ without η cannot pass), and the fresh noise. (B, C, H, W) tensors"""
    a, b = sorted(torch.rand(2, generator=generator).mul(0.9).add(0.05).tolist())
    shape = (2, 3, 5, 4)  # B ≠ C ≠ H ≠ W: a broadcast over the wrong axis fails
    return dict(eps=torch.randn(shape, generator=generator), x_t=torch.randn(shape, generator=generator),
                alpha_bar_t=a, alpha_bar_prev=b, eta=(0.3, 1.0)[random_int(generator, 0, 2)],
                noise=torch.randn(shape, generator=generator))


def _ddim_eta_wrong(subtract=True, noise_power=1.0, first_factor=True, with_eta=True, fresh=True):
    def fn(eps, x_t, alpha_bar_t, alpha_bar_prev, eta, noise):
        pred_x0 = (x_t - (1 - alpha_bar_t) ** 0.5 * eps) / alpha_bar_t**0.5
        std = (eta if with_eta else 1.0) * (1 - alpha_bar_t / alpha_bar_prev) ** 0.5
        if first_factor:
            std = std * ((1 - alpha_bar_prev) / (1 - alpha_bar_t)) ** 0.5
        direction = (1 - alpha_bar_prev - (std**2 if subtract else 0.0)) ** 0.5 * eps
        out = alpha_bar_prev**0.5 * pred_x0 + direction
        return out + std**noise_power * noise if fresh else out
    return fn


DDIM_ETA_STEP_MISTAKES = [
    Mistake(N_("σ² not subtracted from the direction term"), N_("the fresh noise takes its share of the variance: the "
            "direction pointing to x_t is √(1 − ᾱ_prev − σ²)·ε, not √(1 − ᾱ_prev)·ε."), _ddim_eta_wrong(subtract=False)),
    Mistake(N_("the noise scaled by σ² instead of σ"), N_("σ is a standard deviation: add σ·noise (its variance σ² is "
            "what the direction term gives up)."), _ddim_eta_wrong(noise_power=2.0)),
    Mistake(N_("the first factor √((1−ᾱ_prev)/(1−ᾱ_t)) missing from σ"), N_("eq. 16 has two square roots: σ = η·√((1−ᾱ_prev)/"
            "(1−ᾱ_t))·√(1 − ᾱ_t/ᾱ_prev). At η = 1 it must equal DDPM's posterior std √β̃_t, and "
            "β̃_t = (1−ᾱ_prev)/(1−ᾱ_t)·β_t with β_t = 1 − ᾱ_t/ᾱ_prev."), _ddim_eta_wrong(first_factor=False)),
    Mistake(N_("η left out of σ"), N_("η scales the fresh noise: σ = η·√(…)·√(…). η = 1 is DDPM's amount, η = 0.3 less."),
            _ddim_eta_wrong(with_eta=False)),
    Mistake(N_("the fresh noise never added"), N_("with η > 0 the step ends with + σ·noise; without it the step is "
            "neither DDIM (whose direction term keeps all of √(1 − ᾱ_prev)) nor DDPM."), _ddim_eta_wrong(fresh=False)),
    Mistake(N_("the η = 0 step (σ left out entirely)"), N_("that is the deterministic DDIM of the lesson: with η > 0, "
            "compute σ (eq. 16), take σ² from the direction term and add σ·noise."),
            _ddim_eta_wrong(subtract=False, fresh=False)),
]


def check_ddim_eta_step(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: ddim_eta_step(eps, x_t, alpha_bar_t, alpha_bar_prev, eta, noise) → x_prev, shaped like x_t."""
    return check_written(student_fn, ddim_eta_step_reference, _ddim_eta_inputs, DDIM_ETA_STEP_MISTAKES,
                         name="ddim_eta_step", **kwargs)


def _cfg_inputs(generator: torch.Generator) -> dict:
    shape = (2, 4, 6, 8)  # B ≠ C ≠ H ≠ W
    return dict(eps_cond=torch.randn(shape, generator=generator), eps_uncond=torch.randn(shape, generator=generator),
                scale=random_float(generator, 1.5, 9.5))


def cfg_mix_reference(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022) in Stable Diffusion's convention:
    ε̂ = ε_uncond + s·(ε_cond − ε_uncond). s = 1 is ε_cond itself. eps_* (B, c, h, w) → (B, c, h, w)"""
    return eps_uncond + scale * (eps_cond - eps_uncond)


CFG_MIX_MISTAKES = [
    Mistake(N_("the conditional and unconditional predictions swapped"), N_("start from the *unconditional* prediction "
            "and go towards (and past) the conditional one: ε_uncond + s·(ε_cond − ε_uncond)."),
            lambda eps_cond, eps_uncond, scale: eps_cond + scale * (eps_uncond - eps_cond)),
    Mistake(N_("the conditional prediction scaled on its own"), N_("guidance pushes along the *difference* "
            "ε_cond − ε_uncond; s·ε_cond only makes the predicted noise larger."),
            lambda eps_cond, eps_uncond, scale: scale * eps_cond),
    Mistake(N_("the push added to ε_cond (Imagen's w = s − 1 convention)"), N_("with SD's scale, s = 1 must give ε_cond "
            "exactly, so the push starts from ε_uncond: ε_uncond + s·(ε_cond − ε_uncond)."),
            lambda eps_cond, eps_uncond, scale: eps_cond + scale * (eps_cond - eps_uncond)),
    Mistake(N_("the push without its starting point"), N_("s·(ε_cond − ε_uncond) is only the push: add it to ε_uncond."),
            lambda eps_cond, eps_uncond, scale: scale * (eps_cond - eps_uncond)),
]


def check_cfg_mix(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: cfg_mix(eps_cond, eps_uncond, scale) → the guided prediction, shaped like eps_cond."""
    return check_written(student_fn, cfg_mix_reference, _cfg_inputs, CFG_MIX_MISTAKES, name="cfg_mix", **kwargs)


def _expected_norm_inputs(generator: torch.Generator) -> dict:
    """A latent of N values, a picture quieter or louder than noise, and the ᾱ of a few steps."""
    numel = (256, 1024, 4096)[random_int(generator, 0, 3)]
    x0_norm = numel**0.5 * random_float(generator, 0.3, 2.3)
    alpha_bar = torch.rand(6, generator=generator).mul(0.98).add(0.01).sort(descending=True).values.double()
    return dict(x0_norm=x0_norm, alpha_bar=alpha_bar, numel=numel)


def expected_norm_reference(x0_norm: float, alpha_bar: torch.Tensor, numel: int) -> torch.Tensor:
    """‖x_t‖ for x_t = √ᾱ·x0 + √(1−ᾱ)·ε, ε ~ N(0, I) of N = numel values. In N dimensions the noise is
    almost orthogonal to x0, so squared norms add (Pythagoras) and ‖ε‖² ≈ N:
    ‖x_t‖ ≈ √(ᾱ·‖x0‖² + (1−ᾱ)·N). alpha_bar (n,) → (n,)"""
    return (alpha_bar * x0_norm**2 + (1 - alpha_bar) * numel).sqrt()


EXPECTED_NORM_MISTAKES = [
    Mistake(N_("the two norms added"), N_("x0 and the noise point in (almost) perpendicular directions, so their "
            "*squared* norms add, as in Pythagoras: √(ᾱ·‖x0‖² + (1−ᾱ)·N), not √ᾱ·‖x0‖ + √(1−ᾱ)·√N."),
            lambda x0_norm, alpha_bar, numel: alpha_bar.sqrt() * x0_norm + (1 - alpha_bar).sqrt() * numel**0.5),
    Mistake(N_("a missing square root"), N_("ᾱ·‖x0‖² + (1−ᾱ)·N is the *squared* norm: take its square root."),
            lambda x0_norm, alpha_bar, numel: alpha_bar * x0_norm**2 + (1 - alpha_bar) * numel),
    Mistake(N_("the noise's squared norm taken as 1"), N_("ε has N values of variance 1, so ‖ε‖² ≈ N (‖ε‖ ≈ √N), "
            "not 1."), lambda x0_norm, alpha_bar, numel: (alpha_bar * x0_norm**2 + (1 - alpha_bar)).sqrt()),
    Mistake(N_("the noise's norm taken as N"), N_("‖ε‖² ≈ N, so ‖ε‖ ≈ √N: the term is (1−ᾱ)·N, not (1−ᾱ)·N²."),
            lambda x0_norm, alpha_bar, numel: (alpha_bar * x0_norm**2 + (1 - alpha_bar) * numel**2).sqrt()),
    Mistake(N_("ᾱ and 1−ᾱ used as the scales (x_t = ᾱ·x0 + (1−ᾱ)·ε)"), N_("the scales are √ᾱ and √(1−ᾱ); squared, "
            "they give ᾱ and 1−ᾱ."),
            lambda x0_norm, alpha_bar, numel: (alpha_bar**2 * x0_norm**2 + (1 - alpha_bar) ** 2 * numel).sqrt()),
]


def check_expected_norm(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: expected_norm(x0_norm, alpha_bar, numel) → ‖x_t‖ at each ᾱ, a tensor shaped like alpha_bar."""
    return check_written(student_fn, expected_norm_reference, _expected_norm_inputs, EXPECTED_NORM_MISTAKES,
                         name="expected_norm", atol=1e-6, rtol=1e-6, **kwargs)


def _pca_inputs(generator: torch.Generator) -> dict:
    """40 points in 12-D: two clear long axes in a random rotation, far from the origin."""
    N, D = 40, 12
    scales = torch.tensor([6.0, 3.0] + [0.6] * (D - 2)) * (1 + 0.2 * torch.rand(D, generator=generator))
    rotation, _ = torch.linalg.qr(torch.randn(D, D, generator=generator))  # (D, D) orthogonal
    # the mean sits 3 to 6 units off the origin along every axis, so an uncentred answer is far off
    away = (3.0 + 3.0 * torch.rand(D, generator=generator)) * torch.randn(D, generator=generator).sign()
    return dict(points=(torch.randn(N, D, generator=generator) * scales + away) @ rotation.T)


def _fixed_signs(projected):
    """Each column flipped so that its largest-magnitude entry is positive: a principal axis has no
    sign of its own, so answers that differ only in sign are the same answer."""
    if not isinstance(projected, torch.Tensor) or projected.ndim != 2 or projected.shape[0] == 0:
        return projected
    largest = projected.gather(0, projected.abs().argmax(0, keepdim=True))  # (1, k)
    return projected * torch.where(largest < 0, -1.0, 1.0).to(projected.dtype)


def pca_project_reference(points: torch.Tensor) -> torch.Tensor:
    """points (N, D) → their coordinates (N, 2) on the first two principal axes: centre the points,
    take the SVD of the centred points, project on the first two rows of Vh."""
    centred = points - points.mean(0)
    _, _, Vh = torch.linalg.svd(centred, full_matrices=False)  # rows of Vh: the axes, by decreasing variance
    return centred @ Vh[:2].T


def _pca_wrong(centre_svd=True, centre_projection=True, axes="rows", standardise=False, unit=False):
    def fn(points):
        centred = points - points.mean(0)
        if standardise:
            centred = centred / points.std(0)
        U, _, Vh = torch.linalg.svd(centred if centre_svd else points, full_matrices=False)
        if unit:
            return U[:, :2]
        chosen = {"rows": Vh[:2].T, "columns": Vh[:, :2], "last": Vh[-2:].T}[axes]
        return (centred if centre_projection else points) @ chosen
    return fn


PCA_PROJECT_MISTAKES = [
    Mistake(N_("the points not centred"), N_("PCA measures variance around the mean: subtract points.mean(0) before "
            "the SVD (otherwise the first axis points at the mean)."), _pca_wrong(centre_svd=False, centre_projection=False)),
    Mistake(N_("the raw points projected"), N_("the axes are right, but project the *centred* points: "
            "(points − mean) @ Vh[:2].T, so the cloud is centred on 0."), _pca_wrong(centre_projection=False)),
    Mistake(N_("columns of Vh used as the axes"), N_("torch.linalg.svd returns Vh = Vᵀ: the axes are its *rows*, "
            "so project on Vh[:2].T (or V[:, :2])."), _pca_wrong(axes="columns")),
    Mistake(N_("the last two axes"), N_("singular values come sorted from largest to smallest: the first two rows of Vh "
            "hold the most variance."), _pca_wrong(axes="last")),
    Mistake(N_("U[:, :2] returned"), N_("U's columns have length 1; the coordinates are U[:, :2]·S[:2], the same as "
            "centred @ Vh[:2].T."), _pca_wrong(unit=True)),
    Mistake(N_("each coordinate divided by its std first"), N_("that is PCA of the correlation matrix; here all "
            "coordinates share units, so keep them: only subtract the mean."), _pca_wrong(standardise=True)),
]


def check_pca_project(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: pca_project(points) → (N, 2) coordinates on the first two principal axes, any signs."""

    def pca_project(points):  # the student's answer, each axis' sign fixed the same way as the reference's
        return _fixed_signs(student_fn(points))

    def signs_fixed(fn):
        return lambda points: _fixed_signs(fn(points))

    mistakes = [Mistake(m.name, m.hint, signs_fixed(m.fn)) for m in PCA_PROJECT_MISTAKES]
    # atol 0.01: torch.pca_lowrank's randomised answer (default q) lands within 0.002 of the SVD's on
    # these points; every mistake above is off by 3 or more.
    return check_written(pca_project, signs_fixed(pca_project_reference), _pca_inputs, mistakes,
                         name="pca_project", atol=0.01, rtol=1e-3, **kwargs)


CHECKERS = [
    (check_ddim_eta_step, ddim_eta_step_reference, DDIM_ETA_STEP_MISTAKES),
    (check_cfg_mix, cfg_mix_reference, CFG_MIX_MISTAKES),
    (check_expected_norm, expected_norm_reference, EXPECTED_NORM_MISTAKES),
    (check_pca_project, pca_project_reference, PCA_PROJECT_MISTAKES),
]
