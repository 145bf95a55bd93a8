"""Lesson 04 checkers: each passes the reference solution, names each of its mistakes, never raises,
and the references agree with the package (the UNet's own trace, PyTorch's fused attention)."""

import math

import pytest
import torch
import torch.nn.functional as F
from checker_suite import checker_tests

from latentlab import exercises as ex
from latentlab.blocks import CrossAttention
from latentlab.unet import UNet, UNetConfig

CHECKERS = [
    (ex.check_timestep_embedding, ex.timestep_embedding_reference, ex.TIMESTEP_EMBEDDING_MISTAKES),
    (ex.check_level_shapes, ex.level_shapes_reference, ex.LEVEL_SHAPES_MISTAKES),
    (ex.check_attention, ex.attention_reference, ex.ATTENTION_MISTAKES),
]
IDS = ["timestep_embedding", "level_shapes", "attention"]


globals().update(checker_tests(CHECKERS, IDS))


@pytest.mark.parametrize("checker", [c for c, _, _ in CHECKERS], ids=IDS)
def test_never_raises_and_explains(checker, capsys):
    def unwritten(*args, **kwargs):
        raise NotImplementedError

    def crashes(*args, **kwargs):
        return torch.zeros(3) @ torch.zeros(4)

    assert "not written yet" in checker(unwritten).message
    result = checker(crashes)
    assert not result.passed and "raised RuntimeError" in result.message
    capsys.readouterr()


def test_student_solutions_in_other_styles_pass():
    def timestep_embedding(t, dim):  # float64, 10000 ** (…) instead of exp(log(…))
        half = dim // 2
        freqs = 10000.0 ** (-torch.arange(half, dtype=torch.float64) / half)
        angles = t.double()[:, None] * freqs
        return torch.cat([angles.cos(), angles.sin()], dim=1)

    def level_shapes(config, batch, height, width):  # a loop, lists and torch.Size
        shapes, h, w = [], height, width
        for channels in config.block_channels:
            shapes.append(torch.Size([batch, channels, h, w]))
            h, w = h // 2, w // 2
        return shapes

    def attention(q, k, v):  # PyTorch's fused kernel
        return F.scaled_dot_product_attention(q, k, v)

    assert ex.check_timestep_embedding(timestep_embedding, quiet=True).passed
    assert ex.check_level_shapes(level_shapes, quiet=True).passed
    assert ex.check_attention(attention, quiet=True).passed


def test_wrong_answers_fail_with_a_description():
    wrong_shape = ex.check_timestep_embedding(lambda t, dim: torch.zeros(len(t), dim + 2), quiet=True)
    assert not wrong_shape.passed and "expected shape" in wrong_shape.message
    wrong_values = ex.check_attention(lambda q, k, v: q * 2, quiet=True)
    assert not wrong_values.passed and "off by up to" in wrong_values.message
    too_few = ex.check_level_shapes(lambda config, batch, height, width: [(batch, 4, height, width)], quiet=True)
    assert not too_few.passed and "expected" in too_few.message


@pytest.mark.parametrize("channels, size", [((16, 32), (8, 12)), ((8, 16, 24), (16, 8)), ((8, 8, 16, 16), (16, 24))])
def test_level_shapes_reference_matches_the_unets_trace(channels, size):
    config = UNetConfig(block_channels=channels, attention_levels=(False,) * len(channels), heads=2,
                        context_dim=8, norm_groups=8)
    trace = []
    with torch.no_grad():
        UNet(config)(torch.randn(2, 4, *size), 10, torch.randn(2, 3, 8), trace=trace)
    down = [shape for name, shape in trace if name.startswith("down")]
    assert down == ex.level_shapes_reference(config, 2, *size)


def test_attention_reference_is_the_packages_cross_attention():
    torch.manual_seed(0)
    attn = CrossAttention(16, context_dim=8, heads=2)
    x, context = torch.randn(2, 10, 16), torch.randn(2, 5, 8)
    q = attn.to_q(x).view(2, 10, 2, 8).transpose(1, 2)  # (B, heads, N, d)
    k = attn.to_k(context).view(2, 5, 2, 8).transpose(1, 2)  # (B, heads, M, d)
    v = attn.to_v(context).view(2, 5, 2, 8).transpose(1, 2)
    by_hand = attn.to_out(ex.attention_reference(q, k, v).transpose(1, 2).reshape(2, 10, 16))
    torch.testing.assert_close(by_hand, attn(x, context))
    assert math.isclose(ex.attention_reference(q, k, v).abs().sum().item(),
                        F.scaled_dot_product_attention(q, k, v).abs().sum().item(), rel_tol=1e-5)
