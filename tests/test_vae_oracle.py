"""Oracle: diffusers' AutoencoderKL with random weights, imported into latentlab, must agree to 1e-4."""

import pytest
import torch
from safetensors.torch import save_file

from latentlab.checkpoints import CheckpointError, load_diffusers_vae

diffusers = pytest.importorskip("diffusers", reason="the [ref] extra (diffusers) is not installed")


def _reference(block_out_channels=(32, 64, 64), layers_per_block=2, latent_channels=4, groups=8):
    torch.manual_seed(0)
    n = len(block_out_channels)
    model = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=block_out_channels,
        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
        layers_per_block=layers_per_block, latent_channels=latent_channels, norm_num_groups=groups,
        sample_size=32,
    ).eval()
    # Random weights are not enough: GroupNorm affine params start at 1/0; perturb everything.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.mark.parametrize("layers_per_block", [1, 2])
def test_imported_diffusers_vae_agrees_to_1e4(layers_per_block):
    ref = _reference(layers_per_block=layers_per_block)
    from latentlab.checkpoints import infer_diffusers_vae_config

    config = infer_diffusers_vae_config(ref.state_dict(), norm_groups=8)
    assert config.block_out_channels == (32, 64, 64) and config.layers_per_block == layers_per_block
    ours = load_diffusers_vae(ref.state_dict(), config=config)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        ref_posterior = ref.encode(x).latent_dist
        our_posterior = ours.encode(x)
        torch.testing.assert_close(our_posterior.mean, ref_posterior.mean, atol=1e-4, rtol=0)
        torch.testing.assert_close(our_posterior.logvar, ref_posterior.logvar, atol=1e-4, rtol=0)
        z = ref_posterior.mean
        torch.testing.assert_close(ours.decode(z), ref.decode(z).sample, atol=1e-4, rtol=0)


def test_loads_a_diffusers_folder_with_config_json(tmp_path):
    ref = _reference(block_out_channels=(32, 64), layers_per_block=1)
    ref.save_pretrained(tmp_path, safe_serialization=True)
    ours = load_diffusers_vae(tmp_path)  # reads norm_num_groups and scaling_factor from config.json
    assert ours.config.norm_groups == 8
    assert ours.config.scaling_factor == pytest.approx(ref.config.scaling_factor)
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(ours.encode(x).mean, ref.encode(x).latent_dist.mean, atol=1e-4, rtol=0)


def test_old_attention_names_are_understood(tmp_path):
    ref = _reference(block_out_channels=(32, 64), layers_per_block=1)
    renamed = {}
    for k, v in ref.state_dict().items():
        for new, old in ((".to_q.", ".query."), (".to_k.", ".key."), (".to_v.", ".value."), (".to_out.0.", ".proj_attn.")):
            k = k.replace(new, old)
        renamed[k] = v.clone()
    save_file(renamed, tmp_path / "old.safetensors")
    ours = load_diffusers_vae(tmp_path / "old.safetensors")
    assert ours.config.block_out_channels == (32, 64)


def test_wrong_files_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="only .safetensors"):
        load_diffusers_vae(tmp_path / "vae.ckpt")
    save_file({"something.weight": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="does not look like a diffusers AutoencoderKL"):
        load_diffusers_vae(tmp_path / "other.safetensors")


def test_a_shift_factor_is_read_and_applied_as_diffusers_does(tmp_path):
    # SD3/FLUX convention: latent = (z − shift) · scale, and z = latent / scale + shift to decode.
    ref = _reference(block_out_channels=(32, 64), layers_per_block=1)
    ref.register_to_config(scaling_factor=1.5305, shift_factor=0.0609)  # SD3's values
    ref.save_pretrained(tmp_path, safe_serialization=True)
    ours = load_diffusers_vae(tmp_path)
    assert ours.config.shift_factor == pytest.approx(0.0609) and ours.config.scaling_factor == pytest.approx(1.5305)
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        z = ref.encode(x).latent_dist.mode()
        expected = (z - ref.config.shift_factor) * ref.config.scaling_factor
        torch.testing.assert_close(ours.to_latent(x), expected, atol=1e-4, rtol=0)
        decoded = ref.decode(expected / ref.config.scaling_factor + ref.config.shift_factor).sample
        torch.testing.assert_close(ours.from_latent(expected), decoded, atol=1e-4, rtol=0)


def test_broken_diffusers_files_name_the_file_and_what_was_expected(tmp_path):
    ref = _reference(block_out_channels=(32, 64), layers_per_block=1)
    state = {k: v for k, v in ref.state_dict().items() if k != "encoder.conv_in.weight"}
    save_file(state, tmp_path / "partial.safetensors")
    with pytest.raises(CheckpointError, match=r"partial\.safetensors does not look like .* no encoder\.conv_in\.weight"):
        load_diffusers_vae(tmp_path / "partial.safetensors")
    folder = tmp_path / "folder"
    ref.save_pretrained(folder, safe_serialization=True)
    (folder / "config.json").write_text('{"scaling_factor": 0.18215,')
    with pytest.raises(CheckpointError, match=r"config\.json is not valid JSON"):
        load_diffusers_vae(folder)
    (folder / "config.json").write_text('{"scaling_factor": "big"}')
    with pytest.raises(CheckpointError, match=r"config\.json: field 'scaling_factor' should be a number"):
        load_diffusers_vae(folder)
    (folder / "config.json").write_text('{"scaling_factor": 0}')
    with pytest.raises(CheckpointError, match=r"scaling_factor must be a finite number > 0"):
        load_diffusers_vae(folder)
