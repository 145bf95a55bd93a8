"""Lesson 04 — the UNet: the timestep embedding, the shapes through the levels, attention.

The references are the package's: `blocks.timestep_embedding`, the UNet's level widths from
`unet.UNetConfig` (a test holds them to the UNet's own trace) and the attention that
`blocks.CrossAttention` computes (a test holds them equal).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..blocks import timestep_embedding
from ..i18n import N_
from ..unet import UNetConfig
from .core import CheckResult, Mistake, check_written, random_int


def timestep_embedding_reference(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[cos(t·ω_k), sin(t·ω_k)] with ω_k = 10000^(−k/(dim/2)), k = 0…dim/2−1 (latentlab.blocks). t (B,) → (B, dim)"""
    return timestep_embedding(t, dim)


def _timestep_inputs(generator: torch.Generator) -> dict:
    dim = 2 * random_int(generator, 4, 33)  # 8…64, even
    return dict(t=torch.randint(0, 1000, (5,), generator=generator).float(), dim=dim)


def _embedding_wrong(denominator: str = "half", sign: float = -1.0, order: str = "cos_sin", t_scale: float = 1.0):
    def fn(t, dim):
        half = dim // 2
        k = torch.arange(half, dtype=torch.float64)
        divide = {"half": half, "dim": dim, "half_minus_one": half - 1}[denominator]
        freqs = torch.exp(sign * math.log(10000.0) * k / divide)  # (half,)
        angles = t.double()[:, None] * t_scale * freqs[None, :]  # (B, half)
        if order == "interleaved":
            return torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1).flatten(1).float()
        first, second = (torch.cos(angles), torch.sin(angles)) if order == "cos_sin" else (torch.sin(angles), torch.cos(angles))
        return torch.cat([first, second], dim=-1).float()
    return fn


TIMESTEP_EMBEDDING_MISTAKES = [
    Mistake(N_("sin before cos"), N_("Stable Diffusion (and latentlab) put the cosines first: torch.cat([cos, sin], dim=-1). "
            "The original Transformer used sin first; both work, but weights trained with one need that one."),
            _embedding_wrong(order="sin_cos")),
    Mistake(N_("cos and sin interleaved"), N_("put all dim/2 cosines first, then all dim/2 sines (torch.cat on the last "
            "dimension), not cos, sin, cos, sin, …"), _embedding_wrong(order="interleaved")),
    Mistake(N_("frequencies spread over dim instead of dim/2"), N_("there are dim/2 frequencies ω_k = 10000^(−k/(dim/2)), "
            "k = 0…dim/2−1: divide k by dim/2, so the slowest one is nearly 1/10000."), _embedding_wrong(denominator="dim")),
    Mistake(N_("the (dim/2 − 1) denominator"), N_("divide k by dim/2, not dim/2 − 1 (that variant, diffusers' "
            "downscale_freq_shift=1, ends exactly at 1/10000; SD uses dim/2)."), _embedding_wrong(denominator="half_minus_one")),
    Mistake(N_("frequencies that grow instead of shrink"), N_("ω_k = 10000^(−k/(dim/2)) = exp(−ln(10000)·k/(dim/2)): "
            "mind the minus sign; the first frequency is 1, the others are slower."), _embedding_wrong(sign=1.0)),
    Mistake(N_("t divided by 1000"), N_("the embedding takes the raw timestep (0…999); the fastest frequency, 1 radian per "
            "step, is what tells neighbouring steps apart."), _embedding_wrong(t_scale=1e-3)),
]


def check_timestep_embedding(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: timestep_embedding(t, dim) → (B, dim) sinusoidal embedding of t (B,)."""
    # atol 1e-3: angles reach 1000 rad, so float32 rounding of ω_k moves cos/sin by ~1e-4.
    return check_written(student_fn, timestep_embedding_reference, _timestep_inputs, TIMESTEP_EMBEDDING_MISTAKES,
                         name="timestep_embedding", atol=1e-3, rtol=1e-3, **kwargs)


def level_shapes_reference(config, batch: int, height: int, width: int) -> list[tuple[int, int, int, int]]:
    """The feature map's shape at the end of each down level of a UNet(config) for a (batch, c, height, width)
    latent, before that level's Downsample: level l has block_channels[l] channels at height/2^l × width/2^l."""
    return [(batch, channels, height // 2**level, width // 2**level)
            for level, channels in enumerate(config.block_channels)]


def _level_shapes_inputs(generator: torch.Generator) -> dict:
    def pick(low: int, high: int) -> int:
        return random_int(generator, low, high)

    levels = pick(2, 5)
    config = UNetConfig(in_channels=[3, 4, 16][pick(0, 3)], block_channels=tuple(8 * pick(1, 13) for _ in range(levels)),
                        attention_levels=tuple(bool(pick(0, 2)) for _ in range(levels)), heads=2, context_dim=32,
                        norm_groups=8)
    f = 2 ** (levels - 1)
    height = f * pick(1, 7)
    width = f * pick(1, 7)
    width = width + f if width == height else width  # a non-square latent: height and width must not be swapped
    return dict(config=config, batch=pick(1, 5), height=height, width=width)


def _level_shapes_wrong(halvings: int = 0, with_batch: bool = True, swap: bool = False, channels: str = "config"):
    def fn(config, batch, height, width):
        shapes = []
        for level, level_width in enumerate(config.block_channels):
            C = {"config": level_width, "latent": config.in_channels,
                 "doubling": config.block_channels[0] * 2**level}[channels]
            H, W = height // 2 ** (level + halvings), width // 2 ** (level + halvings)
            H, W = (W, H) if swap else (H, W)
            shapes.append((batch, C, H, W) if with_batch else (C, H, W))
        return shapes
    return fn


LEVEL_SHAPES_MISTAKES = [
    Mistake(N_("one halving too many"), N_("'down l' is measured before that level's Downsample: level 0 keeps the latent's "
            "h×w, level l is h/2^l × w/2^l."), _level_shapes_wrong(halvings=1)),
    Mistake(N_("the batch dimension left out"), N_("PyTorch feature maps are (B, C, H, W): keep the batch in front."),
            _level_shapes_wrong(with_batch=False)),
    Mistake(N_("height and width swapped"), N_("the order is (B, C, H, W): height before width."), _level_shapes_wrong(swap=True)),
    Mistake(N_("the latent's channels at every level"), N_("conv_in maps the c latent channels to block_channels[0]; each "
            "level then has its own width, config.block_channels[l]."), _level_shapes_wrong(channels="latent")),
    Mistake(N_("channels doubled at every level"), N_("the textbook UNet doubles the channels per level, but the widths are "
            "whatever config.block_channels says (ldm-shapes: 64, 128, 128)."), _level_shapes_wrong(channels="doubling")),
]


def check_level_shapes(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: level_shapes(config, batch, height, width) → [(B, C, H, W) at the end of each down level]."""
    return check_written(student_fn, level_shapes_reference, _level_shapes_inputs, LEVEL_SHAPES_MISTAKES,
                         name="level_shapes", atol=0, rtol=0, **kwargs)


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(Q Kᵀ / √d) V (LDM §3.3; Vaswani et al. 2017, eq. 1), softmax over the keys.
    q (B, heads, N, d), k and v (B, heads, M, d) → (B, heads, N, d)"""
    d = q.shape[-1]
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)  # (B, heads, N, M)
    return weights @ v


def _attention_inputs(generator: torch.Generator) -> dict:
    """Queries, keys and values with B, heads, N, M and d all different, so a mixed-up axis cannot hide."""
    d = 8 * random_int(generator, 1, 4)  # 8, 16 or 24
    N = random_int(generator, 5, 13)
    N = N + 1 if N == d else N
    M = N + random_int(generator, 1, 4)
    M = M + 1 if M == d else M
    return dict(q=2 * torch.randn(2, 3, N, d, generator=generator), k=2 * torch.randn(2, 3, M, d, generator=generator),
                v=torch.randn(2, 3, M, d, generator=generator))


def _attention_wrong(scale: str = "sqrt_d", softmax_dim: int | None = -1, weights_only: bool = False):
    def fn(q, k, v):
        d, M = q.shape[-1], k.shape[-2]
        scores = q @ k.transpose(-1, -2)  # (B, heads, N, M)
        scores = scores / {"sqrt_d": math.sqrt(d), "none": 1.0, "d": d, "sqrt_m": math.sqrt(M)}[scale]
        weights = scores if softmax_dim is None else torch.softmax(scores, dim=softmax_dim)
        return weights if weights_only else weights @ v
    return fn


ATTENTION_MISTAKES = [
    Mistake(N_("the 1/√d scaling left out"), N_("divide the scores by √d (d = q.shape[-1]) before the softmax: without it "
            "the dot products of long vectors grow large and the softmax saturates on one key."), _attention_wrong(scale="none")),
    Mistake(N_("scores divided by d instead of √d"), N_("the scale is 1/√d: a dot product of d unit-variance terms has "
            "standard deviation √d."), _attention_wrong(scale="d")),
    Mistake(N_("scores divided by √(number of keys)"), N_("d is the length of each query/key vector, q.shape[-1], not the "
            "number of keys."), _attention_wrong(scale="sqrt_m")),
    Mistake(N_("the softmax over the queries"), N_("each query distributes its attention over the keys: softmax(..., dim=-1), "
            "so every row of the (N, M) weights sums to 1."), _attention_wrong(softmax_dim=-2)),
    Mistake(N_("the softmax left out"), N_("the scores become weights through a softmax over the keys (dim=-1)."),
            _attention_wrong(softmax_dim=None)),
    Mistake(N_("the weights returned instead of weights·V"), N_("the output mixes the values: return weights @ v, "
            "shaped like q, (B, heads, N, d)."), _attention_wrong(weights_only=True)),
]


def check_attention(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: attention(q, k, v) → softmax(Q Kᵀ/√d) V, (B, heads, N, d)."""
    return check_written(student_fn, attention_reference, _attention_inputs, ATTENTION_MISTAKES,
                         name="attention", **kwargs)


CHECKERS = [
    (check_timestep_embedding, timestep_embedding_reference, TIMESTEP_EMBEDDING_MISTAKES),
    (check_level_shapes, level_shapes_reference, LEVEL_SHAPES_MISTAKES),
    (check_attention, attention_reference, ATTENTION_MISTAKES),
]
