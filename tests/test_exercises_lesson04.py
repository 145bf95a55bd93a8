"""Lesson 04's checkers beyond the standard tests (tests/test_checkers.py): other correct styles pass,
wrong answers are explained, and the references agree with the package (the UNet's own trace,
PyTorch's fused attention)."""

import math

import pytest
import torch
import torch.nn.functional as F

from latentlab.blocks import CrossAttention
from latentlab.exercises.lesson04 import (
    CHECKERS,
    _attention_inputs,
    attention_reference,
    check_attention,
    check_level_shapes,
    check_timestep_embedding,
    level_shapes_reference,
)
from latentlab.unet import UNet, UNetConfig


@pytest.mark.parametrize("checker", [c for c, _, _ in CHECKERS], ids=lambda c: c.__name__)
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

    assert check_timestep_embedding(timestep_embedding, quiet=True).passed
    assert check_level_shapes(level_shapes, quiet=True).passed
    assert check_attention(attention, quiet=True).passed


def test_wrong_answers_fail_with_a_description():
    wrong_shape = check_timestep_embedding(lambda t, dim: torch.zeros(len(t), dim + 2), quiet=True)
    assert not wrong_shape.passed and "expected shape" in wrong_shape.message
    wrong_values = check_attention(lambda q, k, v: q * 2, quiet=True)
    assert not wrong_values.passed and "off by up to" in wrong_values.message
    too_few = check_level_shapes(lambda config, batch, height, width: [(batch, 4, height, width)], quiet=True)
    assert not too_few.passed and "expected" in too_few.message


def test_attention_inputs_keep_every_axis_apart():
    """B, heads, N, M and d differ in every trial, so an axis mixed up with another cannot pass by luck."""
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        inputs = _attention_inputs(generator)
        B, heads, N, d = inputs["q"].shape
        assert len({B, heads, N, inputs["k"].shape[2], d}) == 5


@pytest.mark.parametrize("channels, size", [((16, 32), (8, 12)), ((8, 16, 24), (16, 8)), ((8, 8, 16, 16), (16, 24))])
def test_level_shapes_reference_matches_the_unets_trace(channels, size):
    config = UNetConfig(block_channels=channels, attention_levels=(False,) * len(channels), heads=2,
                        context_dim=8, norm_groups=8)
    trace = []
    with torch.no_grad():
        UNet(config)(torch.randn(2, 4, *size), 10, torch.randn(2, 3, 8), trace=trace)
    down = [shape for name, shape in trace if name.startswith("down")]
    assert down == level_shapes_reference(config, 2, *size)


def test_attention_reference_is_the_packages_cross_attention():
    torch.manual_seed(0)
    attn = CrossAttention(16, context_dim=8, heads=2)
    x, context = torch.randn(2, 10, 16), torch.randn(2, 5, 8)
    q = attn.to_q(x).view(2, 10, 2, 8).transpose(1, 2)  # (B, heads, N, d)
    k = attn.to_k(context).view(2, 5, 2, 8).transpose(1, 2)  # (B, heads, M, d)
    v = attn.to_v(context).view(2, 5, 2, 8).transpose(1, 2)
    by_hand = attn.to_out(attention_reference(q, k, v).transpose(1, 2).reshape(2, 10, 16))
    torch.testing.assert_close(by_hand, attn(x, context))
    assert math.isclose(attention_reference(q, k, v).abs().sum().item(),
                        F.scaled_dot_product_attention(q, k, v).abs().sum().item(), rel_tol=1e-5)
