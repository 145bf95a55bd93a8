import pytest
import torch

from latentlab import checkpoints
from latentlab.train import VAETrainSettings, lr_at, train_vae
from latentlab.vae import VAEConfig


def _settings(steps=50):
    return VAETrainSettings(steps=steps, batch_size=2, patch_size=32, lr=2e-3, checkpoint_every=1e9)


def test_training_lowers_the_loss_and_writes_a_loadable_model(tmp_path):
    seen = []
    vae, metrics = train_vae(VAEConfig.tiny(), tmp_path / "m.safetensors", _settings(100), run_dir=tmp_path / "run",
                             progress=False, callback=lambda step, m, v: seen.append(m["train_psnr"]))
    assert len(seen) == 4 and seen[-1] > seen[0]
    loaded = checkpoints.load_vae(tmp_path / "m.safetensors")
    assert loaded.metrics["steps"] == 100 and loaded.metrics["heldout_photo"] == "chelsea"
    assert 0 < loaded.scaling_factor == pytest.approx(metrics["scaling_factor"], rel=1e-3)


def test_ctrl_c_leaves_a_usable_checkpoint_and_resume_is_exact(tmp_path):
    def interrupt(step, metrics, vae):
        raise KeyboardInterrupt

    _, metrics = train_vae(VAEConfig.tiny(), tmp_path / "a.safetensors", _settings(50), run_dir=tmp_path / "run",
                           progress=False, callback=interrupt)
    assert metrics["interrupted"] and metrics["steps"] == 25
    assert checkpoints.load_vae(tmp_path / "a.safetensors").metrics["steps"] == 25  # usable model after Ctrl-C

    resumed, _ = train_vae(VAEConfig.tiny(), None, _settings(50), run_dir=tmp_path / "run", resume=True, progress=False)
    straight, _ = train_vae(VAEConfig.tiny(), None, _settings(50), progress=False)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)


def test_resume_needs_a_run_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train_vae(VAEConfig.tiny(), None, _settings(), run_dir=tmp_path / "empty", resume=True, progress=False)


def test_resume_refuses_another_config(tmp_path):
    train_vae(VAEConfig.tiny(), None, _settings(2), run_dir=tmp_path / "run", progress=False)
    other = VAEConfig(block_out_channels=(8, 16), layers_per_block=1, latent_channels=4, norm_groups=4)
    with pytest.raises(checkpoints.CheckpointError, match="another VAE config"):
        train_vae(other, None, _settings(4), run_dir=tmp_path / "run", resume=True, progress=False)


def test_settings_need_a_stopping_rule():
    with pytest.raises(ValueError, match="steps or minutes"):
        VAETrainSettings(steps=None, minutes=None)
    with pytest.raises(ValueError, match="at least 1"):
        VAETrainSettings(steps=0)


def test_learning_rate_warms_up_then_decays():
    assert lr_at(0.0, 1.0) < lr_at(0.02, 1.0) == pytest.approx(1.0)
    assert lr_at(1.0, 1.0) == pytest.approx(0.1)
    assert lr_at(0.5, 1.0) > lr_at(0.9, 1.0)


def test_fine_tuning_starts_from_the_given_checkpoint(tmp_path):
    first, _ = train_vae(VAEConfig.tiny(), tmp_path / "first.safetensors", _settings(10), progress=False)
    tuned, metrics = train_vae(VAEConfig.tiny(), None, VAETrainSettings(steps=1, batch_size=2, patch_size=32, lr=1e-9),
                               init_from=tmp_path / "first.safetensors", progress=False)
    assert metrics["init_from"].endswith("first.safetensors") and metrics["init_metrics"]["steps"] == 10
    for (name, a), b in zip(first.state_dict().items(), tuned.state_dict().values()):
        torch.testing.assert_close(b, a.half().float(), atol=1e-3, rtol=1e-3, msg=name)
    with pytest.raises(checkpoints.CheckpointError, match="another VAE config"):
        train_vae(VAEConfig.f8c4(), None, _settings(1), init_from=tmp_path / "first.safetensors", progress=False)


def test_decoder_only_fine_tuning_keeps_the_latent_space(tmp_path):
    first, _ = train_vae(VAEConfig.tiny(), tmp_path / "first.safetensors", _settings(5), progress=False)
    start = checkpoints.load_vae(tmp_path / "first.safetensors")
    tuned, metrics = train_vae(VAEConfig.tiny(), None, VAETrainSettings(steps=5, batch_size=2, patch_size=32, lr=1e-2,
                                                                         decoder_only=True),
                               init_from=tmp_path / "first.safetensors", progress=False)
    changed = {name for (name, a), b in zip(start.state_dict().items(), tuned.state_dict().values())
               if not torch.equal(a, b)}
    assert changed and all(name.startswith(("decoder.", "post_quant_conv.")) for name in changed)
    assert metrics["scaling_factor"] == pytest.approx(start.scaling_factor, rel=1e-6)
    with pytest.raises(ValueError, match="give init_from"):
        train_vae(VAEConfig.tiny(), None, VAETrainSettings(steps=1, decoder_only=True), progress=False)


def test_photo_patches_can_mix_in_captioned_shapes():
    from latentlab.data import COLORS, PhotoPatches

    palette = {tuple(c) for c in COLORS.values()}
    shapes = PhotoPatches(64, seed=3, shapes=1.0).batch(6)  # every item a whole shapes picture
    corners = ((shapes[:, :, 0, 0] + 1) * 127.5).round().int().tolist()
    assert all(tuple(c) in palette for c in corners), corners  # a flat background of the palette
    photos = PhotoPatches(64, seed=3).batch(6)
    torch.testing.assert_close(photos, PhotoPatches(64, seed=3, shapes=0.0).batch(6))  # default: photos only
    assert not torch.allclose(photos, shapes)
    with pytest.raises(ValueError, match="share"):
        PhotoPatches(64, shapes=1.5)


def test_train_vae_leaves_the_callers_config_alone():
    config = VAEConfig.tiny()
    vae, metrics = train_vae(config, None, _settings(1), progress=False)
    assert config.scaling_factor == 1.0 and vae.config is not config  # the trained VAE has its own copy
    assert vae.scaling_factor == pytest.approx(metrics["scaling_factor"], rel=1e-4) and vae.scaling_factor != 1.0
