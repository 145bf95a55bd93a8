"""Beta schedules and NoiseSchedule: the published numbers, identities, q_sample, bad input."""

import pytest
import torch

from latentlab.schedules import BETA_SCHEDULES, NoiseSchedule, cosine_betas, linear_betas, scaled_linear_betas


def test_stable_diffusion_alpha_bar_values():
    """The issue's numbers: SD's schedule in float32 gives ᾱ at t = 0, 499, 999."""
    schedule = NoiseSchedule.from_name("scaled_linear")
    assert schedule.alpha_bar.dtype == torch.float32
    torch.testing.assert_close(schedule.alpha_bar[[0, 499, 999]], torch.tensor([0.99915, 0.27767, 0.0046601]),
                               atol=0, rtol=2e-5)


def test_scaled_linear_is_squared_linspace_of_square_roots():
    betas = scaled_linear_betas(1000)
    torch.testing.assert_close(betas.sqrt(), torch.linspace(0.00085**0.5, 0.012**0.5, 1000))
    assert betas[0].item() == pytest.approx(0.00085) and betas[-1].item() == pytest.approx(0.012)


def test_linear_and_cosine_endpoints():
    assert linear_betas(1000)[[0, -1]].tolist() == pytest.approx([1e-4, 0.02])
    betas = cosine_betas(1000)
    assert betas.max().item() <= 0.999 + 1e-7  # clipped (Nichol & Dhariwal §3.2)
    alpha_bar = NoiseSchedule(betas).alpha_bar
    # ᾱ follows cos²((t/T + s)/(1 + s)·π/2) / cos²(s/(1+s)·π/2) away from the clipped end
    t = torch.tensor([100.0, 500.0, 900.0])
    f0 = torch.cos(torch.tensor(0.008 / 1.008 * torch.pi / 2)) ** 2
    # ᾱ_t = ∏_{s≤t} α_s = f((t+1)/T)/f(0)
    f_next = torch.cos(((t + 1) / 1000 + 0.008) / 1.008 * torch.pi / 2) ** 2
    torch.testing.assert_close(alpha_bar[t.long()], f_next / f0, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", list(BETA_SCHEDULES))
def test_identities(name):
    s = NoiseSchedule.from_name(name)
    torch.testing.assert_close(s.alphas, 1 - s.betas)
    torch.testing.assert_close(s.alpha_bar, torch.cumprod(s.alphas, 0))
    torch.testing.assert_close(s.sqrt_alpha_bar**2 + s.sqrt_one_minus_alpha_bar**2, torch.ones(1000))
    torch.testing.assert_close(s.snr, s.alpha_bar / (1 - s.alpha_bar))
    torch.testing.assert_close(s.sigma, s.snr.rsqrt(), rtol=1e-4, atol=1e-6)
    assert (s.alpha_bar[1:] < s.alpha_bar[:-1]).all(), "ᾱ must fall monotonically"
    assert s.snr_db.shape == (1000,)


def test_q_sample_formula_and_batch_of_timesteps(generator):
    s = NoiseSchedule.from_name("scaled_linear")
    x0 = torch.randn(3, 4, 2, 2, generator=generator)
    noise = torch.randn(3, 4, 2, 2, generator=generator)
    t = torch.tensor([0, 499, 999])
    x_t = s.q_sample(x0, t, noise)
    for i in range(3):
        expected = s.alpha_bar[t[i]].sqrt() * x0[i] + (1 - s.alpha_bar[t[i]]).sqrt() * noise[i]
        torch.testing.assert_close(x_t[i], expected)
    torch.testing.assert_close(s.q_sample(x0, 499, noise)[1], x_t[1])


def test_q_sample_statistics(generator):
    """x_t of unit-variance data has unit variance (variance preserving) and corr(x0, x_t) = √ᾱ."""
    s = NoiseSchedule.from_name("scaled_linear")
    x0 = torch.randn(200_000, generator=generator)
    x_t = s.q_sample(x0, 499, torch.randn(200_000, generator=generator))
    assert x_t.var().item() == pytest.approx(1.0, abs=0.01)
    assert torch.corrcoef(torch.stack([x0, x_t]))[0, 1].item() == pytest.approx(s.sqrt_alpha_bar[499].item(), abs=0.01)


def test_t_for_snr_and_fractional_lookups():
    s = NoiseSchedule.from_name("scaled_linear")
    t = s.t_for_snr(1.0)
    assert s.snr[t] <= 1 < s.snr[t - 1]
    torch.testing.assert_close(s.sigma_at(torch.tensor(10.0)), s.sigma[10])
    mid = s.sigma_at(10.5).item()
    assert mid == pytest.approx((s.sigma[10] + s.sigma[11]).item() / 2, rel=1e-6)
    torch.testing.assert_close(s.alpha_bar_at(7), s.alpha_bar[7])
    assert s.alpha_bar[11] < s.alpha_bar_at(10.5) < s.alpha_bar[10]


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("t", [-1, 1000, 5000, torch.tensor([3, 1000])])
def test_t_outside_the_schedule(t):
    s = NoiseSchedule.from_name("scaled_linear")
    x0 = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"outside the schedule.*0 ≤ t ≤ 999"):
        s.q_sample(x0, t, torch.zeros(2, 3))


def test_unknown_schedule_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown schedule 'quadratic'; known schedules: linear, scaled_linear, cosine"):
        NoiseSchedule.from_name("quadratic")


def test_other_bad_inputs():
    s = NoiseSchedule.from_name("linear")
    with pytest.raises(ValueError, match="noise must have the shape of x0"):
        s.q_sample(torch.zeros(2, 3), 5, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="one t per sample"):
        s.q_sample(torch.zeros(2, 3), torch.tensor([1, 2, 3]), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="integer timesteps"):
        s.q_sample(torch.zeros(2, 3), 2.5, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        NoiseSchedule(torch.tensor([0.1, 1.5]))
    with pytest.raises(ValueError, match="integer ≥ 2"):
        linear_betas(0)
