"""Samplers without any reference library: API, determinism, bad input, and analytic correctness.

Analytic tests: for a mixture of Gaussians the optimal denoiser E[x0 | x_t] is closed form
(latentlab.samplers.exact), so sampling with it must give back the data distribution; any error
left is the sampler's discretisation plus the Monte-Carlo error of a finite cloud of points.
"""

import pytest
import torch

from latentlab.samplers import SAMPLERS, DDIMSampler, StepOutput, make_sampler
from latentlab.samplers.exact import GaussianMixture
from latentlab.schedules import NoiseSchedule

NAMES = list(SAMPLERS)
SCHEDULE = NoiseSchedule.from_name("scaled_linear")


def sample_with(sampler, model, x0, generator):
    """The loop, starting from data noised to the first timestep (the exact marginal there)."""
    x = sampler.add_noise(x0, torch.randn(x0.shape, generator=generator), sampler.timesteps[0])
    for t in sampler.timesteps:
        out = sampler.step(model(sampler.scale_model_input(x, t), t), t, x, generator=generator)
        x = out.prev_sample
    return x


@pytest.mark.parametrize("name", NAMES)
def test_api_shapes_and_descending_timesteps(name, generator):
    sampler = make_sampler(name, SCHEDULE)
    timesteps = sampler.set_timesteps(10)
    assert len(timesteps) == 10 and (timesteps[1:] < timesteps[:-1]).all()
    assert 0 <= timesteps.min() and timesteps.max() <= 999
    x = torch.randn(2, 4, 3, 3, generator=generator) * sampler.init_noise_sigma
    out = sampler.step(torch.randn(2, 4, 3, 3, generator=generator), timesteps[0], x, generator=generator)
    assert isinstance(out, StepOutput)
    assert out.prev_sample.shape == x.shape and out.pred_x0.shape == x.shape


@pytest.mark.parametrize("name", ["ddim", "euler"])
def test_no_hidden_counter_same_call_same_answer(name, generator):
    """Calling step twice with the same (t, x) gives the same result: no step counter inside."""
    sampler = make_sampler(name, SCHEDULE)
    sampler.set_timesteps(5)
    x = torch.randn(1, 2, 2, 2, generator=generator)
    eps = torch.randn(1, 2, 2, 2, generator=generator)
    t = sampler.timesteps[2]
    first = sampler.step(eps, t, x).prev_sample
    torch.testing.assert_close(sampler.step(eps, t, x).prev_sample, first, atol=0, rtol=0)


def test_dpmpp_uses_its_memory_only_for_the_step_just_before(generator):
    sampler = make_sampler("dpmpp_2m", SCHEDULE)
    sampler.set_timesteps(5)
    x = torch.randn(1, 2, 2, 2, generator=generator)
    eps = torch.randn(1, 2, 2, 2, generator=generator)
    t1, t2 = sampler.timesteps[1], sampler.timesteps[2]
    fresh = sampler.step(eps, t2, x).prev_sample  # no predecessor: first order
    sampler.step(eps, t2, x)  # a repeated call is not "the step before" either
    torch.testing.assert_close(sampler.step(eps, t2, x).prev_sample, fresh, atol=0, rtol=0)
    sampler.step(eps * 0.5, t1, x)  # now t1 precedes t2: second order, a different answer
    assert not torch.equal(sampler.step(eps, t2, x).prev_sample, fresh)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_ddim_with_a_denoiser_that_knows_x0_lands_on_x0(prediction_type, generator):
    """DDIM η=0 (Song et al. eq. 12): with ε̂ consistent with the true x0, x̂0 = x0 at every step."""
    x0 = torch.randn(2, 4, 8, 8, generator=generator)
    sampler = DDIMSampler(SCHEDULE, prediction_type=prediction_type, eta=0.0)
    sampler.set_timesteps(10)

    def oracle(x_t, t, context=None):
        alpha_bar = SCHEDULE.alpha_bar[int(t)]
        eps = (x_t - alpha_bar.sqrt() * x0) / (1 - alpha_bar).sqrt()
        return eps if prediction_type == "epsilon" else alpha_bar.sqrt() * eps - (1 - alpha_bar).sqrt() * x0

    x = torch.randn(x0.shape, generator=generator)
    for t in sampler.timesteps:
        out = sampler.step(oracle(x, t), t, x)
        torch.testing.assert_close(out.pred_x0, x0, atol=1e-4, rtol=1e-4)
        x = out.prev_sample
    torch.testing.assert_close(x, x0, atol=1e-5, rtol=1e-5)


# Gaussian data N(μ, s²I), s = 0.5: n = 10 000 points, 100 steps. Tolerances: mean within 0.02
# (4 standard errors s/√n = 0.005), covariance entries within 0.04 (16 % of s² = 0.25; DDPM's
# ancestral noise needs the most steps). Measured (seed 0): mean ≤ 0.007, cov ≤ 0.027 (DDPM),
# ≤ 0.012 (DDIM, Euler), ≤ 0.007 (DPM++ 2M).
@pytest.mark.parametrize("name", NAMES)
def test_gaussian_data_is_reproduced(name):
    generator = torch.Generator().manual_seed(0)
    data = GaussianMixture.gaussian([1.0, -0.5], std=0.5)
    sampler = make_sampler(name, SCHEDULE)
    sampler.set_timesteps(100)
    x = sample_with(sampler, data.denoiser(SCHEDULE), data.sample(10_000, generator), generator).double()
    mean_error = (x.mean(0) - data.mean()).abs().max().item()
    cov_error = (torch.cov(x.T) - data.covariance()).abs().max().item()
    print(f"{name}: gaussian mean error {mean_error:.4f}, covariance error {cov_error:.4f}")
    assert mean_error < 0.02
    assert cov_error < 0.04


# 2-D mixture of three blobs (weights 0.5/0.3/0.2, radius 2, s = 0.3): n = 4000 points, 50 steps.
# Tolerances: weights within 0.03 (4 standard errors √(0.25/n) = 0.008), mean within 0.08
# (3 standard errors 1.7/√n = 0.027), covariance entries within 0.15 (8 % of the data's ~2).
# Measured (seed 0): weights ≤ 0.013, mean ≤ 0.043, cov ≤ 0.058.
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("name", NAMES)
def test_mixture_weights_are_reproduced(name, prediction_type):
    generator = torch.Generator().manual_seed(0)
    data = GaussianMixture.three_blobs()
    sampler = make_sampler(name, SCHEDULE, prediction_type=prediction_type)
    sampler.set_timesteps(50)
    x = sample_with(sampler, data.denoiser(SCHEDULE, prediction_type), data.sample(4000, generator), generator)
    x = x.double()
    weights = torch.bincount(data.assign(x), minlength=3).double() / len(x)
    weight_error = (weights - data.weights).abs().max().item()
    mean_error = (x.mean(0) - data.mean()).abs().max().item()
    cov_error = (torch.cov(x.T) - data.covariance()).abs().max().item()
    print(f"{name} {prediction_type}: mixture weight error {weight_error:.4f}, mean {mean_error:.4f}, "
          f"covariance {cov_error:.4f}")
    assert weight_error < 0.03
    assert mean_error < 0.08
    assert cov_error < 0.15


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_bad_number_of_steps(name):
    sampler = make_sampler(name, SCHEDULE)
    with pytest.raises(ValueError, match="between 1 and the 1000 training steps, got 1001"):
        sampler.set_timesteps(1001)
    with pytest.raises(ValueError, match="between 1 and the 1000 training steps, got 0"):
        sampler.set_timesteps(0)
    with pytest.raises(TypeError, match="must be an int"):
        sampler.set_timesteps(2.5)


@pytest.mark.parametrize("name", NAMES)
def test_t_outside_the_schedule_or_not_a_sampling_step(name):
    sampler = make_sampler(name, SCHEDULE)
    x = torch.zeros(1, 2)
    with pytest.raises(RuntimeError, match="call set_timesteps"):
        sampler.step(x, 999, x)
    sampler.set_timesteps(4)
    with pytest.raises(ValueError, match="outside the schedule"):
        sampler.step(x, 1000, x)
    with pytest.raises(ValueError, match="outside the schedule"):
        sampler.step(x, -3, x)
    with pytest.raises(ValueError, match="not one of this sampler's 4 timesteps"):
        sampler.step(x, 123, x)


@pytest.mark.parametrize("name", NAMES)
def test_mismatched_shapes(name):
    sampler = make_sampler(name, SCHEDULE)
    sampler.set_timesteps(4)
    with pytest.raises(ValueError, match=r"model output is \(1, 4, 8, 8\), sample x_t is \(1, 4, 8, 9\)"):
        sampler.step(torch.zeros(1, 4, 8, 8), sampler.timesteps[0], torch.zeros(1, 4, 8, 9))


@pytest.mark.parametrize("name", NAMES)
def test_nan_in_model_output_names_the_step(name):
    sampler = make_sampler(name, SCHEDULE)
    sampler.set_timesteps(4)
    output = torch.zeros(1, 2, 2, 2)
    output[0, 0, 0, 0] = float("nan")
    t = sampler.timesteps[2]
    with pytest.raises(ValueError, match=rf"model output at step 3 of 4 \(t={float(t):g}\) holds 1 NaN"):
        sampler.step(output, t, torch.zeros(1, 2, 2, 2))


def test_unknown_sampler_and_prediction_type_list_the_known_ones():
    with pytest.raises(ValueError, match="unknown sampler 'heun'; known samplers: ddpm, ddim, euler, dpmpp_2m"):
        make_sampler("heun", SCHEDULE)
    with pytest.raises(ValueError, match="known: epsilon, v_prediction"):
        make_sampler("ddim", SCHEDULE, prediction_type="x0")


@pytest.mark.parametrize("eta", [-0.1, float("nan")])
def test_negative_eta(eta):
    with pytest.raises(ValueError, match="eta"):
        DDIMSampler(SCHEDULE, eta=eta)
