"""The text-to-image model: training (resumable, Ctrl-C safe), saving, loading, the pipeline's bad inputs."""

import pytest
import torch

from latentlab import checkpoints
from latentlab.ldm import LatentDiffusion, LDMConfig
from latentlab.pipeline import (
    decode,
    empty_latent,
    encode_image,
    encode_prompt,
    image_to_image,
    make_generator,
    slerp,
    text_to_image,
)
from latentlab.train import LDMTrainSettings, train_ldm
from latentlab.vae import AutoencoderKL, VAEConfig


def tiny_config() -> LDMConfig:
    config = LDMConfig.tiny()
    config.image_size = 64  # 8×8 latents with the tiny f8c4-shaped VAE
    return config


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return AutoencoderKL(VAEConfig.tiny()).eval()


def settings(steps=6, **kw):
    return LDMTrainSettings(steps=steps, minutes=None, batch_size=4, dataset_size=16, checkpoint_every=1e9, **kw)


def test_training_writes_a_loadable_model_and_resume_is_exact(tmp_path, vae):
    def interrupt_at_25(step, metrics, model):
        raise KeyboardInterrupt

    _, metrics = train_ldm(tmp_path / "a.safetensors", settings(50), config=tiny_config(), vae=vae,
                           run_dir=tmp_path / "run", progress=False, callback=interrupt_at_25)
    assert metrics["interrupted"] and metrics["steps"] == 25
    loaded = checkpoints.load_ldm(tmp_path / "a.safetensors")
    assert isinstance(loaded, LatentDiffusion) and loaded.metrics["steps"] == 25
    assert (tmp_path / "run" / "latents.safetensors").is_file()  # the encoded dataset is cached for resuming

    resumed, _ = train_ldm(None, settings(50), config=tiny_config(), vae=vae, run_dir=tmp_path / "run",
                           resume=True, progress=False)
    straight, m = train_ldm(None, settings(50), config=tiny_config(), vae=vae, progress=False)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)
    assert m["final_loss"] < 1.5


def test_loss_goes_down(vae):
    losses = []
    train_ldm(None, LDMTrainSettings(steps=150, minutes=None, batch_size=8, dataset_size=32, lr=2e-3),
              config=tiny_config(), vae=vae, progress=False, callback=lambda s, m, model: losses.append(m["loss"]))
    assert losses[-1] < 0.8 * losses[0]


def test_checkpoint_kinds_are_checked(tmp_path, vae):
    model = LatentDiffusion(tiny_config())
    checkpoints.save_ldm(tmp_path / "ldm.safetensors", model)
    checkpoints.save_vae(tmp_path / "vae.safetensors", vae)
    with pytest.raises(checkpoints.CheckpointError, match="'vae' checkpoint, but a 'ldm'"):
        checkpoints.load_ldm(tmp_path / "vae.safetensors")
    with pytest.raises(checkpoints.CheckpointError, match="'ldm' checkpoint, but a 'vae'"):
        checkpoints.load_vae(tmp_path / "ldm.safetensors")
    data = (tmp_path / "ldm.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(checkpoints.CheckpointError, match="cut.safetensors"):
        checkpoints.load_ldm(tmp_path / "cut.safetensors")


def test_config_mismatch_between_unet_and_text_encoder():
    config = tiny_config()
    config.text.width = 48
    with pytest.raises(ValueError, match="context of width 32 but the text encoder writes 48"):
        LatentDiffusion(config)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LatentDiffusion(tiny_config()).eval()


def test_text_to_image_is_reproducible_and_seeded(model, vae):
    a, trajectory = text_to_image(model, vae, "a red circle", seed=5, steps=3, cfg=3.0)
    b, _ = text_to_image(model, vae, "a red circle", seed=5, steps=3, cfg=3.0)
    c, _ = text_to_image(model, vae, "a red circle", seed=6, steps=3, cfg=3.0)
    assert a.shape == (1, 3, 64, 64) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert trajectory.model_calls == 6 and len(trajectory) == 3
    big, _ = text_to_image(model, vae, "a red circle", seed=2**64 - 1, steps=1, cfg=1.0, batch=2)
    assert big.shape[0] == 2


def test_image_to_image_resizes_and_says_so(model, vae):
    picture = torch.rand(1, 3, 40, 72) * 2 - 1
    with pytest.warns(UserWarning, match="72×40 resized and centre-cropped to 64×64"):
        out, trajectory = image_to_image(model, vae, picture, "a blue star", denoise=0.5, steps=4)
    assert out.shape == (1, 3, 64, 64) and len(trajectory) == 4


def test_comfyui_nodes(model, vae):
    assert torch.equal(empty_latent(128, 96, 2), torch.zeros(2, 4, 12, 16))
    context = encode_prompt(model, "a red circle", batch=3)
    assert context.shape == (3, model.config.text.context_length, model.config.text.width)
    torch.testing.assert_close(encode_prompt(model, ""), encode_prompt(model, " . "))
    latent = encode_image(vae, torch.zeros(1, 3, 64, 64))
    assert latent.shape == (1, 4, 8, 8)
    assert decode(vae, latent).shape == (1, 3, 64, 64)


@pytest.mark.parametrize("call, error, message", [
    (lambda m, v: empty_latent(100, 128), ValueError, "multiple of the VAE's factor 8; try 96 or 104"),
    (lambda m, v: empty_latent(16, 128), ValueError, "too small"),
    (lambda m, v: empty_latent(128, 128, batch=0), ValueError, "batch must be a positive integer"),
    (lambda m, v: text_to_image(m, v, "a red circle", steps=0), ValueError, "steps must be a positive integer"),
    (lambda m, v: text_to_image(m, v, "a red circle", cfg=-1.0), ValueError, "cfg must be a number"),
    (lambda m, v: text_to_image(m, v, "a red circle", cfg=float("nan")), ValueError, "cfg must be a number"),
    (lambda m, v: image_to_image(m, v, torch.zeros(1, 3, 64, 64), "a red circle", denoise=1.5), ValueError,
     "denoise must be in"),
    (lambda m, v: text_to_image(m, v, "a red circel"), ValueError, "did you mean circle"),
    (lambda m, v: text_to_image(m, v, " ".join(["red"] * 40)), ValueError, "reads at most"),
    (lambda m, v: make_generator(2**64), ValueError, "2\\*\\*64"),
    (lambda m, v: make_generator(-1), ValueError, "2\\*\\*64"),
    (lambda m, v: make_generator(1.5), TypeError, "integer"),
])
def test_bad_inputs(model, vae, call, error, message):
    with pytest.raises(error, match=message):
        call(model, vae)


def test_empty_prompt_is_the_unconditional_prompt(model, vae):
    # '' is what caption dropout trained; with cfg = 1 it samples without any text.
    out, trajectory = text_to_image(model, vae, "", steps=2, cfg=1.0)
    assert out.shape == (1, 3, 64, 64) and trajectory.model_calls == 2


def test_slerp_keeps_the_norm():
    torch.manual_seed(0)
    a, b = torch.randn(4, 8, 8), torch.randn(4, 8, 8)
    b = b * a.norm() / b.norm()
    mid = slerp(a, b, 0.5)
    assert mid.norm() == pytest.approx(a.norm().item(), rel=1e-4)
    assert torch.lerp(a, b, 0.5).norm() < 0.8 * a.norm()
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b)


def test_fine_tuning_with_offset_noise_starts_from_the_checkpoint(tmp_path, vae):
    first, _ = train_ldm(tmp_path / "first.safetensors", settings(3), config=tiny_config(), vae=vae, progress=False)
    tuned, metrics = train_ldm(None, LDMTrainSettings(steps=1, minutes=None, batch_size=4, dataset_size=16, lr=1e-9,
                                                      offset_noise=0.15),
                               vae=vae, init_from=tmp_path / "first.safetensors", progress=False)
    assert metrics["init_from"].endswith("first.safetensors") and metrics["init_metrics"]["steps"] == 3
    assert metrics["offset_noise"] == 0.15
    start = checkpoints.load_ldm(tmp_path / "first.safetensors")
    for (name, a), b in zip(start.state_dict().items(), tuned.state_dict().values()):
        torch.testing.assert_close(b, a, atol=1e-3, rtol=1e-3, msg=name)


def test_eval_ldm_reports_the_decoders_round_trip_and_refuses_a_foreign_vae(tmp_path, capsys):
    import json

    from latentlab.cli import main

    torch.manual_seed(0)
    path = checkpoints.save_ldm(tmp_path / "tiny.safetensors", LatentDiffusion(LDMConfig.tiny()))
    assert main(["eval", "ldm", "--model", str(path), "--samples", "4", "--table-samples", "0", "--steps", "2",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["vae"] == "vae-f8c4-shapes"
    # real pictures through the VAE, read back: the decoder's share of the errors
    assert set(result["vae_round_trip"]) == {"shape", "color", "joint", "samples"}
    assert 0 <= result["adherence"]["joint"] <= 1 and 0 <= result["vae_round_trip"]["joint"] <= 1
    assert result["vae_round_trip"]["samples"] == 4
    assert main(["eval", "ldm", "--model", str(path), "--vae", "vae-f16c16", "--samples", "4",
                 "--table-samples", "0"]) == 2
    assert "16 latent channels" in capsys.readouterr().err


def test_a_one_number_tensor_denoise_means_that_number(model, vae):
    picture = torch.rand(1, 3, 64, 64) * 2 - 1
    as_float, _ = image_to_image(model, vae, picture, "a blue star", denoise=0.5, steps=2)
    as_tensor, _ = image_to_image(model, vae, picture, "a blue star", denoise=torch.tensor(0.5), steps=2)
    torch.testing.assert_close(as_tensor, as_float)
    with pytest.raises(ValueError, match="denoise must be in"):
        image_to_image(model, vae, picture, "a blue star", denoise=torch.tensor([0.5, 0.6]), steps=2)
