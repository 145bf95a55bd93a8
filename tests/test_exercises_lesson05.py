"""Lesson 05's checkers beyond the standard tests (tests/test_checkers.py; the trajectory checkers' own
tests are in tests/test_widgets_trajectory.py): the DDIM exercise is the package's sampler."""

import pytest
import torch

from latentlab.exercises.lesson05 import DDIM_ETA_STEP_MISTAKES, _ddim_eta_inputs, ddim_eta_step_reference
from latentlab.samplers import DDIMSampler, DDPMSampler


def _one_step(sampler, step: int):
    """(eps, x_t, ᾱ_t, ᾱ_prev, t) for the sampler's `step`-th timestep of 10; tensors (2, 3, 5, 4)."""
    sampler.set_timesteps(10)
    t = float(sampler.timesteps[step])
    alpha_bar = sampler.schedule.alpha_bar[int(t)].item()
    alpha_bar_prev = sampler.alpha_bar_or_one(sampler.previous_timestep(t)).item()
    generator = torch.Generator().manual_seed(step)
    eps, x_t = torch.randn(2, 3, 5, 4, generator=generator), torch.randn(2, 3, 5, 4, generator=generator)
    return eps, x_t, alpha_bar, alpha_bar_prev, t


@pytest.mark.parametrize("eta", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("step", [0, 4, 9])
def test_ddim_eta_step_reference_is_the_packages_ddim_with_that_noise(eta, step):
    sampler = DDIMSampler(eta=eta)
    eps, x_t, alpha_bar, alpha_bar_prev, t = _one_step(sampler, step)
    noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(7))  # what the sampler draws from seed 7
    torch.testing.assert_close(ddim_eta_step_reference(eps, x_t, alpha_bar, alpha_bar_prev, eta, noise),
                               sampler.step(eps, t, x_t, generator=torch.Generator().manual_seed(7)).prev_sample)


@pytest.mark.parametrize("step", [0, 4, 8])
def test_at_eta_one_the_reference_is_ddpms_step(step):
    ddpm = DDPMSampler()
    eps, x_t, alpha_bar, alpha_bar_prev, t = _one_step(ddpm, step)
    noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(ddim_eta_step_reference(eps, x_t, alpha_bar, alpha_bar_prev, 1.0, noise),
                               ddpm.step(eps, t, x_t, generator=torch.Generator().manual_seed(7)).prev_sample)


def test_the_checkers_trials_meet_both_etas():
    generator = torch.Generator().manual_seed(0)  # check()'s default seed: its three trials
    assert {_ddim_eta_inputs(generator)["eta"] for _ in range(3)} == {0.3, 1.0}


def test_the_brief_mistakes_are_covered():
    names = {m.name for m in DDIM_ETA_STEP_MISTAKES}
    assert {"σ² not subtracted from the direction term", "the noise scaled by σ² instead of σ",
            "the first factor √((1−ᾱ_prev)/(1−ᾱ_t)) missing from σ"} <= names
    hint = next(m.hint for m in DDIM_ETA_STEP_MISTAKES if m.name.startswith("the first factor"))
    assert "DDPM's posterior std √β̃_t" in hint
