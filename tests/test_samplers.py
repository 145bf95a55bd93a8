"""Samplers without any reference library: API, determinism, bad input, and analytic correctness.

Analytic tests: for a mixture of Gaussians the optimal denoiser E[x0 | x_t] is closed form
(latentlab.samplers.exact), so sampling with it must give back the data distribution; any error
left is the sampler's discretisation plus the Monte-Carlo error of a finite cloud of points.
"""

import pytest
import torch

from latentlab.flow import FlowSchedule
from latentlab.pipeline import sample
from latentlab.samplers import SAMPLERS, DDIMSampler, EulerSampler, StepOutput, make_sampler
from latentlab.samplers.exact import GaussianMixture
from latentlab.schedules import NoiseSchedule

NAMES = list(SAMPLERS)
SCHEDULE = NoiseSchedule.from_name("scaled_linear")


def sample_with(sampler, model, x0, generator):
    """The loop, starting from data noised to the first timestep (the exact marginal there)."""
    x = sampler.add_noise(x0, sampler.timesteps[0], torch.randn(x0.shape, generator=generator))
    for t in sampler.timesteps:
        out = sampler.step(model(sampler.scale_model_input(x, t), t), t, x, generator=generator)
        if out.correct_at is not None:  # Heun's second model call
            second = model(sampler.scale_model_input(out.prev_sample, out.correct_at), out.correct_at)
            out = sampler.correct(second, t, x, out)
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


@pytest.mark.parametrize("name", ["ddim", "euler", "heun"])
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
# ≤ 0.012 (DDIM, Euler), ≤ 0.007 (DPM++ 2M), ≤ 0.003 (Heun).
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
    with pytest.raises(ValueError, match="unknown sampler 'lms'; known samplers: ddpm, ddim, euler, dpmpp_2m, heun, "
                                         "flow_euler, flow_heun"):
        make_sampler("lms", SCHEDULE)
    with pytest.raises(ValueError, match="known: epsilon, v_prediction"):
        make_sampler("ddim", SCHEDULE, prediction_type="x0")


@pytest.mark.parametrize("eta", [-0.1, float("nan")])
def test_negative_eta(eta):
    with pytest.raises(ValueError, match="eta"):
        DDIMSampler(SCHEDULE, eta=eta)


# --- Euler is DDIM (issue 12): the same update, a different default grid ---------------------


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_euler_is_ddim_on_the_same_timesteps(prediction_type):
    """Song et al. §4.3 (eq. 14–15): DDIM η=0 is Euler's method in σ-space. On DDIM's own grid the
    two agree step by step, up to float32 rounding (measured on the final sample: 3e-6 with ε,
    7e-5 with v for a particle between two blobs, where the denoiser amplifies any difference;
    the default grids differ by more than 0.1, see the next test)."""
    data = GaussianMixture.three_blobs()
    model = data.denoiser(SCHEDULE, prediction_type)
    runs = {}
    for name, sampler in (("ddim", DDIMSampler(SCHEDULE, prediction_type=prediction_type)),
                          ("euler", EulerSampler(SCHEDULE, prediction_type=prediction_type, timestep_spacing="leading"))):
        runs[name] = sample(model, sampler, latent_shape=(500, 2), steps=20, generator=torch.Generator().manual_seed(0))
    ddim, euler = runs["ddim"], runs["euler"]
    assert ddim.timesteps == euler.timesteps
    torch.testing.assert_close(euler.sample, ddim.sample, atol=2e-4, rtol=1e-4)
    for x_euler, x_ddim in zip(euler.x_t, ddim.x_t):  # the model saw the same inputs at every step
        torch.testing.assert_close(x_euler, x_ddim, atol=2e-4, rtol=1e-4)
    for x0_euler, x0_ddim in zip(euler.pred_x0, ddim.pred_x0):
        torch.testing.assert_close(x0_euler, x0_ddim, atol=2e-4, rtol=1e-4)


def test_euler_and_ddim_default_grids_differ_and_so_do_their_samples():
    """What a student sees differ between the two is the grid: 950 … 0 against 999 … 0."""
    ddim, euler = make_sampler("ddim", SCHEDULE), make_sampler("euler", SCHEDULE)
    assert ddim.set_timesteps(20)[[0, -1]].tolist() == [950, 0]
    assert euler.set_timesteps(20)[[0, -1]].tolist() == [999, 0]
    model = GaussianMixture.three_blobs().denoiser(SCHEDULE)
    a, b = (sample(model, s, latent_shape=(500, 2), steps=20, generator=torch.Generator().manual_seed(0)).sample
            for s in (ddim, euler))
    assert (a - b).abs().max() > 0.1  # some particles end in another blob


def test_bad_timestep_spacing():
    with pytest.raises(ValueError, match="'linspace'.*'leading'.*got 'trailing'"):
        EulerSampler(SCHEDULE, timestep_spacing="trailing")


# --- Heun: two model calls per step, second order -----------------------------------------


def _ode_error(name, steps, noise):
    """max |final sample − the exact ODE solution| for Gaussian data N(μ, s²I), where the
    probability-flow ODE in σ-space is solved in closed form: x(σ) = μ + √(s² + σ²)·z."""
    mu, s = torch.tensor([1.0, -0.5], dtype=torch.float64), 0.5
    sampler = make_sampler(name, SCHEDULE)
    run = sample(GaussianMixture.gaussian(mu.tolist(), s).denoiser(SCHEDULE), sampler, latent_shape=noise.shape,
                 steps=steps, noise=noise)
    sigma_max = sampler.sigmas[0].double()
    x_start = noise.double() * (sigma_max**2 + 1) ** 0.5
    exact = mu + s * (x_start - mu) / (s**2 + sigma_max**2) ** 0.5
    return (run.sample.double() - exact).abs().max().item(), run.model_calls


def test_heun_is_second_order_and_euler_first():
    """Doubling the steps divides the error by about 2 for Euler (first order) and 4 for Heun (second
    order). Measured: Euler 0.357 → 0.192 (10 → 20 steps), Heun 0.072 → 0.015."""
    noise = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    euler_10, _ = _ode_error("euler", 10, noise)
    euler_20, _ = _ode_error("euler", 20, noise)
    heun_10, calls_10 = _ode_error("heun", 10, noise)
    heun_20, calls_20 = _ode_error("heun", 20, noise)
    euler_40, calls_euler_40 = _ode_error("euler", 40, noise)
    assert (calls_10, calls_20, calls_euler_40) == (19, 39, 40)  # 2n − 1: the last step is Euler's
    assert 1.5 < euler_10 / euler_20 < 2.5
    assert heun_10 / heun_20 > 3.5
    assert heun_20 < euler_40 / 5  # fewer model calls, a far smaller error


def test_heun_step_asks_for_a_second_call_except_on_the_last_step(generator):
    sampler = make_sampler("heun", SCHEDULE)
    sampler.set_timesteps(3)
    x = torch.randn(1, 2, 2, 2, generator=generator)
    eps = torch.randn(1, 2, 2, 2, generator=generator)
    first = sampler.step(eps, sampler.timesteps[0], x)
    assert first.correct_at == float(sampler.timesteps[1])
    assert sampler.step(eps, sampler.timesteps[2], x).correct_at is None  # σ_{i+1} = 0: Euler only
    # the same ε at the trial point means a straight path: the correction changes nothing
    torch.testing.assert_close(sampler.correct(eps, sampler.timesteps[0], x, first).prev_sample, first.prev_sample)
    with pytest.raises(ValueError, match="correct\\(\\) takes the StepOutput that step\\(\\) returned"):
        sampler.correct(eps, sampler.timesteps[1], x, first)
    with pytest.raises(RuntimeError, match="one model call per step"):
        make_sampler("ddim", SCHEDULE).correct(eps, 0, x, first)


@pytest.mark.parametrize("name", ["ddim", "euler"])
def test_add_noise_takes_q_sample_argument_order(name, generator):
    """add_noise(x0, t, noise), like schedule.q_sample(x0, t, noise); the old order is named."""
    sampler = make_sampler(name, SCHEDULE)
    sampler.set_timesteps(4)
    x0, noise = torch.randn(2, 3, generator=generator), torch.randn(2, 3, generator=generator)
    t = sampler.timesteps[1]
    x = sampler.add_noise(x0, t, noise)
    alpha_bar = SCHEDULE.alpha_bar_at(t)
    torch.testing.assert_close(x * sampler.scale_model_input(torch.ones(()), t),
                               SCHEDULE.q_sample(x0, int(t), noise) if name == "ddim"
                               else alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise)
    with pytest.raises(TypeError, match="add_noise takes \\(x0, t, noise\\).*Swap the last two"):
        sampler.add_noise(x0, noise, t)


def test_a_flow_schedule_is_refused_by_a_diffusion_sampler():
    with pytest.raises(TypeError, match="DDIMSampler runs on a NoiseSchedule, got a FlowSchedule"):
        make_sampler("ddim", FlowSchedule())


def test_the_pipeline_loop_makes_heuns_second_call_visibly():
    """pipeline.sample calls the model at t_i, then at t_{i+1} on the trial point (twice each with
    CFG), and on the last step only once: 2·(2n − 1) calls for n = 4 steps with CFG."""
    seen = []

    def model(x_t, t, context):
        seen.append((float(t), context))
        return 0.1 * x_t

    sampler = make_sampler("heun", SCHEDULE)
    run = sample(model, sampler, latent_shape=(1, 2), steps=4, cfg=2.0, context="c", uncond_context="u",
                 generator=torch.Generator().manual_seed(0))
    t = [float(v) for v in sampler.timesteps]
    assert run.model_calls == len(seen) == 14
    assert [time for time, _ in seen[::2]] == [t[0], t[1], t[1], t[2], t[2], t[3], t[3]]
    assert [context for _, context in seen[:2]] == ["c", "u"]
    assert len(run) == 4 and run.timesteps == t  # one trajectory entry per step, not per call
