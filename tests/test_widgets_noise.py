"""The schedule explorer (lesson 03) and the trajectory explorer (lesson 05), driven through their controls."""

import pytest
import torch

from latentlab.vae import AutoencoderKL, VAEConfig
from latentlab.widgets.schedule import ScheduleApp
from latentlab.widgets.trajectory2d import Trajectory2DApp, rasterise


def test_schedule_app_numbers_follow_t():
    app = ScheduleApp(vae=None)
    app.controls["t"].value = 499
    shown = app.render()
    assert shown["alpha_bar"]["scaled_linear"] == pytest.approx(0.27767, rel=1e-4)
    assert set(shown["alpha_bar"]) == {"linear", "scaled_linear", "cosine"}
    assert shown["snr_db"]["linear"] < shown["snr_db"]["scaled_linear"]  # linear destroys signal sooner
    assert shown["latent_view"] is False and "pixel space only" in app.note.value
    assert app.pictures.value[:4] == b"\x89PNG" and app.curves.value[:4] == b"\x89PNG"


def test_schedule_app_with_a_vae_shows_the_decoded_latent():
    torch.manual_seed(0)
    # a tiny untrained f=8 VAE: the test is about the plumbing, not the picture
    config = VAEConfig(block_out_channels=(8, 8, 8, 8), layers_per_block=1, norm_groups=4, mid_attention=False)
    vae = AutoencoderKL(config).eval()
    app = ScheduleApp(vae=vae)
    app.controls["t"].value = 800
    assert app.render()["latent_view"] is True
    assert app.note.value == ""


def test_schedule_app_falls_back_without_the_shipped_vae():
    app = ScheduleApp.for_bench(256)  # the shipped vae-f8c4 may not exist yet: then pixel space only
    app.bench_step(0)
    assert app.last_error is None


def test_trajectory_app_precomputes_then_only_redraws():
    app = Trajectory2DApp(particles=200, steps=8)
    shown = app.render()
    assert shown["step"] == 0 and shown["model_calls"] == {"ddpm": 8, "ddim": 8, "euler": 8, "dpmpp_2m": 8,
                                                               "heun": 15}
    trajectories = app.trajectories
    app.controls["step"].value = 8  # the end: final samples
    shown = app.render()
    assert shown["t"] is None and app.trajectories is trajectories  # nothing recomputed
    for weights in shown["final_weights"].values():
        assert abs(weights[0] - 0.5) < 0.15
    app.controls["show"].value = "pred_x0"
    assert app.render()["show"] == "pred_x0"
    app.controls["steps"].value = 5  # recomputes, and the slider follows
    assert app.controls["step"].max == 5 and app.play.max == 5
    assert app.render()["model_calls"]["euler"] == 5
    assert app.last_error is None


def test_trajectory_app_same_seed_same_noise_for_every_sampler():
    app = Trajectory2DApp(particles=100, steps=4)
    app.render()
    starts = [traj.x_t[0] for traj in app.trajectories.values()]
    for start in starts[1:]:
        torch.testing.assert_close(start, starts[0], atol=1e-5, rtol=1e-5)


def test_trajectory_bench_app_steps_without_error():
    app = Trajectory2DApp.for_bench(256)
    for i in range(3):
        app.bench_step(i)
    assert app.last_error is None
    assert app.image.value[:4] == b"\x89PNG"


def test_rasterise_puts_points_where_they_belong():
    import numpy as np

    image = rasterise(np.array([[0.0, 0.0], [100.0, 0.0]]), np.array([[255, 0, 0], [0, 255, 0]], np.uint8),
                      size=20, limit=1.0)
    assert image.shape == (20, 20, 3)
    assert (image[9, 9] == [255, 0, 0]).all()  # the centre
    assert not (image == [0, 255, 0]).all(axis=2).any()  # the far point is left out
