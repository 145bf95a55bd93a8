"""Oracle: diffusers' UNet2DConditionModel built to latentlab's architecture, its random weights
imported into latentlab, must predict the same noise (the twin `bench vs-diffusers` times)."""

import pytest
import torch

from latentlab.checkpoints import CheckpointError, convert_diffusers_unet_state, load_diffusers_unet
from latentlab.unet import UNetConfig

diffusers = pytest.importorskip("diffusers", reason="the [ref] extra (diffusers) is not installed")
from latentlab.vs_diffusers import diffusers_unet_twin  # noqa: E402


@pytest.mark.parametrize("config", [UNetConfig.tiny(), UNetConfig(block_channels=(16, 32, 32), heads=2,
                                                                   context_dim=24, norm_groups=8,
                                                                   layers_per_block=2)])
def test_imported_diffusers_unet_agrees_to_1e4(config):
    theirs, ours = diffusers_unet_twin(config)
    torch.manual_seed(1)
    x = torch.randn(2, config.in_channels, 8, 8)
    t = torch.tensor([3, 871])
    context = torch.randn(2, 5, config.context_dim)
    with torch.no_grad():
        expected = theirs(x, t, context).sample
        got = ours(x, t, context)
    assert expected.abs().max() > 0.1  # a real signal, not two zeros agreeing
    assert (got - expected).abs().max() < 1e-4
    # and the comparison can fail: one imported weight off changes the answer
    with torch.no_grad():
        ours.conv_in.weight[0, 0, 0, 0] += 0.5
        assert (ours(x, t, context) - expected).abs().max() > 1e-3


def test_the_default_geglu_feed_forward_is_refused_with_a_reason():
    config = UNetConfig.tiny()
    theirs = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), block_out_channels=config.block_channels,
        layers_per_block=1, downsample_padding=0, norm_num_groups=8, cross_attention_dim=config.context_dim,
        attention_head_dim=config.heads)
    with pytest.raises(CheckpointError, match="GEGLU"):
        load_diffusers_unet(theirs.state_dict(), config)


def test_a_wrong_architecture_lists_what_does_not_fit():
    theirs, _ = diffusers_unet_twin(UNetConfig.tiny())
    with pytest.raises(CheckpointError, match="does not fit"):
        load_diffusers_unet(theirs.state_dict(), UNetConfig.shapes())
    with pytest.raises(CheckpointError, match="one transformer block"):
        convert_diffusers_unet_state({"down_blocks.1.attentions.0.transformer_blocks.1.norm1.weight": torch.ones(2)})
