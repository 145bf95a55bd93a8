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


# --- issue 13: a broken file is refused on load, naming the file, the field and what was expected ----

def _with_config(tmp_path, name, config: dict | str, kind="vae", tensors=None):
    torch.manual_seed(0)
    tensors = tensors if tensors is not None else AutoencoderKL(VAEConfig.tiny()).state_dict()
    text = config if isinstance(config, str) else json.dumps(config)
    return checkpoints.save_checkpoint(tmp_path / name, tensors, kind, text)


@pytest.mark.parametrize("factor", [float("nan"), 0.0, float("inf"), -0.2])
def test_a_nan_or_zero_scaling_factor_is_refused(tmp_path, factor):
    config = json.loads(VAEConfig.tiny().to_json()) | {"scaling_factor": factor}
    path = _with_config(tmp_path, "scaled.safetensors", config)
    with pytest.raises(CheckpointError, match=r"scaled\.safetensors.*scaling_factor must be a finite number > 0"):
        load_vae(path)


def test_a_nan_weight_is_refused_naming_the_tensor(tmp_path):
    tensors = AutoencoderKL(VAEConfig.tiny()).state_dict()
    tensors["decoder.conv_out.weight"][0, 0, 0, 0] = float("nan")
    path = _with_config(tmp_path, "diverged.safetensors", VAEConfig.tiny().to_json(), tensors=tensors)
    with pytest.raises(CheckpointError, match=r"diverged\.safetensors holds NaN/inf weights in "
                                              r"decoder\.conv_out\.weight \(1 of"):
        load_vae(path)


def test_metadata_that_is_not_json_names_the_file_and_field(tmp_path):
    path = _with_config(tmp_path, "garbled.safetensors", '{"latent_channels": 4,')
    with pytest.raises(CheckpointError, match=r"garbled\.safetensors: metadata field 'config' should be JSON"):
        load_vae(path)


def test_an_unknown_config_field_is_named(tmp_path):
    config = json.loads(VAEConfig.tiny().to_json()) | {"colour_space": "rgb"}
    path = _with_config(tmp_path, "newer.safetensors", config)
    with pytest.raises(CheckpointError, match=r"newer\.safetensors: unknown config field\(s\) colour_space; "
                                              r"a VAEConfig has .*latent_channels"):
        load_vae(path)


@pytest.mark.parametrize("field, value, expected", [
    ("latent_channels", "four", "should be int, found 'four'"),
    ("latent_channels", True, "should be int, found True"),
    ("scaling_factor", "0.18", "should be float"),
    ("block_out_channels", 8, "should be a list"),
    ("mid_attention", 1, "should be bool"),
])
def test_a_config_field_of_the_wrong_type_is_named(tmp_path, field, value, expected):
    config = json.loads(VAEConfig.tiny().to_json()) | {field: value}
    path = _with_config(tmp_path, "typed.safetensors", config)
    with pytest.raises(CheckpointError, match=rf"typed\.safetensors: config field '{field}' {expected}"):
        load_vae(path)


def test_a_nested_ldm_config_field_is_named_with_its_path(tmp_path):
    from latentlab.ldm import LatentDiffusion, LDMConfig

    model = LatentDiffusion(LDMConfig.tiny())
    config = json.loads(model.config.to_json())
    config["unet"]["heads"] = "2"
    path = checkpoints.save_checkpoint(tmp_path / "ldm.safetensors", model.state_dict(), "ldm", json.dumps(config))
    with pytest.raises(CheckpointError, match=r"ldm\.safetensors: config field 'unet\.heads' should be int"):
        checkpoints.load_ldm(path)
    # and a good file still loads, its tuples rebuilt from JSON lists
    good = checkpoints.save_ldm(tmp_path / "good.safetensors", model)
    assert checkpoints.load_ldm(good).config == model.config


def test_shipped_models_of_a_kind_lists_only_that_kind():
    vaes = checkpoints.shipped_models(kind="vae")
    assert "vae-f8c4" in vaes and "ldm-shapes" not in vaes and "shapes-evaluator" not in vaes
    assert set(vaes) <= set(checkpoints.shipped_models())


def test_resolve_vae_lists_only_vaes_and_names_a_non_vae():
    from latentlab.evaluate_vae import resolve_vae

    with pytest.raises(CheckpointError) as info:
        resolve_vae("vae-f99c1")
    assert "vae-f8c4" in str(info.value) and "ldm-shapes" not in str(info.value)
    with pytest.raises(CheckpointError, match="ldm-shapes is a 'ldm' model, but a 'vae' was expected"):
        resolve_vae("ldm-shapes")
