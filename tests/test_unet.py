"""The UNet: every level's shapes, and an output that depends on the time and on the text."""

import pytest
import torch

from latentlab.blocks import CrossAttention, timestep_embedding
from latentlab.unet import UNet, UNetConfig


def tiny_unet(**overrides) -> UNet:
    torch.manual_seed(0)
    return UNet(UNetConfig(**{**UNetConfig.tiny().__dict__, **overrides})).eval()


def test_every_level_has_the_expected_shape():
    config = UNetConfig(block_channels=(16, 32, 48), attention_levels=(False, True, True), heads=2,
                        context_dim=24, norm_groups=8)
    unet = UNet(config).eval()
    trace = []
    with torch.no_grad():
        out = unet(torch.randn(2, 4, 16, 16), 10, torch.randn(2, 5, 24), trace=trace)
    assert out.shape == (2, 4, 16, 16)
    assert dict(trace) == {
        "time embedding": (2, 64), "conv_in": (2, 16, 16, 16),
        "down 0": (2, 16, 16, 16), "down 1": (2, 32, 8, 8), "down 2": (2, 48, 4, 4),
        "middle": (2, 48, 4, 4),
        "up 2": (2, 48, 4, 4), "up 1": (2, 32, 8, 8), "up 0": (2, 16, 16, 16),
        "conv_out": (2, 4, 16, 16),
    }
    assert [name for name, _ in trace][-1] == "conv_out"


def test_output_depends_on_time_and_text():
    unet = tiny_unet()
    x = torch.randn(2, 4, 8, 8)
    context = torch.randn(2, 6, 32)
    with torch.no_grad():
        base = unet(x, 100, context)
        other_t = unet(x, 800, context)
        other_text = unet(x, 100, torch.randn(2, 6, 32))
        per_sample_t = unet(x, torch.tensor([100, 800]), context)
    assert (base - other_t).abs().mean() > 1e-3
    assert (base - other_text).abs().mean() > 1e-3
    torch.testing.assert_close(per_sample_t[0], base[0])
    torch.testing.assert_close(per_sample_t[1], other_t[1])


def test_cross_attention_weights_are_kept_and_sum_to_one():
    attn = CrossAttention(16, context_dim=8, heads=2)
    attn.keep_attention = True
    x, ctx = torch.randn(3, 10, 16), torch.randn(3, 4, 8)
    out = attn(x, ctx)
    assert attn.last_attention.shape == (3, 2, 10, 4)
    torch.testing.assert_close(attn.last_attention.sum(-1), torch.ones(3, 2, 10))
    attn.keep_attention = False
    torch.testing.assert_close(attn(x, ctx), out)  # the fused kernel computes the same thing
    assert len(tiny_unet().cross_attention_layers()) > 0


def test_timestep_embedding():
    emb = timestep_embedding(torch.tensor([0.0, 1.0, 500.0]), 16)
    assert emb.shape == (3, 16)
    torch.testing.assert_close(emb[0], torch.cat([torch.ones(8), torch.zeros(8)]))
    # Nearby timesteps are more alike than far ones.
    near = torch.cosine_similarity(timestep_embedding(torch.tensor([500.0]), 64), timestep_embedding(torch.tensor([505.0]), 64))
    far = torch.cosine_similarity(timestep_embedding(torch.tensor([500.0]), 64), timestep_embedding(torch.tensor([50.0]), 64))
    assert near > far
    with pytest.raises(ValueError, match="even"):
        timestep_embedding(torch.tensor([1.0]), 7)


@pytest.mark.parametrize("x, context, message", [
    (torch.randn(1, 3, 8, 8), torch.randn(1, 6, 32), "expected 4 latent channels"),
    (torch.randn(1, 4, 7, 8), torch.randn(1, 6, 32), "multiples of 2"),
    (torch.randn(1, 4, 8, 8), torch.randn(1, 6, 16), "context must be"),
    (torch.randn(1, 4, 8, 8), None, "context must be"),
])
def test_bad_inputs(x, context, message):
    with pytest.raises(ValueError, match=message):
        tiny_unet()(x, 5, context)


def test_bad_config():
    with pytest.raises(ValueError, match="attention_levels"):
        UNetConfig(block_channels=(16, 32), attention_levels=(True,))
    with pytest.raises(ValueError, match="divide"):
        UNetConfig(block_channels=(20, 32), attention_levels=(True, True), norm_groups=8)
