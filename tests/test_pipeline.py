"""The denoising loop: any model callable, CFG, img2img `denoise`, Trajectory bookkeeping."""

import pytest
import torch

from latentlab.pipeline import Trajectory, sample, start_timesteps
from latentlab.samplers import SAMPLERS, make_sampler
from latentlab.samplers.exact import GaussianMixture
from latentlab.schedules import NoiseSchedule

SCHEDULE = NoiseSchedule.from_name("scaled_linear")


def zero_model(x_t, t, context):
    return torch.zeros_like(x_t)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_trajectory_records_every_step(name):
    sampler = make_sampler(name, SCHEDULE)
    traj = sample(zero_model, sampler, latent_shape=(2, 4, 4, 4), steps=6, generator=torch.Generator().manual_seed(0))
    assert isinstance(traj, Trajectory) and len(traj) == 6 and traj.sampler == name
    assert traj.stacked("x_t").shape == (6, 2, 4, 4, 4) and traj.stacked("pred_x0").shape == (6, 2, 4, 4, 4)
    assert traj.sample.shape == (2, 4, 4, 4)
    assert traj.model_calls == (11 if name == "heun" else 6) and traj.seconds >= 0  # Heun: 2 per step but the last
    assert traj.timesteps == sorted(traj.timesteps, reverse=True)
    # the recorded x_t is the VP model input: unit variance at the start for every sampler
    assert traj.x_t[0].std().item() == pytest.approx(1.0, abs=0.25)


def test_same_seed_same_result_and_the_model_sees_t_and_context():
    seen = []

    def model(x_t, t, context):
        seen.append((float(t), context))
        return 0.5 * x_t

    sampler = make_sampler("ddpm", SCHEDULE)
    a = sample(model, sampler, latent_shape=(1, 3), steps=4, context="red", generator=torch.Generator().manual_seed(1))
    b = sample(model, sampler, latent_shape=(1, 3), steps=4, context="red", generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a.sample, b.sample, atol=0, rtol=0)
    assert [t for t, _ in seen[:4]] == [750.0, 500.0, 250.0, 0.0]
    assert {c for _, c in seen} == {"red"}


def test_cfg_mixes_conditional_and_unconditional_predictions():
    calls = []

    def model(x_t, t, context):
        calls.append(context)
        return torch.full_like(x_t, 1.0 if context == "cond" else 0.0)

    sampler = make_sampler("ddim", SCHEDULE)
    traj = sample(model, sampler, latent_shape=(1, 2), steps=3, cfg=7.5, context="cond", uncond_context="",
                  generator=torch.Generator().manual_seed(0))
    assert traj.model_calls == 6 and calls.count("cond") == 3 and calls.count("") == 3

    # the guided prediction is ε_u + 7.5·(ε_c − ε_u) = 7.5: same result as a model predicting 7.5
    def guided(x_t, t, context):
        return torch.full_like(x_t, 7.5)

    reference = sample(guided, sampler, latent_shape=(1, 2), steps=3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(traj.sample, reference.sample)


def test_denoise_starts_at_the_matching_timestep_like_comfyui():
    sampler = make_sampler("ddim", SCHEDULE)
    timesteps = start_timesteps(sampler, steps=10, denoise=0.5)
    assert len(sampler.timesteps) == 20  # int(10 / 0.5)
    torch.testing.assert_close(timesteps, sampler.timesteps[-10:])
    assert int(timesteps[0]) == 450

    latent = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    seen = []

    def model(x_t, t, context):
        seen.append(float(t))
        return torch.zeros_like(x_t)

    traj = sample(model, sampler, initial_latent=latent, steps=10, denoise=0.5, generator=torch.Generator().manual_seed(0))
    assert seen[0] == 450.0 and len(seen) == 10 and traj.model_calls == 10
    # the start is the latent noised to t = 450 (q_sample), so it correlates with the latent
    expected_start = SCHEDULE.q_sample(latent, 450, torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(traj.x_t[0], expected_start)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_small_denoise_keeps_the_image_with_the_exact_denoiser(name):
    """img2img at low strength with a perfect model of the data barely moves a point already on the data."""
    data = GaussianMixture.three_blobs()
    sampler = make_sampler(name, SCHEDULE)
    latent = data.means[:1].float()  # the centre of a blob
    traj = sample(data.denoiser(SCHEDULE), sampler, initial_latent=latent, steps=10, denoise=0.2,
                  generator=torch.Generator().manual_seed(0))
    assert (traj.sample - latent).abs().max().item() < 0.5


def test_exact_denoiser_through_the_pipeline_reproduces_the_mixture():
    data = GaussianMixture.three_blobs()
    sampler = make_sampler("dpmpp_2m", SCHEDULE)
    traj = sample(data.denoiser(SCHEDULE), sampler, latent_shape=(3000, 2), steps=25,
                  generator=torch.Generator().manual_seed(0))
    weights = torch.bincount(data.assign(traj.sample), minlength=3).double() / 3000
    # from pure N(0, I) rather than the exact marginal at t = 999: SD's schedule leaves √ᾱ = 0.07 of
    # the data in x_999, a small mismatch — hence a looser 0.05 than the sampler tests' 0.03.
    assert (weights - data.weights).abs().max().item() < 0.05


def test_bad_inputs():
    sampler = make_sampler("euler", SCHEDULE)
    with pytest.raises(ValueError, match="latent_shape .* or initial_latent"):
        sample(zero_model, sampler, steps=3)
    with pytest.raises(ValueError, match="needs an initial_latent"):
        sample(zero_model, sampler, latent_shape=(1, 2), steps=3, denoise=0.5)
    for denoise in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="denoise must be in"):
            sample(zero_model, sampler, initial_latent=torch.zeros(1, 2), steps=3, denoise=denoise)
    for cfg in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="cfg must be a number"):
            sample(zero_model, sampler, latent_shape=(1, 2), steps=3, cfg=cfg)
    with pytest.raises(ValueError, match="exceeds the 1000 training steps"):
        sample(zero_model, sampler, initial_latent=torch.zeros(1, 2), steps=600, denoise=0.5)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        sample(zero_model, sampler, latent_shape=(1, 2), steps=0)
    with pytest.raises(ValueError, match=r"model output is \(1, 3\), sample x_t is \(1, 2\)"):
        sample(lambda x, t, c: torch.zeros(1, 3), sampler, latent_shape=(1, 2), steps=3)


def test_denoise_zero_keeps_the_initial_latent_and_calls_no_model():
    calls = []
    latent = torch.randn(1, 2)
    trajectory = sample(lambda x, t, c: calls.append(t) or x, make_sampler("ddim", SCHEDULE),
                        initial_latent=latent, steps=5, denoise=0.0)
    assert calls == [] and torch.equal(trajectory.sample, latent) and len(trajectory) == 0


def test_nan_from_the_model_names_the_step():
    def model(x_t, t, context):
        return torch.full_like(x_t, float("nan")) if float(t) < 500 else torch.zeros_like(x_t)

    sampler = make_sampler("ddim", SCHEDULE)
    with pytest.raises(ValueError, match=r"model output at step 3 of 4 \(t=250\) holds 2 NaN"):
        sample(model, sampler, latent_shape=(1, 2), steps=4)


def test_sampling_keeps_no_autograd_graph():
    """A trainable model (parameters that require grad) must not make `sample` record a graph through
    every step: memory would grow with the steps (gigabytes for 50 steps of a batch of 32)."""
    layer = torch.nn.Conv2d(4, 4, 3, padding=1)  # requires grad, as a model in training does
    run = sample(lambda x, t, c: layer(x), make_sampler("ddim"), latent_shape=(1, 4, 8, 8), steps=3,
                 generator=torch.Generator().manual_seed(0))
    assert not run.sample.requires_grad and not any(x.requires_grad for x in run.pred_x0)
