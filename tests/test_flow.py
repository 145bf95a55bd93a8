"""Rectified flow (latentlab.flow) and the flow samplers: diffusers as the oracle, the exact 2-D
denoiser for analytic checks, and the bridge to DDPM's ᾱ and predictions."""

import pytest
import torch

from latentlab import flow
from latentlab.flow import FlowSchedule
from latentlab.pipeline import sample
from latentlab.samplers import make_sampler
from latentlab.samplers.exact import GaussianMixture
from latentlab.schedules import NoiseSchedule

TOL = dict(atol=1e-5, rtol=1e-5)


def _stand_in_velocity(x, timestep):
    """A fixed, smooth, t-dependent 'velocity' (no network): a function of x and t, O(1)."""
    return 0.9 * x + 0.1 * torch.sin(3 * x + float(timestep) / 100.0)


# --- oracle: diffusers' FlowMatchEulerDiscreteScheduler and FlowMatchHeunDiscreteScheduler ----------




def _diffusers():
    return pytest.importorskip("diffusers")


@pytest.mark.parametrize("shift", [1.0, 3.0])
@pytest.mark.parametrize("steps", [4, 20])
def test_timesteps_and_sigmas_match_diffusers(shift, steps):
    reference = _diffusers().FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    schedule = FlowSchedule(shift=shift)
    torch.testing.assert_close(schedule.sigmas, reference.sigmas, **TOL)  # the training table, before set_timesteps
    ours = make_sampler("flow_euler", schedule)
    reference.set_timesteps(steps)
    ours.set_timesteps(steps)
    torch.testing.assert_close(ours.sigmas, reference.sigmas, **TOL)
    torch.testing.assert_close(ours.timesteps / 1000, reference.timesteps / 1000, **TOL)


@pytest.mark.parametrize("shift", [1.0, 3.0])
@pytest.mark.parametrize("name, class_name", [("flow_euler", "FlowMatchEulerDiscreteScheduler"),
                                              ("flow_heun", "FlowMatchHeunDiscreteScheduler")])
def test_full_loop_matches_diffusers(name, class_name, shift):
    """Every call of diffusers' step() against ours (Heun: its interleaved second-order calls
    against our correct()), from the same noise, with the same stand-in velocity."""
    reference = getattr(_diffusers(), class_name)(num_train_timesteps=1000, shift=shift)
    ours = make_sampler(name, FlowSchedule(shift=shift))
    reference.set_timesteps(10)
    ours.set_timesteps(10)
    x = x_ref = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    calls = iter(reference.timesteps)
    for t in ours.timesteps:
        t_ref = next(calls)
        out_ref = reference.step(_stand_in_velocity(x_ref, t_ref), t_ref, x_ref)
        out = ours.step(_stand_in_velocity(x, t), t, x)
        torch.testing.assert_close(out.prev_sample, out_ref.prev_sample, **TOL)
        if out.correct_at is not None:
            t_ref = next(calls)
            assert float(t_ref) == pytest.approx(out.correct_at, abs=1e-3)
            out_ref = reference.step(_stand_in_velocity(out_ref.prev_sample, t_ref), t_ref, out_ref.prev_sample)
            out = ours.correct(_stand_in_velocity(out.prev_sample, out.correct_at), t, x, out)
            torch.testing.assert_close(out.prev_sample, out_ref.prev_sample, **TOL)
        x, x_ref = out.prev_sample, out_ref.prev_sample
    assert next(calls, None) is None


def test_add_noise_matches_diffusers_scale_noise():
    reference = _diffusers().FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0)
    ours = make_sampler("flow_euler", FlowSchedule(shift=3.0))
    reference.set_timesteps(20)
    ours.set_timesteps(20)
    generator = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(1, 4, 8, 8, generator=generator), torch.randn(1, 4, 8, 8, generator=generator)
    t = ours.timesteps[7]
    torch.testing.assert_close(ours.add_noise(x0, t, noise),
                               reference.scale_noise(x0, reference.timesteps[7:8], noise), **TOL)


# --- the forward process, the shift, logit-normal t ----------------------------------------------


def test_interpolation_ends_and_velocity():
    generator = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(3, 2, 4, 4, generator=generator), torch.randn(3, 2, 4, 4, generator=generator)
    assert torch.equal(flow.interpolate(x0, 0.0, noise), x0) and torch.equal(flow.interpolate(x0, 1.0, noise), noise)
    t = torch.tensor([0.1, 0.5, 0.9])
    x_t = flow.interpolate(x0, t, noise)
    torch.testing.assert_close(x_t[1], 0.5 * (x0[1] + noise[1]))
    # the velocity is the derivative of the line in t: a finite difference recovers it
    h = 1e-3
    torch.testing.assert_close((flow.interpolate(x0, t + h, noise) - x_t) / h, flow.velocity_target(x0, noise), atol=1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="flow time t must lie in \\[0, 1\\]"):
        flow.interpolate(x0, 1.5, noise)


def test_shift_multiplies_the_odds_and_follows_resolution():
    t = torch.linspace(0.01, 0.99, 50, dtype=torch.float64)
    shifted = flow.shift_time(t, 3.0)
    torch.testing.assert_close(shifted / (1 - shifted), 3.0 * t / (1 - t))  # t/(1−t) scaled by α
    assert flow.shift_time(0.0, 3.0) == 0.0 and flow.shift_time(1.0, 3.0) == 1.0
    assert (shifted > t).all()  # α > 1 moves every t towards noise
    assert flow.resolution_shift(128 * 128, 64 * 64) == 2.0  # SD3 §5.3.2: α = √(m/n)
    with pytest.raises(ValueError, match="shift must be > 0"):
        FlowSchedule(shift=0.0)


def test_logit_normal_t():
    t = flow.logit_normal_t(200_000, mean=0.5, std=0.8, generator=torch.Generator().manual_seed(0))
    assert ((t > 0) & (t < 1)).all()
    logit = torch.log(t) - torch.log1p(-t)
    assert abs(logit.mean().item() - 0.5) < 0.01 and abs(logit.std().item() - 0.8) < 0.01
    grid = torch.linspace(1e-4, 1 - 1e-4, 20_001, dtype=torch.float64)
    density = flow.logit_normal_density(grid, 0.5, 0.8)
    assert torch.trapezoid(density, grid).item() == pytest.approx(1.0, abs=1e-3)
    histogram = torch.histc(t.double(), bins=10, min=0, max=1) / len(t) / 0.1  # empirical density per bin
    centres = torch.arange(10, dtype=torch.float64) / 10 + 0.05
    torch.testing.assert_close(histogram, flow.logit_normal_density(centres, 0.5, 0.8), atol=0.08, rtol=0.05)


# --- the bridge to DDPM ----------------------------------------------------------------------------


def test_alpha_bar_and_flow_time_correspond():
    schedule = NoiseSchedule.from_name("scaled_linear")
    alpha_bar = schedule.alpha_bar.double()
    t = flow.alpha_bar_to_flow_time(alpha_bar)
    assert (t[1:] > t[:-1]).all() and 0 < t[0] < 0.05 and 0.9 < t[-1] < 1  # more noise, later flow time
    torch.testing.assert_close(flow.flow_time_to_alpha_bar(t), alpha_bar)
    # equal SNR: ᾱ/(1 − ᾱ) = (1 − t)²/t²
    torch.testing.assert_close(alpha_bar / (1 - alpha_bar), (1 - t) ** 2 / t**2)
    # the same x0 and ε: DDPM's x_t, rescaled, is the flow sample
    generator = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(4, 3, 5, 6, generator=generator).double(), torch.randn(4, 3, 5, 6, generator=generator).double()
    x_vp = schedule.q_sample(x0, 600, noise)
    torch.testing.assert_close(flow.vp_to_flow_sample(x_vp.double(), alpha_bar[600]), flow.interpolate(x0, t[600], noise))


@pytest.mark.parametrize("source", flow.PREDICTIONS)
@pytest.mark.parametrize("target", flow.PREDICTIONS)
def test_predictions_convert_into_each_other(source, target):
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 2, 4, 4, generator=generator, dtype=torch.float64)
    eps = torch.randn(3, 2, 4, 4, generator=generator, dtype=torch.float64)
    t = torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64)
    x_t = flow.interpolate(x0, t, eps)
    converted = flow.convert_prediction(flow.from_x0_and_eps(x0, eps, t, source), x_t, t, source, target)
    torch.testing.assert_close(converted, flow.from_x0_and_eps(x0, eps, t, target))
    torch.testing.assert_close(flow.to_x0_and_eps(converted, x_t, t, target), (x0, eps))


def test_v_prediction_is_salimans_and_hos_on_the_matching_ddpm_sample():
    """v = √ᾱ·ε − √(1−ᾱ)·x0 at the ᾱ of equal SNR; velocity = ε − x0, the same at every t."""
    generator = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(2, 5, generator=generator).double(), torch.randn(2, 5, generator=generator).double()
    alpha_bar = torch.tensor(0.3, dtype=torch.float64)
    t = flow.alpha_bar_to_flow_time(alpha_bar)
    torch.testing.assert_close(flow.from_x0_and_eps(x0, eps, t, "v_prediction"),
                               alpha_bar.sqrt() * eps - (1 - alpha_bar).sqrt() * x0)
    torch.testing.assert_close(flow.from_x0_and_eps(x0, eps, t, "velocity"), eps - x0)
    with pytest.raises(ValueError, match="unknown prediction 'score'; known: epsilon, x0, v_prediction, velocity"):
        flow.convert_prediction(x0, x0, t, "score", "velocity")


# --- analytic: the exact 2-D denoiser -----------------------------------------------------------


def _flow_run(data, name, steps, noise):
    schedule = FlowSchedule()
    return sample(data.velocity_model(schedule), make_sampler(name, schedule), latent_shape=noise.shape,
                  steps=steps, noise=noise)


def test_paths_to_a_single_point_are_straight_and_one_euler_step_is_exact():
    """Data = one point μ (a Gaussian of width 0): the optimal velocity is ε − μ, constant along the
    line from the noise to μ. Every step stays on that line, and one Euler step lands on μ."""
    mu = [1.5, -0.5]
    data = GaussianMixture.gaussian(mu, std=0.0)
    noise = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(_flow_run(data, "flow_euler", 1, noise).sample, torch.tensor(mu).expand(200, 2),
                               atol=1e-5, rtol=1e-5)
    run = _flow_run(data, "flow_euler", 8, noise)
    for x_t, t in zip(run.x_t, run.timesteps):
        torch.testing.assert_close(x_t, flow.interpolate(torch.tensor(mu).expand(200, 2), t / 1000, noise), atol=1e-5, rtol=1e-5)


def test_gaussian_paths_follow_the_closed_form():
    """Data N(μ, s²I): the flow ODE's solution from noise z is x_t = (1 − t)·μ + √((1 − t)²s² + t²)·z,
    an affine map of z at every t. The paths lie on straight lines (as sets) only when μ = 0 — a
    ray through the origin — or s = 0 (the test above); otherwise they bend, if far less than DDPM's.
    Flow Heun with 50 steps (99 model calls) reproduces the closed form to 1e-3."""
    for mu, s in (([1.0, -0.5], 0.5), ([0.0, 0.0], 0.5)):
        data = GaussianMixture.gaussian(mu, std=s)
        noise = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
        run = _flow_run(data, "flow_heun", 50, noise)
        mu_t = torch.tensor(mu)
        for x_t, timestep in zip(run.x_t[::7], run.timesteps[::7]):
            t = timestep / 1000
            torch.testing.assert_close(x_t, (1 - t) * mu_t + ((1 - t) ** 2 * s**2 + t**2) ** 0.5 * noise,
                                       atol=1e-3, rtol=1e-3)
        torch.testing.assert_close(run.sample, mu_t + s * noise, atol=1e-3, rtol=1e-3)
        if mu == [0.0, 0.0]:  # radial: every point of a path is a multiple of its starting noise
            cross = torch.stack(run.x_t)[..., 0] * noise[:, 1] - torch.stack(run.x_t)[..., 1] * noise[:, 0]
            assert cross.abs().max() < 1e-4


def test_flow_samplers_reproduce_the_three_blobs():
    data = GaussianMixture.three_blobs()
    noise = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    for name, calls in (("flow_euler", 20), ("flow_heun", 39)):
        run = _flow_run(data, name, 20, noise)
        assert run.model_calls == calls
        weights = torch.bincount(data.assign(run.sample), minlength=3).double() / len(noise)
        assert (weights - data.weights).abs().max() < 0.04, (name, weights)


# --- bad input --------------------------------------------------------------------------------------


def test_flow_samplers_refuse_what_they_cannot_read():
    with pytest.raises(TypeError, match="FlowEulerSampler runs on a FlowSchedule, got a NoiseSchedule"):
        make_sampler("flow_euler", NoiseSchedule.from_name("scaled_linear"))
    with pytest.raises(ValueError, match="unknown prediction_type 'epsilon' for FlowEulerSampler; known: velocity"):
        make_sampler("flow_euler", prediction_type="epsilon")
    sampler = make_sampler("flow_euler")
    sampler.set_timesteps(4)
    with pytest.raises(ValueError, match="outside the flow schedule"):
        sampler.step(torch.zeros(1, 2), 1001.0, torch.zeros(1, 2))


# --- straightness (Liu et al. 2023, §2.2) -----------------------------------------------------------


def test_straightness_is_zero_on_a_line_and_grows_with_the_bend():
    ts = torch.linspace(1, 0, 21)
    x0, noise = torch.randn(3, 2), torch.randn(3, 2)
    line = torch.stack([flow.interpolate(x0, t, noise) for t in ts])  # (21, 3, 2)
    assert flow.straightness(line, ts).max() < 1e-12
    angle = torch.linspace(0, 1, 21)[:, None, None]  # arcs of a quarter and of a half circle, at constant speed
    quarter = torch.cat([torch.cos(angle * torch.pi / 2), torch.sin(angle * torch.pi / 2)], -1)
    half = torch.cat([torch.cos(angle * torch.pi), torch.sin(angle * torch.pi)], -1)
    s_quarter, s_half = flow.straightness(quarter, ts).item(), flow.straightness(half, ts).item()
    # continuous values: |v|² = (π/2)² and π² against chords of √2 and 2 → (π²/4 − 2)/2 and (π² − 4)/4
    assert s_quarter == pytest.approx((torch.pi**2 / 4 - 2) / 2, rel=0.02)
    assert s_half == pytest.approx((torch.pi**2 - 4) / 4, rel=0.02)
    with pytest.raises(ValueError, match="run one way"):
        flow.straightness(line, torch.tensor([1.0, 0.5] + [0.6] * 19))
    with pytest.raises(ValueError, match="expected states"):
        flow.straightness(line, ts[:5])


def test_a_ddim_run_in_flow_coordinates_follows_the_flow_ode():
    """With exact models, DDIM on the VP process and Euler on the flow ODE integrate one ODE, up to a
    change of variables (Gao et al. 2024): rescaled to flow coordinates, many-step runs from the same
    noise end at the same points, and both are straight for a single data point."""
    noise = torch.randn(50, 2, generator=torch.Generator().manual_seed(1))
    for data in (GaussianMixture.three_blobs(), GaussianMixture.gaussian([1.5, -0.5], std=0.0)):
        vp = NoiseSchedule.from_name("scaled_linear")
        ddim = sample(data.denoiser(vp), make_sampler("ddim", vp), noise=noise, steps=200, latent_shape=noise.shape)
        states, ts = flow.trajectory_in_flow_time(ddim, vp)
        assert ts[0] == pytest.approx(flow.alpha_bar_to_flow_time(vp.alpha_bar[int(ddim.timesteps[0])]).item())
        assert ts[-1] == 0 and torch.equal(states[-1], ddim.sample.double())
        # the flow run from the DDIM run's first state, in flow coordinates, at the same flow time
        schedule = FlowSchedule()
        sampler = make_sampler("flow_euler", schedule)
        sampler.set_timesteps(200)
        x = states[0].float()
        grid = torch.linspace(float(ts[0]), 0, 201)
        for t, t_next in zip(grid[:-1], grid[1:]):
            x = x + (t_next - t) * data.velocity_model(schedule)(x, t * 1000)
        torch.testing.assert_close(x.double(), states[-1], atol=2e-2, rtol=0)
    assert flow.straightness(states, ts).max() < 1e-4  # one point: straight in flow coordinates
