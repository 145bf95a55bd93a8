import json

import pytest
import torch
from safetensors.torch import save_file

from latentlab import checkpoints
from latentlab.checkpoints import CheckpointError, load_vae, save_vae
from latentlab.vae import AutoencoderKL, VAEConfig


@pytest.fixture
def tiny_file(tmp_path):
    torch.manual_seed(0)
    config = VAEConfig.tiny()
    config.scaling_factor = 0.7
    vae = AutoencoderKL(config)
    path = save_vae(tmp_path / "tiny.safetensors", vae, metrics={"psnr": 12.5})
    return path, vae


def test_round_trip_keeps_weights_in_fp16_config_and_metrics(tiny_file):
    path, vae = tiny_file
    loaded = load_vae(path)
    assert loaded.config == vae.config and loaded.scaling_factor == 0.7
    assert loaded.metrics == {"psnr": 12.5}
    for (name, a), b in zip(vae.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(b, a.half().float(), msg=name)
    tensors, meta = checkpoints.load_checkpoint(path)
    assert all(t.dtype == torch.float16 for t in tensors.values() if t.is_floating_point())
    assert meta["kind"] == "vae" and meta["version"]


def test_write_is_atomic_and_leaves_no_temporary_files(tiny_file):
    path, vae = tiny_file
    save_vae(path, vae)  # overwrite in place
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.safetensors"]


def test_failed_write_keeps_the_old_file(tiny_file, monkeypatch):
    path, vae = tiny_file
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints, "save_file", explode)
    with pytest.raises(OSError, match="disk full"):
        save_vae(path, vae)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.safetensors"]


def test_truncated_file_names_the_file(tiny_file):
    path, _ = tiny_file
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"tiny\.safetensors.*(truncated|corrupt)"):
        load_vae(path)


def test_garbage_file_names_the_file(tmp_path):
    path = tmp_path / "notes.safetensors"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.safetensors"):
        load_vae(path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint file at"):
        load_vae(tmp_path / "nope.safetensors")


def test_wrong_kind_is_refused(tmp_path):
    path = checkpoints.save_checkpoint(tmp_path / "unet.safetensors", {"w": torch.zeros(2)}, "unet", "{}")
    with pytest.raises(CheckpointError, match="holds a 'unet' checkpoint, but a 'vae' one was expected"):
        load_vae(path)


def test_plain_safetensors_is_not_a_latentlab_checkpoint(tmp_path):
    save_file({"w": torch.zeros(2)}, tmp_path / "plain.safetensors")
    with pytest.raises(CheckpointError, match="not a latentlab checkpoint.*load_diffusers_vae"):
        load_vae(tmp_path / "plain.safetensors")


def test_expected_config_mismatch_is_named(tiny_file):
    path, _ = tiny_file
    with pytest.raises(CheckpointError, match="block_out_channels"):
        load_vae(path, config=VAEConfig.f8c4())
    load_vae(path, config=VAEConfig.tiny())  # the same config (any scaling factor) loads


def test_tensor_of_the_wrong_shape_is_named(tiny_file, tmp_path):
    path, vae = tiny_file
    tensors, meta = checkpoints.load_checkpoint(path)
    tensors["decoder.conv_out.weight"] = torch.zeros(3, 8, 1, 1)
    del tensors["encoder.conv_in.bias"]
    bad = checkpoints.save_checkpoint(tmp_path / "bad.safetensors", tensors, "vae", json.dumps(meta["config"]))
    with pytest.raises(CheckpointError) as info:
        load_vae(bad)
    message = str(info.value)
    assert "bad.safetensors" in message and "decoder.conv_out.weight" in message
    assert "missing: encoder.conv_in.bias" in message


def test_unknown_shipped_model_lists_the_shipped_ones():
    with pytest.raises(CheckpointError, match="no shipped model 'vae-f9c9'; shipped:"):
        checkpoints.load_pretrained("vae-f9c9")
