"""Lesson 01/02 checkers: each passes the reference solution, names each of its mistakes, never raises,
and tells a student whose stub still returns None that it is not written yet."""

import pytest
import torch
from checker_suite import checker_tests

from latentlab import exercises as ex
from latentlab.vae import DiagonalGaussian

CHECKERS = [
    (ex.check_compression_ratio, ex.compression_ratio_reference, ex.COMPRESSION_RATIO_MISTAKES),
    (ex.check_bits_per_pixel, ex.bits_per_pixel_reference, ex.BITS_PER_PIXEL_MISTAKES),
    (ex.check_reparameterise, ex.reparameterise_reference, ex.REPARAMETERISE_MISTAKES),
    (ex.check_gaussian_kl, ex.gaussian_kl_reference, ex.GAUSSIAN_KL_MISTAKES),
    (ex.check_scaling_factor, ex.scaling_factor_reference, ex.SCALING_FACTOR_MISTAKES),
]
IDS = ["compression_ratio", "bits_per_pixel", "reparameterise", "gaussian_kl", "scaling_factor"]


globals().update(checker_tests(CHECKERS, IDS))


def test_the_brief_mistakes_are_covered():
    names = {m.name for (_, _, mistakes) in CHECKERS for m in mistakes}
    assert "the ratio inverted (latent / image)" in names
    assert "every latent value counted as 4 bytes" in names
    assert "log σ² used as σ (a missing exp(0.5·logvar))" in names
    assert {"the 0.5 left out", "the −1 left out"} <= names
    assert "std instead of 1/std" in names


def test_references_agree_with_the_package():
    """The exercise references are the package's own maths (DiagonalGaussian, metrics)."""
    from latentlab.metrics import compression_figures

    figures = compression_figures((512, 512), (4, 64, 64))
    assert ex.compression_ratio_reference(512, 512, 8, 4, "uint8") == pytest.approx(48.0)
    assert ex.compression_ratio_reference(512, 512, 8, 4, "fp16") == pytest.approx(figures.ratio["fp16"])
    assert ex.bits_per_pixel_reference(512, 512, 8, 4, "fp16") == pytest.approx(figures.latent_bpp["fp16"])
    g = torch.Generator().manual_seed(1)
    moments = torch.randn(2, 8, 4, 4, generator=g)
    posterior = DiagonalGaussian(moments)
    torch.testing.assert_close(ex.gaussian_kl_reference(posterior.mean, posterior.logvar), posterior.kl())
    eps = torch.randn(2, 4, 4, 4, generator=g)
    torch.testing.assert_close(ex.reparameterise_reference(posterior.mean, posterior.logvar, eps),
                               posterior.mean + posterior.std * eps)
