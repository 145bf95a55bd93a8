"""The variational autoencoder that turns images into latents and back (LDM §3, App. G).

    image (B, 3, H, W) in [-1, 1]
      └─ Encoder ─→ (B, 2c, H/f, W/f) = mean and log-variance of a diagonal Gaussian
          └─ DiagonalGaussian.sample() or .mode() ─→ z (B, c, H/f, W/f)
              └─ Decoder ─→ image (B, 3, H, W)

f = 2^(number of levels - 1) is the downsampling factor and c the latent channels: Stable
Diffusion v1 uses f=8, c=4, so a 512×512×3 image becomes a 64×64×4 latent (48× fewer values).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Downsample, ResnetBlock, SelfAttention, Upsample, group_norm


@dataclass
class VAEConfig:
    # Channels of each resolution level; one level per factor of 2, so f = 2**(len - 1).
    block_out_channels: tuple[int, ...] = (128, 256, 512, 512)
    # ResnetBlocks per level in the encoder (the decoder uses one more, as in LDM).
    layers_per_block: int = 2
    # c: channels of the latent. SD v1 uses 4: small enough for the UNet, rich enough to decode.
    latent_channels: int = 4
    # GroupNorm groups; 32 in SD. Tiny models use fewer so every group has a few channels.
    norm_groups: int = 32
    # Self-attention in the middle (lowest resolution) of encoder and decoder, as in SD.
    mid_attention: bool = True
    # 1×1 convs before/after the latent (SD's quant_conv / post_quant_conv, a VQGAN relic).
    use_quant_conv: bool = True
    in_channels: int = 3
    out_channels: int = 3
    # LDM §4.3.2: latents are multiplied by this so they have unit variance before diffusion.
    # 1.0 until computed from training data (`compute_scaling_factor`); SD v1's is 0.18215.
    scaling_factor: float = 1.0
    # Subtracted before scaling, so latents also have zero mean: SD3 and FLUX's VAEs have one
    # (SD3: 0.0609); SD v1/v2's and the course's have none.
    shift_factor: float = 0.0

    def __post_init__(self):
        self.block_out_channels = tuple(int(c) for c in self.block_out_channels)
        if not self.block_out_channels:
            raise ValueError("block_out_channels needs at least one level")
        for c in self.block_out_channels:
            if c % self.norm_groups != 0:
                raise ValueError(f"norm_groups={self.norm_groups} must divide every block_out_channels entry, got {c}")
        if self.latent_channels < 1 or self.layers_per_block < 1:
            raise ValueError("latent_channels and layers_per_block must be at least 1")
        # A NaN or zero factor would turn every latent into NaN or zeros without a word.
        if not (math.isfinite(self.scaling_factor) and self.scaling_factor > 0):
            raise ValueError(f"scaling_factor must be a finite number > 0 (1 / std of the latents), "
                             f"got {self.scaling_factor}")
        if not math.isfinite(self.shift_factor):
            raise ValueError(f"shift_factor must be a finite number (the latents' mean), got {self.shift_factor}")

    @property
    def downsample_factor(self) -> int:
        """f: how many pixels of each side one latent position covers."""
        return 2 ** (len(self.block_out_channels) - 1)

    @property
    def name(self) -> str:
        """e.g. 'f8c4', the notation of LDM Tab. 8."""
        return f"f{self.downsample_factor}c{self.latent_channels}"

    def to_json(self) -> str:
        fields = asdict(self)
        if fields["shift_factor"] == 0.0:
            # Written only when there is one: files from before it existed stay identical, so
            # configs compare equal and caches keyed on this JSON stay valid.
            del fields["shift_factor"]
        return json.dumps(fields, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "VAEConfig":
        return cls(**json.loads(text))

    # Presets. Stable Diffusion v1's VAE, then the course's tiny ones, which keep SD's
    # geometry (f, c) but use far fewer channels so they train and run on a laptop CPU.
    @classmethod
    def sd_v1(cls) -> "VAEConfig":
        return cls(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                   norm_groups=32, scaling_factor=0.18215)

    @classmethod
    def f8c4(cls) -> "VAEConfig":
        # 16 channels at full resolution keep a 256 px encode+decode fast enough for live widgets on
        # a laptop CPU (benchmarks/README.md); the channels grow where the feature maps shrink, as in SD.
        return cls(block_out_channels=(16, 32, 64, 128), layers_per_block=1, latent_channels=4, norm_groups=8)

    @classmethod
    def f4c3(cls) -> "VAEConfig":
        return cls(block_out_channels=(16, 32, 64), layers_per_block=1, latent_channels=3, norm_groups=8)

    @classmethod
    def f16c16(cls) -> "VAEConfig":
        return cls(block_out_channels=(16, 32, 64, 128, 256), layers_per_block=1, latent_channels=16, norm_groups=8)

    @classmethod
    def tiny(cls) -> "VAEConfig":
        """For tests and the live-training demo: ~67 k parameters, f8c4 geometry."""
        return cls(block_out_channels=(8, 8, 16, 16), layers_per_block=1, latent_channels=4, norm_groups=4)

    @classmethod
    def preset(cls, name: str) -> "VAEConfig":
        presets = {"sd_v1": cls.sd_v1, "f8c4": cls.f8c4, "f4c3": cls.f4c3, "f16c16": cls.f16c16, "tiny": cls.tiny}
        if name not in presets:
            raise ValueError(f"unknown VAE preset {name!r}; known presets: {', '.join(presets)}")
        return presets[name]()


class DiagonalGaussian:
    """q(z|x) = N(mean, diag(exp(logvar))): what the encoder outputs for each latent position."""

    def __init__(self, moments: torch.Tensor):
        # moments: (B, 2c, h, w), the first c channels are the mean, the last c the log-variance.
        self.mean, logvar = moments.chunk(2, dim=1)  # each (B, c, h, w)
        # Clamp as LDM does: exp(±large) would overflow and the KL would be inf.
        self.logvar = logvar.clamp(-30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)
        self.var = torch.exp(self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """The reparameterisation trick (Kingma & Welling 2014): z = μ + σ·ε, ε ~ N(0, I).

        Randomness sits in ε, so gradients flow through μ and σ."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        """The most likely latent, μ: what to use when you want a deterministic encoding."""
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q(z|x) ‖ N(0, I)) per image, summed over latent values: 0.5 Σ (μ² + σ² − 1 − log σ²). (B,)"""
        return 0.5 * torch.sum(self.mean**2 + self.var - 1.0 - self.logvar, dim=(1, 2, 3))


class Encoder(nn.Module):
    """Image (B, 3, H, W) → moments (B, 2c, H/f, W/f)."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        channels, groups = config.block_out_channels, config.norm_groups
        self.conv_in = nn.Conv2d(config.in_channels, channels[0], kernel_size=3, padding=1)
        self.down = nn.ModuleList()
        c_in = channels[0]
        for level, c_out in enumerate(channels):
            stage = nn.Module()
            stage.resnets = nn.ModuleList()
            for _ in range(config.layers_per_block):
                stage.resnets.append(ResnetBlock(c_in, c_out, groups))
                c_in = c_out
            is_last = level == len(channels) - 1
            stage.downsample = None if is_last else Downsample(c_out)
            self.down.append(stage)
        self.mid = MidBlock(channels[-1], groups, config.mid_attention)
        self.norm_out = group_norm(channels[-1], groups)
        self.conv_out = nn.Conv2d(channels[-1], 2 * config.latent_channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        h = self.conv_in(x)  # (B, ch0, H, W)
        for stage in self.down:
            for resnet in stage.resnets:
                h = resnet(h)
            if stage.downsample is not None:
                h = stage.downsample(h)  # halves H and W
        h = self.mid(h)  # (B, ch_last, H/f, W/f)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, 2c, H/f, W/f)


class Decoder(nn.Module):
    """Latent (B, c, h, w) → image (B, 3, h·f, w·f); mirrors the encoder, one more ResnetBlock per level."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        channels, groups = config.block_out_channels, config.norm_groups
        self.conv_in = nn.Conv2d(config.latent_channels, channels[-1], kernel_size=3, padding=1)
        self.mid = MidBlock(channels[-1], groups, config.mid_attention)
        self.up = nn.ModuleList()
        c_in = channels[-1]
        reversed_channels = list(reversed(channels))
        for level, c_out in enumerate(reversed_channels):
            stage = nn.Module()
            stage.resnets = nn.ModuleList()
            for _ in range(config.layers_per_block + 1):
                stage.resnets.append(ResnetBlock(c_in, c_out, groups))
                c_in = c_out
            is_last = level == len(channels) - 1
            stage.upsample = None if is_last else Upsample(c_out)
            self.up.append(stage)
        self.norm_out = group_norm(channels[0], groups)
        self.conv_out = nn.Conv2d(channels[0], config.out_channels, kernel_size=3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        B, c, h, w = z.shape
        x = self.mid(self.conv_in(z))  # (B, ch_last, h, w)
        for stage in self.up:
            for resnet in stage.resnets:
                x = resnet(x)
            if stage.upsample is not None:
                x = stage.upsample(x)  # doubles H and W
        return self.conv_out(F.silu(self.norm_out(x)))  # (B, 3, h·f, w·f)


class MidBlock(nn.Module):
    """ResnetBlock → SelfAttention → ResnetBlock at the lowest resolution, where attention is cheap."""

    def __init__(self, channels: int, norm_groups: int, attention: bool):
        super().__init__()
        self.resnet1 = ResnetBlock(channels, channels, norm_groups)
        self.attn = SelfAttention(channels, norm_groups) if attention else None
        self.resnet2 = ResnetBlock(channels, channels, norm_groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.resnet1(x)
        if self.attn is not None:
            x = self.attn(x)
        return self.resnet2(x)


class AutoencoderKL(nn.Module):
    """The KL-regularised autoencoder of LDM: encode → DiagonalGaussian, decode → image.

    `encode`/`decode` work on the raw latent z. Diffusion works on the *scaled* latent (zero mean,
    unit variance), diffusers' convention:
        latent = (z − shift_factor) · scaling_factor          (`to_latent`)
        z      = latent / scaling_factor + shift_factor       (`from_latent`)
    with shift_factor = 0 for SD v1/v2 and the course's VAEs (LDM §4.3.2), non-zero for SD3/FLUX.
    Inputs of another floating dtype (NumPy's float64) are converted to the weights' dtype.
    """

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        c = config.latent_channels
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quant_conv = nn.Conv2d(2 * c, 2 * c, kernel_size=1) if config.use_quant_conv else None
        self.post_quant_conv = nn.Conv2d(c, c, kernel_size=1) if config.use_quant_conv else None
        # Convolution weights in channels-last layout: the convolutions then run on (B, H, W, C) data,
        # which oneDNN (CPU) and cuDNN handle faster (measured: benchmarks/README.md). Values are
        # unchanged (to ~1e-5); encode and decode hand back ordinary contiguous tensors.
        self.to(memory_format=torch.channels_last)

    @property
    def downsample_factor(self) -> int:
        return self.config.downsample_factor

    @property
    def scaling_factor(self) -> float:
        return self.config.scaling_factor

    def _as_input(self, x, what: str) -> torch.Tensor:
        """A floating tensor in the weights' dtype; anything else is refused with the fix."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            found = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
            raise TypeError(f"{what} must be a float tensor, got {found}; for a picture or an array use "
                            "latentlab.images.to_tensor")
        weight = self.encoder.conv_in.weight
        if x.device != weight.device:  # torch's own message names neither the tensor nor the fix
            raise ValueError(f"{what} is on {x.device} but this VAE is on {weight.device}; move one of them: "
                             f"x.to('{weight.device}') or vae.to('{x.device}')")
        return x.to(weight.dtype)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """x: (B, 3, H, W) in [-1, 1], H and W multiples of f → q(z|x) over (B, c, H/f, W/f)."""
        f = self.downsample_factor
        x = self._as_input(x, "the image")
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"encode expects images shaped (B, {self.config.in_channels}, H, W), got {tuple(x.shape)}; "
                "use latentlab.images.to_tensor to turn a picture into one"
            )
        B, C, H, W = x.shape
        if H % f or W % f or H == 0 or W == 0:
            raise ValueError(
                f"encode needs H and W to be positive multiples of f={f}, got {H}×{W}; "
                "latentlab.images.to_tensor(..., multiple=f) pads or crops for you"
            )
        if not torch.isfinite(x).all():  # else the latent is NaN with no word said
            bad = (~torch.isfinite(x)).sum().item()
            raise ValueError(f"the image holds {bad} NaN/inf value(s); an image is (B, 3, H, W) in [-1, 1]")
        moments = self.encoder(x)  # (B, 2c, H/f, W/f)
        if self.quant_conv is not None:
            moments = self.quant_conv(moments)
        return DiagonalGaussian(moments.contiguous())

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: raw latent (B, c, h, w) → image (B, 3, h·f, w·f), roughly in [-1, 1] (not clamped)."""
        c = self.config.latent_channels
        z = self._as_input(z, "the latent")
        if z.ndim != 4 or z.shape[1] != c or 0 in z.shape[2:]:
            raise ValueError(
                f"this decoder ({self.config.name}) expects latents shaped (B, {c}, h, w), got {tuple(z.shape)}"
            )
        if not torch.isfinite(z).all():
            bad = (~torch.isfinite(z)).sum().item()
            raise ValueError(f"the latent holds {bad} NaN/inf value(s); a decoder cannot make an image from them")
        if self.post_quant_conv is not None:
            z = self.post_quant_conv(z)
        return self.decoder(z).contiguous()

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Training pass: returns (reconstruction, posterior)."""
        posterior = self.encode(x)
        return self.decode(posterior.sample(generator)), posterior

    # The scaled latent: what the diffusion model sees (LDM §4.3.2; the shift as in SD3).
    def to_latent(self, x: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        """x (B, 3, H, W) → (z − shift_factor) · scaling_factor (B, c, H/f, W/f); z = μ unless `sample`."""
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample else posterior.mode()
        return (z - self.config.shift_factor) * self.config.scaling_factor

    def from_latent(self, latent: torch.Tensor) -> torch.Tensor:
        """The scaled latent (B, c, h, w) → image (B, 3, h·f, w·f): decode(latent / scaling_factor + shift_factor)."""
        return self.decode(latent / self.config.scaling_factor + self.config.shift_factor)


@torch.no_grad()
def compute_scaling_factor(vae: AutoencoderKL, batches) -> float:
    """1 / std of the latents over data (LDM §4.3.2, App. D.1: "rescale ... to unit variance").

    `batches` yields image tensors (B, 3, H, W) in [-1, 1]; latents are sampled from the
    posterior, as the diffusion model will see them in training.
    """
    total, total_sq, count = 0.0, 0.0, 0
    for x in batches:
        z = vae.encode(x).sample()
        total += z.double().sum().item()
        total_sq += (z.double() ** 2).sum().item()
        count += z.numel()
    if count == 0:
        raise ValueError("compute_scaling_factor got no data")
    mean = total / count
    std = (total_sq / count - mean**2) ** 0.5
    return 1.0 / std


__all__ = ["VAEConfig", "DiagonalGaussian", "Encoder", "Decoder", "AutoencoderKL", "compute_scaling_factor"]
