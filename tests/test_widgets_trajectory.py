"""The denoising trajectory player and its helpers (lesson 05 on the trained model), driven through
their controls, and the lesson's checkers.

A tiny untrained LatentDiffusion and a tiny VAE keep these fast: what is sampled, decoded and cached
when a control moves does not depend on training. Model and VAE calls are counted with forward hooks."""

import numpy as np
import pytest
import torch

from latentlab import widgets
from latentlab.exercises.lesson05 import (
    CFG_MIX_MISTAKES,
    EXPECTED_NORM_MISTAKES,
    PCA_PROJECT_MISTAKES,
    cfg_mix_reference,
    check_cfg_mix,
    check_expected_norm,
    check_pca_project,
    expected_norm_reference,
    pca_project_reference,
)
from latentlab.ldm import LatentDiffusion, LDMConfig
from latentlab.pipeline import Trajectory, sample_prompt
from latentlab.vae import AutoencoderKL, VAEConfig
from latentlab.viz import norm_figure, pca_figure, principal_components, trajectory_pca, trajectory_points
from latentlab.widgets.trajectory import (
    SamplerComparisonApp,
    TrajectoryApp,
    channel_strip,
    compare_samplers,
    decode_frames,
    norm_plot,
)

PROMPT = "a large red circle on a blue background"


class CallCounter:
    """Counts forward calls of a module (the model's UNet passes, the VAE's decoder passes)."""

    def __init__(self, module: torch.nn.Module):
        self.calls = 0
        module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        self.calls += 1


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return LatentDiffusion(LDMConfig.tiny()).eval(), AutoencoderKL(VAEConfig.tiny()).eval()


@pytest.fixture
def counted(models):
    """(model, vae, model_calls, decoder_calls): fresh counters on the shared tiny models."""
    model, vae = models
    model._forward_hooks.clear()
    vae.decoder._forward_hooks.clear()
    return model, vae, CallCounter(model), CallCounter(vae.decoder)


# --- the player ------------------------------------------------------------------------------------


def test_one_run_then_scrubbing_calls_neither_the_model_nor_the_vae(counted):
    model, vae, model_calls, decoder_calls = counted
    app = TrajectoryApp(model, vae, prompt=PROMPT, steps=5, cfg=3.0)
    shown = app.render()
    assert shown["frames"] == shown["steps"] == 5 and shown["step"] == 0
    assert model_calls.calls == shown["model_calls"] == 10  # 2 per step: CFG
    assert shown["picture_ms"] >= shown["sample_ms"]  # the final picture's time includes the sampling loop
    assert decoder_calls.calls == 2  # the final picture first, alone; then every frame in one batched decode
    pictures = set()
    for k in range(5):
        app.controls["step"].value = k
        shown = app.render()
        assert shown["step"] == k and shown["t"] == app.run()["trajectory"].timesteps[k]
        pictures.add(bytes(app.x_t_image.value))
    assert model_calls.calls == 10 and decoder_calls.calls == 2 and shown["sampling_runs"] == 1
    assert len(pictures) == 5  # each step shows its own x_t
    for image in (app.x_t_image, app.pred_x0_image, app.final_image, app.channels_image, app.norm_image):
        assert bytes(image.value).startswith(b"\x89PNG")
    assert app.status.value == ""


def test_changing_the_sampler_samples_again_and_going_back_is_cached(counted):
    model, vae, model_calls, _ = counted
    app = TrajectoryApp(model, vae, prompt=PROMPT, steps=4, cfg=1.0)
    app.render()
    app.controls["sampler"].value = "euler"  # observers re-render
    shown = app.render()
    assert shown["sampler"] == "euler" and shown["sampling_runs"] == 2 and model_calls.calls == 8
    app.controls["sampler"].value = "ddim"
    assert app.render()["sampling_runs"] == 2 and model_calls.calls == 8  # from the cache


def test_model_calls_double_with_guidance(counted):
    model, vae, model_calls, _ = counted
    app = TrajectoryApp(model, vae, prompt=PROMPT, steps=4, cfg=1.0)
    assert app.render()["model_calls"] == 4 and model_calls.calls == 4
    app.controls["cfg"].value = 4.0
    assert app.render()["model_calls"] == 8 and model_calls.calls == 4 + 8


def test_fewer_steps_moves_the_slider_and_play_ends(models):
    app = TrajectoryApp(*models, prompt=PROMPT, steps=6, cfg=1.0)
    app.render()
    app.controls["step"].value = 5
    app.controls["steps"].value = 3
    shown = app.render()
    assert shown["frames"] == 3 and shown["step"] == 2
    assert app.controls["step"].max == 2 and app.play.max == 2
    assert app.status.value == ""


def test_the_first_step_starts_from_noise_of_norm_sqrt_n(models):
    model, vae = models
    shown = TrajectoryApp(model, vae, prompt=PROMPT, steps=3).render()
    c, h = vae.config.latent_channels, model.config.image_size // vae.downsample_factor
    assert shown["noise_norm"] == pytest.approx((c * h * h) ** 0.5)
    assert shown["x_t_norm"] == pytest.approx(shown["noise_norm"], rel=0.1)


def test_an_unknown_word_lands_in_the_status_line(counted):
    model, vae, model_calls, _ = counted
    app = TrajectoryApp(model, vae, prompt=PROMPT, steps=3, cfg=1.0)
    app.render()
    app.controls["prompt"].value = "a red blob"  # observers call safe_render: no exception here
    assert "unknown word" in app.status.value and "blob" in app.status.value
    assert model_calls.calls == 3  # nothing sampled for the bad prompt
    app.controls["prompt"].value = "a red circle"
    assert app.status.value == "" and model_calls.calls == 6


def test_the_same_words_share_a_run(models):
    app = TrajectoryApp(*models, prompt="a red circle", steps=3, cfg=1.0)
    app.render()
    app.controls["prompt"].value = "A red circle."
    assert app.render()["sampling_runs"] == 1


def test_bench_step_scrubs_without_sampling(models):
    app = TrajectoryApp(*models, prompt=PROMPT, steps=5, cfg=1.0)
    app.render()
    before = app.controls["step"].value
    for i in range(4):
        app.bench_step(i)
        assert app.controls["step"].value != before
        before = app.controls["step"].value
    assert app.sampling_runs == 1 and app.last_error is None


def test_trajectory_is_registered_for_the_widget_benchmark():
    assert widgets.APPS["trajectory"] == "latentlab.widgets.trajectory:TrajectoryApp"
    app = widgets.app_class("trajectory").for_bench(256)
    assert isinstance(app, TrajectoryApp) and app.render()["frames"] == app.render()["steps"]


# --- the plain functions ------------------------------------------------------------------------


def test_sample_prompt_and_decode_frames(counted):
    model, vae, model_calls, decoder_calls = counted
    trajectory = sample_prompt(model, vae, PROMPT, seed=1, sampler="dpmpp_2m", steps=4, cfg=2.0)
    assert len(trajectory) == 4 and trajectory.model_calls == 8 == model_calls.calls
    frames = decode_frames(vae, trajectory)
    S = model.config.image_size
    assert frames["x_t"].shape == frames["pred_x0"].shape == (4, S, S, 3) and set(frames) == {"x_t", "pred_x0"}
    assert frames["x_t"].dtype == np.uint8 and decoder_calls.calls == 1


def test_sample_prompt_rejects_a_vae_of_another_latent_space(models):
    model, _ = models
    other = AutoencoderKL(VAEConfig(block_out_channels=(8, 8), layers_per_block=1, latent_channels=3, norm_groups=4))
    with pytest.raises(ValueError, match="3-channel latents"):
        sample_prompt(model, other, PROMPT, steps=2)


def test_compare_samplers_same_noise_same_calls_one_decode(counted):
    model, vae, _, decoder_calls = counted
    results = compare_samplers(model, vae, PROMPT, seed=3, steps=3, cfg=2.0)
    assert list(results) == ["ddim", "euler", "dpmpp_2m", "ddpm"] and decoder_calls.calls == 1
    assert {r.model_calls for r in results.values()} == {6}
    start = results["ddim"].trajectory.x_t[0]
    for result in results.values():
        # the same seed, so the same noise: each sampler's first t (hence its scale) may differ, its direction not
        first = result.trajectory.x_t[0]
        torch.testing.assert_close(first / first.norm(), start / start.norm(), atol=1e-5, rtol=1e-5)
        assert result.picture.shape == (model.config.image_size, model.config.image_size, 3) and result.seconds > 0


def test_comparison_app_reports_calls_and_differences(models):
    app = SamplerComparisonApp(*models, prompt=PROMPT, steps=3, cfg=1.0, samplers=("ddim", "euler"))
    shown = app.render()
    assert shown["model_calls"] == {"ddim": 3, "euler": 3} and shown["difference"]["ddim"] == 0.0
    assert "3 model calls" in app.captions["euler"].value
    app.controls["cfg"].value = 3.0
    assert app.render()["model_calls"] == {"ddim": 6, "euler": 6}
    app.controls["prompt"].value = "a red blob"
    assert "blob" in app.status.value


def _fake_trajectory(paths: torch.Tensor) -> Trajectory:
    """A Trajectory whose x_t are given: paths (b, steps, c, h, w)."""
    steps = paths.shape[1]
    return Trajectory(sampler="fake", timesteps=[float(999 - k) for k in range(steps)],
                      x_t=[paths[:, k] for k in range(steps)], pred_x0=[paths[:, k] for k in range(steps)],
                      sample=paths[:, -1])


def test_trajectory_pca_shape_centring_and_agreement_with_an_svd():
    generator = torch.Generator().manual_seed(0)
    trajectories = [_fake_trajectory(torch.randn(1, 6, 4, 3, 3, generator=generator)) for _ in range(3)]
    trajectories.append(_fake_trajectory(torch.randn(2, 6, 4, 3, 3, generator=generator)))  # a batch: 2 paths
    paths = trajectory_pca(trajectories)
    assert paths.shape == (5, 6, 2)
    torch.testing.assert_close(paths.mean((0, 1)), torch.zeros(2), atol=1e-5, rtol=0)
    points = trajectory_points(trajectories).reshape(30, 36)
    centred = points - points.mean(0)
    _, _, Vh = torch.linalg.svd(centred, full_matrices=False)
    expected = (centred @ Vh[:2].T).reshape(5, 6, 2)
    torch.testing.assert_close(paths.abs(), expected.abs(), atol=1e-4, rtol=1e-4)  # equal up to each axis' sign
    assert paths[..., 0].var() >= paths[..., 1].var()


def test_principal_components_finds_a_known_axis():
    generator = torch.Generator().manual_seed(1)
    direction = torch.tensor([3.0, -4.0, 0.0, 0.0, 0.0]) / 5
    points = torch.randn(200, 1, generator=generator) * 10 * direction + 0.1 * torch.randn(200, 5, generator=generator)
    mean, axes, explained = principal_components(points + 7.0, k=2)
    torch.testing.assert_close(mean, points.mean(0) + 7.0, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(axes[0], -direction, atol=0.01, rtol=0)  # the largest entry made positive
    torch.testing.assert_close(axes @ axes.T, torch.eye(2), atol=1e-5, rtol=0)
    assert explained[0] > 0.99 and explained[1] < 0.01


def test_pca_rejects_mismatched_trajectories_and_too_few_points():
    a = _fake_trajectory(torch.zeros(1, 4, 4, 2, 2))
    b = _fake_trajectory(torch.zeros(1, 5, 4, 2, 2))
    with pytest.raises(ValueError, match="differ in steps"):
        trajectory_pca([a, b])
    with pytest.raises(ValueError, match="at least 2 points"):
        principal_components(torch.zeros(1, 3))


def test_pictures_drawn_without_matplotlib_have_their_shapes():
    strip = channel_strip(np.zeros((4, 16, 16)), np.ones((4, 16, 16)), (1.0, 1.0))
    assert strip.shape == (2 * 48 + 2, 4 * 50 - 2, 3) and strip.dtype == np.uint8
    plot = norm_plot([32.0, 20.0, 10.0], [5.0, 8.0, 10.0], 32.0, step=1)
    assert plot.shape == (130, 320, 3) and (plot != 255).any()
    fig = pca_figure(torch.randn(3, 5, 2), ["seed 0", "seed 1", "seed 2"], explained=torch.tensor([0.5, 0.2]))
    assert "50 %" in fig.axes[0].get_xlabel() and len(fig.axes[0].get_legend().get_texts()) == 3
    trajectory = _fake_trajectory(torch.randn(1, 6, 4, 3, 3))
    fig = norm_figure(trajectory, expected=torch.linspace(3, 6, 6))
    assert len(fig.axes[0].get_legend().get_texts()) == 5  # ‖x_t‖, ‖x̂0‖, the prediction, √N, the final norm


# --- the lesson's checkers ------------------------------------------------------------------------


@pytest.mark.parametrize("checker, reference, mistakes", [
    (check_cfg_mix, cfg_mix_reference, CFG_MIX_MISTAKES),
    (check_expected_norm, expected_norm_reference, EXPECTED_NORM_MISTAKES),
    (check_pca_project, pca_project_reference, PCA_PROJECT_MISTAKES),
])
def test_checkers_pass_the_reference_and_name_each_mistake(checker, reference, mistakes):
    assert checker(reference, quiet=True).passed
    for mistake in mistakes:
        result = checker(mistake.fn, quiet=True)
        assert not result.passed and result.mistake == mistake.name, (mistake.name, result.message)


def test_the_pca_checker_ignores_the_sign_of_each_axis():
    def flipped(points):
        return pca_project_reference(points) * torch.tensor([-1.0, 1.0])

    def randomised(points):  # what a student may write with torch.pca_lowrank
        _, _, V = torch.pca_lowrank(points, center=True)
        return (points - points.mean(0)) @ V[:, :2]

    assert check_pca_project(flipped, quiet=True).passed and check_pca_project(randomised, quiet=True).passed


def test_checkers_never_raise_on_unfinished_work(capsys):
    def not_yet(*args, **kwargs):
        raise NotImplementedError

    def returns_nothing(*args, **kwargs):
        return None

    for checker in (check_cfg_mix, check_expected_norm, check_pca_project):
        assert "not written yet" in checker(not_yet, quiet=True).message
        assert "returns None" in checker(returns_nothing, quiet=True).message
    check_pca_project(lambda points: points[:, :2])
    assert "❌ pca_project" in capsys.readouterr().out
