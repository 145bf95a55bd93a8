"""Lesson 02's checkers beyond the standard tests (tests/test_checkers.py): the references are the
package's DiagonalGaussian, and the named mistakes are the ones the exercises invite."""

import pytest
import torch

from latentlab.exercises.lesson02 import (
    KL_BY_HAND_MISTAKES,
    LOGVAR_FOR_KL_MISTAKES,
    SCALING_FACTOR_MISTAKES,
    _kl_by_hand_inputs,
    _logvar_inputs,
    check_kl_by_hand,
    kl_by_hand_reference,
    logvar_for_kl_reference,
)
from latentlab.vae import DiagonalGaussian


def test_the_brief_mistakes_are_covered():
    names = {m.name for m in KL_BY_HAND_MISTAKES + LOGVAR_FOR_KL_MISTAKES + SCALING_FACTOR_MISTAKES}
    assert {"the costliest value picked by the largest |μ|", "the 0.5 left out", "the −1 left out"} <= names
    assert {"the positive root (σ > 1)", "the e^s term dropped (log σ² = −2k − 1)"} <= names
    assert "std instead of 1/std" in names


def test_kl_by_hand_reference_is_the_packages_kl_of_the_whole_latent():
    inputs = _kl_by_hand_inputs(torch.Generator().manual_seed(3))
    mean, logvar = inputs["mean"], inputs["logvar"]
    total, costliest = kl_by_hand_reference(mean, logvar)
    # the n values as the channels of one (1, n, 1, 1) latent: DiagonalGaussian sums them itself
    latent = DiagonalGaussian(torch.cat([mean, logvar])[None, :, None, None])
    assert total == pytest.approx(latent.kl().item(), rel=1e-9)
    # and each value's cost from torch.distributions, an independent implementation
    per_value = torch.distributions.kl_divergence(torch.distributions.Normal(mean, (0.5 * logvar).exp()),
                                                  torch.distributions.Normal(0.0, 1.0))
    assert costliest == int(per_value.argmax())


@pytest.mark.parametrize("seed", range(20))
def test_the_largest_mean_is_never_the_costliest_value(seed):
    inputs = _kl_by_hand_inputs(torch.Generator().manual_seed(seed))
    _, costliest = kl_by_hand_reference(**inputs)
    assert costliest != int(inputs["mean"].abs().argmax())
    assert inputs["mean"][costliest] == 0.0  # the cost is all in σ


def test_a_copied_sum_over_a_latent_is_not_the_answer():
    def copied(mean, logvar):  # the lesson's line, which sums over (c, h, w) of a (B, c, h, w) latent
        return 0.5 * torch.sum(mean**2 + torch.exp(logvar) - 1 - logvar, dim=(1, 2, 3))

    result = check_kl_by_hand(copied, quiet=True)
    assert not result.passed and "IndexError" in result.message


@pytest.mark.parametrize("seed", range(3))
def test_logvar_for_kl_costs_exactly_the_target_with_sigma_below_one(seed):
    kl = _logvar_inputs(torch.Generator().manual_seed(seed))["kl"]
    logvar = logvar_for_kl_reference(kl)
    moments = torch.stack([torch.zeros_like(logvar), logvar], dim=1)[:, :, None, None]  # (n, 2, 1, 1), μ = 0
    torch.testing.assert_close(DiagonalGaussian(moments).kl(), kl, atol=1e-10, rtol=1e-10)
    assert (logvar < 0).all()


def test_the_positive_root_costs_the_same_and_minus_2k_minus_1_is_only_the_asymptote():
    kl = torch.tensor([0.5, 2.0, 12.0], dtype=torch.float64)
    positive = {m.name: m.fn for m in LOGVAR_FOR_KL_MISTAKES}["the positive root (σ > 1)"](kl)
    moments = torch.stack([torch.zeros_like(positive), positive], dim=1)[:, :, None, None]
    torch.testing.assert_close(DiagonalGaussian(moments).kl(), kl, atol=1e-10, rtol=1e-10)
    assert (positive > 0).all()
    gap = (logvar_for_kl_reference(kl) - (-2 * kl - 1)).abs()  # e^s shrinks as the KL grows
    assert gap[0] > 1e-2 and gap[2] < 1e-9
