"""The building blocks shared by the VAE and the UNet.

Each block is named after the box it draws in the architecture diagrams of the LDM paper
(Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion Models") and of
DDPM (Ho et al. 2020), whose ResNet/attention design the LDM autoencoder reuses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    """GroupNorm with Stable Diffusion's epsilon; `groups` must divide `channels`."""
    if channels % groups != 0:
        raise ValueError(f"GroupNorm needs groups ({groups}) to divide the channels ({channels})")
    return nn.GroupNorm(groups, channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """norm → SiLU → conv → norm → SiLU → conv, plus a skip (He et al. 2016; DDPM's variant).

    The UNet passes a time embedding that is added between the two convolutions;
    the VAE does not (temb_channels=0).
    """

    def __init__(self, in_channels: int, out_channels: int, norm_groups: int, temb_channels: int = 0):
        super().__init__()
        self.norm1 = group_norm(in_channels, norm_groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.time_proj = nn.Linear(temb_channels, out_channels) if temb_channels > 0 else None
        self.norm2 = group_norm(out_channels, norm_groups)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        # A 1×1 conv matches the channel count on the skip path when it changes.
        self.skip = nn.Conv2d(in_channels, out_channels, kernel_size=1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        B, C, H, W = x.shape
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_proj is not None:
            if temb is None:
                raise ValueError("this ResnetBlock was built with a time embedding; pass temb")
            h = h + self.time_proj(F.silu(temb))[:, :, None, None]  # (B, C_out, 1, 1) broadcast
        h = self.conv2(F.silu(self.norm2(h)))
        skip = x if self.skip is None else self.skip(x)
        return skip + h


class Downsample(nn.Module):
    """Halve H and W with a stride-2 3×3 conv.

    LDM pads only the right and bottom edge by one pixel, then convolves without padding,
    so an even input size halves exactly. We keep that choice so SD weights import as they are.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, 1, 0, 1))  # (left, right, top, bottom)
        return self.conv(x)


class Upsample(nn.Module):
    """Double H and W: nearest-neighbour upsampling, then a 3×3 conv to smooth the blocks."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x)


class SelfAttention(nn.Module):
    """Every position of a feature map attends to every other one (single head in the VAE).

    h = x + W_out · softmax(Q Kᵀ / √d) V, with Q, K, V linear maps of the normalised pixels.
    """

    def __init__(self, channels: int, norm_groups: int, heads: int = 1):
        super().__init__()
        if channels % heads != 0:
            raise ValueError(f"heads ({heads}) must divide channels ({channels})")
        self.heads = heads
        self.norm = group_norm(channels, norm_groups)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)  # (B, H*W, C)
        q, k, v = self.to_q(h), self.to_k(h), self.to_v(h)
        head_dim = C // self.heads
        q, k, v = (t.view(B, H * W, self.heads, head_dim).transpose(1, 2) for t in (q, k, v))  # (B, heads, H*W, head_dim)
        h = F.scaled_dot_product_attention(q, k, v)  # (B, heads, H*W, head_dim)
        h = h.transpose(1, 2).reshape(B, H * W, C)  # (B, H*W, C)
        h = self.to_out(h).transpose(1, 2).view(B, C, H, W)
        return x + h
