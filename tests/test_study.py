"""The mini LDM-f study (latentlab/study.py): pixel space as an autoencoder, the Fréchet distance,
settings checks, and a whole tiny study end to end (JSON, figure, finished runs not redone)."""

import json
from dataclasses import replace

import pytest
import torch

from latentlab import study
from latentlab.ldm import LDMConfig
from latentlab.shapes_eval import frechet_distance
from latentlab.study import PixelSpace, StudySettings, run_study, space_autoencoder
from latentlab.why_latent import fair_pixel_config


def test_pixel_space_round_trip_and_unit_variance():
    pixels = space_autoencoder("pixel", image_size=32)
    assert isinstance(pixels, PixelSpace) and pixels.downsample_factor == 1
    from latentlab.data import CaptionedShapes

    images, _, _ = CaptionedShapes(64, size=32, seed=5).batch(range(64))
    latent = pixels.to_latent(images)
    assert latent.shape == images.shape
    assert 0.8 < float(latent.std()) < 1.25  # scaled to (about) unit variance, as a VAE's latents are
    torch.testing.assert_close(pixels.from_latent(latent), images)


def test_frechet_distance_is_zero_for_one_set_and_the_mean_gap_for_a_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 6, generator=g)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([1.0, 2.0, 0.0, 0.0, 0.0, -1.0])
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift.square().sum()), rel=1e-6)
    # a wider spread costs too: Σ_b = 4 Σ_a → tr(Σ_a + 4Σ_a − 2·2Σ_a) = tr Σ_a
    assert frechet_distance(a, 2 * a) == pytest.approx(float(torch.cov(a.T).trace() + a.mean(0).square().sum()),
                                                       rel=1e-5)


def test_frechet_distance_rejects_mismatched_features():
    with pytest.raises(ValueError, match="one width"):
        frechet_distance(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(torch.zeros(1, 3), torch.zeros(5, 3))


@pytest.mark.parametrize("kwargs, message", [
    ({"spaces": ("pixel", "f32c64")}, "spaces must be"),
    ({"minutes_per_run": 0}, "minutes_per_run"),
    ({"image_size": 40}, "multiple of 16"),
    ({"samples": 1}, "samples"),
])
def test_study_settings_reject_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StudySettings(**kwargs)


def test_a_tiny_study_end_to_end(tmp_path, monkeypatch):
    settings = StudySettings(minutes_per_run=0.04, image_size=32, batch_size=4, dataset_size=32, samples=4,
                             evals=2, sample_steps=2, spaces=("pixel", "f8c4"), tiny=True)
    result = run_study(tmp_path, settings, progress=False)
    saved = json.loads((tmp_path / "study-ldm-f.json").read_text())
    assert saved == result
    assert (tmp_path / "study-ldm-f.png").stat().st_size > 10_000
    assert [run["space"] for run in result["runs"]] == ["pixel", "f8c4"]
    pixel, f8c4 = result["runs"]
    assert pixel["latent_shape"] == [3, 32, 32] and f8c4["latent_shape"] == [4, 4, 4]
    # the same UNet costs far more per step in pixel space: 64× the positions
    assert pixel["step_gflops"] > 10 * f8c4["step_gflops"]
    for run in result["runs"]:
        assert len(run["curve"]) == 2, "one evaluation mid-budget, one at the end"
        first, last = run["curve"]
        assert 0 < first["steps"] <= last["steps"] == run["steps"]
        assert first["train_pflops"] <= last["train_pflops"]
        assert first["train_minutes"] <= last["train_minutes"] == run["train_minutes"]
        assert all(0 <= p[k] <= 1 for p in run["curve"] for k in ("joint", "shape", "color"))
        assert all(p["frechet"] >= 0 for p in run["curve"])
        assert run["images_per_second"] > 0
    assert result["frechet_real_vs_real"] >= 0
    # the round trip: pixel space loses nothing, so its pictures *are* the reference (Fréchet 0, up to rounding)
    assert set(result["round_trip"]) == {"pixel", "f8c4"}
    assert abs(result["round_trip"]["pixel"]["frechet"]) < 1e-2
    assert result["round_trip"]["f8c4"]["frechet"] > result["round_trip"]["pixel"]["frechet"]
    assert all(0 <= trip[k] <= 1 for trip in result["round_trip"].values() for k in ("joint", "shape", "color"))

    # Running again with the same settings reads the finished runs back instead of training again.
    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(study, "run_space", no_training)
    again = run_study(tmp_path, settings, progress=False)
    assert again["runs"] == result["runs"]

    # A finished run of another model (the pixel run of the same-recipe model, before the fair one) is redone.
    saved = json.loads((tmp_path / "pixel.json").read_text())
    old_recipe = LDMConfig.tiny().unet
    saved["run"]["unet"].update(block_channels=list(old_recipe.block_channels),
                                attention_levels=list(old_recipe.attention_levels))
    (tmp_path / "pixel.json").write_text(json.dumps(saved))
    with pytest.raises(AssertionError, match="trained again"):
        run_study(tmp_path, settings, progress=False)


@pytest.mark.parametrize("tiny", [False, True])
def test_the_study_trains_the_fair_pixel_model(tiny):
    """Pixel space gets the recipe built as DDPM/ADM build pixel models; the latent spaces the recipe itself."""
    settings = StudySettings(image_size=64, tiny=tiny)
    pixel, f8c4 = study.study_config("pixel", settings).unet, study.study_config("f8c4", settings).unet
    assert pixel == fair_pixel_config(replace(f8c4, in_channels=3, out_channels=3, sample_size=64), 64)
    sides = [64 >> level for level in range(len(pixel.block_channels))]
    assert sides[-1] == 8 and pixel.attention_levels == tuple(side <= 32 for side in sides)
    assert f8c4.block_channels == (LDMConfig.tiny() if tiny else LDMConfig()).unet.block_channels


def test_study_cli_rejects_an_unknown_space(capsys):
    from latentlab.cli import main

    with pytest.raises(SystemExit):
        main(["study", "ldm-f", "--minutes-per-run", "1", "--spaces", "f32c64"])
    assert "invalid choice" in capsys.readouterr().err
