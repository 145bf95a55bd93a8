"""The denoiser: a text-conditioned UNet that predicts the noise in a latent (LDM §3.3, Fig. 3).

    z_t (B, 4, h, w) ──conv_in──► level 0 ──► level 1 ──► … ──► middle ──► … ──► level 0 ──conv_out──► ε̂ (B, 4, h, w)
                                    │  skip     │  skip                      ▲          ▲
                                    └───────────┼────────────────────────────┼──────────┘
                                                └────────────────────────────┘
    t ──sinusoid──MLP──► temb: added inside every ResnetBlock ("how noisy is this?")
    prompt ──TextEncoder──► context (B, L, D): read by the cross-attention of every TransformerBlock2D

Each down level is `layers_per_block` × (ResnetBlock [+ TransformerBlock2D]) then a Downsample;
each up level has one block more, and every block takes a skip from the matching down level,
concatenated on the channels (Ronneberger et al. 2015). This is Stable Diffusion v1's UNet
(860 M parameters, channels 320/640/1280/1280) shrunk to a few million for 16×16 latents.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Downsample, ResnetBlock, TransformerBlock2D, Upsample, group_norm, timestep_embedding


@dataclass
class UNetConfig:
    in_channels: int = 4                               # the VAE's latent channels (c of f8c4)
    out_channels: int = 4                              # ε has the latent's shape
    block_channels: tuple[int, ...] = (64, 128, 128)   # per level: 16×16 → 8×8 → 4×4 for a 128 px image
    layers_per_block: int = 1                          # SD v1 uses 2; one is enough for shapes, and twice as fast
    attention_levels: tuple[bool, ...] = (True, True, True)  # text everywhere, even 16×16: positions matter here
    heads: int = 4
    context_dim: int = 128                             # the TextEncoder's width
    norm_groups: int = 16
    sample_size: int = 16                              # the latent side it was trained on (informational)

    def __post_init__(self):
        self.block_channels = tuple(int(c) for c in self.block_channels)
        self.attention_levels = tuple(bool(a) for a in self.attention_levels)
        if len(self.attention_levels) != len(self.block_channels):
            raise ValueError(f"attention_levels has {len(self.attention_levels)} entries for "
                             f"{len(self.block_channels)} levels")
        for c in self.block_channels:
            if c % self.norm_groups or c % self.heads:
                raise ValueError(f"every level's channels must divide by norm_groups ({self.norm_groups}) "
                                 f"and heads ({self.heads}); {c} does not")

    @classmethod
    def shapes(cls) -> UNetConfig:
        """ldm-shapes: the course's text-to-image model."""
        return cls()

    @classmethod
    def tiny(cls) -> UNetConfig:
        """For tests and the live demos: a few hundred thousand parameters."""
        return cls(block_channels=(16, 32), attention_levels=(False, True), heads=2, context_dim=32, norm_groups=8)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


class UNetBlock(nn.Module):
    """ResnetBlock (conditioned on time), then optionally a TransformerBlock2D (conditioned on text)."""

    def __init__(self, in_channels: int, out_channels: int, config: UNetConfig, temb_channels: int, attention: bool):
        super().__init__()
        self.resnet = ResnetBlock(in_channels, out_channels, config.norm_groups, temb_channels)
        self.attention = (TransformerBlock2D(out_channels, config.context_dim, config.heads, config.norm_groups)
                          if attention else None)

    def forward(self, x: torch.Tensor, temb: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        h = self.resnet(x, temb)
        return self.attention(h, context) if self.attention is not None else h


class UNet(nn.Module):
    """ε̂ = UNet(z_t, t, context). See the module docstring for the picture."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        channels = config.block_channels
        temb_channels = 4 * channels[0]  # DDPM's choice: 4× the first level's width
        self.time_mlp = nn.Sequential(nn.Linear(channels[0], temb_channels), nn.SiLU(),
                                      nn.Linear(temb_channels, temb_channels))
        self.conv_in = nn.Conv2d(config.in_channels, channels[0], kernel_size=3, padding=1)

        # Down path: remember every output's channels, the up path takes them back as skips.
        self.down_blocks = nn.ModuleList()
        self.downsamplers = nn.ModuleList()
        skip_channels = [channels[0]]
        current = channels[0]
        for level, (width, attention) in enumerate(zip(channels, config.attention_levels)):
            blocks = nn.ModuleList()
            for _ in range(config.layers_per_block):
                blocks.append(UNetBlock(current, width, config, temb_channels, attention))
                current = width
                skip_channels.append(current)
            self.down_blocks.append(blocks)
            last = level == len(channels) - 1
            self.downsamplers.append(nn.Identity() if last else Downsample(current))
            if not last:
                skip_channels.append(current)

        self.mid_resnet1 = ResnetBlock(current, current, config.norm_groups, temb_channels)
        self.mid_attention = TransformerBlock2D(current, config.context_dim, config.heads, config.norm_groups)
        self.mid_resnet2 = ResnetBlock(current, current, config.norm_groups, temb_channels)

        # Up path: one block more per level than going down, each eating one skip.
        self.up_blocks = nn.ModuleList()
        self.upsamplers = nn.ModuleList()
        for level in reversed(range(len(channels))):
            width, attention = channels[level], config.attention_levels[level]
            blocks = nn.ModuleList()
            for _ in range(config.layers_per_block + 1):
                blocks.append(UNetBlock(current + skip_channels.pop(), width, config, temb_channels, attention))
                current = width
            self.up_blocks.append(blocks)
            self.upsamplers.append(Upsample(current) if level > 0 else nn.Identity())

        self.norm_out = group_norm(current, config.norm_groups)
        self.conv_out = nn.Conv2d(current, config.out_channels, kernel_size=3, padding=1)
        # Convolution weights channels-last, as in the VAE: activations then flow as (B, H, W, C), and the
        # transformer blocks' "feature map → H·W tokens" reshapes become free views instead of copies.
        # `python benchmarks/ab_unet_channels_last.py`, three runs on 2 CPU cores: a sampling forward 0–6 %
        # faster, a training step 5–6 % faster. forward() hands back an ordinary contiguous tensor.
        self.to(memory_format=torch.channels_last)

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.config.block_channels) - 1)

    def cross_attention_layers(self) -> list[tuple[str, nn.Module]]:
        """(name, CrossAttention) of every text cross-attention, down path first."""
        return [(name.removesuffix(".cross_attn"), module) for name, module in self.named_modules()
                if name.endswith("cross_attn")]

    def forward(self, x: torch.Tensor, t, context: torch.Tensor, trace: list | None = None) -> torch.Tensor:
        """x: (B, C_in, h, w) noisy latents; t: a timestep (number or 0-d tensor) or (B,) timesteps;
        context: (B, L, D) text encoding. Returns ε̂ (B, C_out, h, w).

        trace: pass a list to get (stage name, shape) appended at every stage (the lesson prints it)."""
        B, C, H, W = x.shape
        if C != self.config.in_channels:
            raise ValueError(f"expected {self.config.in_channels} latent channels, got {C} (x: {tuple(x.shape)})")
        f = self.downsample_factor
        if H % f or W % f:
            raise ValueError(f"the latent's height and width must be multiples of {f} for {len(self.config.block_channels)} "
                             f"levels, got {H}×{W}")
        if context is None or context.dim() != 3 or context.shape[0] != B or context.shape[2] != self.config.context_dim:
            got = None if context is None else tuple(context.shape)
            raise ValueError(f"context must be (B={B}, L, D={self.config.context_dim}) text vectors, got {got}")
        # NumPy's float64 (or a half-precision latent) computed in the weights' dtype, not refused deep in torch
        x, context = x.to(self.conv_in.weight.dtype), context.to(self.conv_in.weight.dtype)
        note = trace.append if trace is not None else (lambda item: None)

        # 1. time: a number → a vector every ResnetBlock can use
        t = torch.as_tensor(t, device=x.device, dtype=torch.float32)
        t = t.expand(B) if t.dim() == 0 else t  # (B,)
        temb = self.time_mlp(timestep_embedding(t, self.config.block_channels[0]))  # (B, 4·C0)
        note(("time embedding", tuple(temb.shape)))

        # 2. down: blocks, keep every output as a skip, halve the size between levels
        h = self.conv_in(x)  # (B, C0, H, W)
        note(("conv_in", tuple(h.shape)))
        skips = [h]
        for level, (blocks, downsample) in enumerate(zip(self.down_blocks, self.downsamplers)):
            for block in blocks:
                h = block(h, temb, context)
                skips.append(h)
            note((f"down {level}", tuple(h.shape)))
            if not isinstance(downsample, nn.Identity):
                h = downsample(h)  # (B, C, H/2, W/2)
                skips.append(h)

        # 3. middle, at the lowest resolution
        h = self.mid_resnet2(self.mid_attention(self.mid_resnet1(h, temb), context), temb)
        note(("middle", tuple(h.shape)))

        # 4. up: each block first concatenates the matching skip on the channels
        for i, (blocks, upsample) in enumerate(zip(self.up_blocks, self.upsamplers)):
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), temb, context)  # (B, C + C_skip, H, W) → (B, C, H, W)
            note((f"up {len(self.up_blocks) - 1 - i}", tuple(h.shape)))
            h = upsample(h)

        out = self.conv_out(F.silu(self.norm_out(h))).contiguous()  # (B, C_out, H, W)
        note(("conv_out", tuple(out.shape)))
        return out


__all__ = ["UNet", "UNetBlock", "UNetConfig"]
