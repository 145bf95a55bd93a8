"""A text-to-image latent diffusion model: the UNet and the text encoder, and what ties them together.

    LatentDiffusion
      ├─ text_encoder: prompt → context (B, L, D)                    (latentlab.text)
      ├─ unet:         (z_t, t, context) → ε̂                         (latentlab.unet)
      ├─ schedule:     the noise schedule it was trained with        (latentlab.schedules), or,
      │                for a flow model (SD3/FLUX's rectified flow), a FlowSchedule  (latentlab.flow)
      └─ config.vae:   the name of the VAE whose latent space it lives in (the VAE is separate:
                       like Stable Diffusion, the model never sees a pixel)

The model is a plain callable `model(x_t, t, context)`, so `latentlab.pipeline.sample` runs it
with any sampler.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .flow import FlowSchedule
from .schedules import NoiseSchedule
from .text import TextConfig, TextEncoder
from .unet import UNet, UNetConfig


@dataclass
class LDMConfig:
    unet: UNetConfig = field(default_factory=UNetConfig.shapes)
    text: TextConfig = field(default_factory=TextConfig)
    schedule: str = "scaled_linear"   # Stable Diffusion v1's β schedule (LDM's "linear" in √β), or "flow"
    num_train_timesteps: int = 1000
    prediction_type: str = "epsilon"  # the UNet predicts the noise ε, as SD v1 does ("velocity" for flow)
    flow_shift: float = 1.0           # a flow model's sampling shift (SD3 §5.3.2); 1 = none
    # The VAE it encodes and decodes with: vae-f8c4-shapes is vae-f8c4 (same encoder, same latents)
    # with its decoder fine-tuned to draw flat shapes cleanly.
    vae: str = "vae-f8c4-shapes"
    image_size: int = 128             # pixels; 128 / 8 = 16×16 latents

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def __post_init__(self):
        flow = self.schedule == "flow"
        if flow != (self.prediction_type == "velocity"):
            raise ValueError(f"a flow model predicts the velocity and a velocity model is a flow model: got "
                             f"schedule={self.schedule!r} with prediction_type={self.prediction_type!r} "
                             f"(use schedule='flow' with prediction_type='velocity', or neither)")

    @property
    def is_flow(self) -> bool:
        """True for a rectified-flow model (SD3/FLUX's objective), False for a DDPM one (SD 1.x's)."""
        return self.schedule == "flow"

    @classmethod
    def flow(cls, **kwargs) -> LDMConfig:
        """The same network, trained with the rectified-flow objective: it predicts u = ε − x0."""
        return cls(schedule="flow", prediction_type="velocity", **kwargs)

    @classmethod
    def tiny(cls) -> LDMConfig:
        """For tests: a small UNet and a one-layer text encoder of width 32."""
        return cls(unet=UNetConfig.tiny(), text=TextConfig(width=32, layers=1, heads=2))


class LatentDiffusion(nn.Module):
    """UNet + text encoder + schedule. Call it like the UNet: model(x_t, t, context) → ε̂."""

    def __init__(self, config: LDMConfig):
        super().__init__()
        if config.unet.context_dim != config.text.width:
            raise ValueError(f"the UNet reads context of width {config.unet.context_dim} but the text encoder "
                             f"writes {config.text.width}")
        self.config = config
        self.unet = UNet(config.unet)
        self.text_encoder = TextEncoder(config.text)
        self.schedule = (FlowSchedule(config.num_train_timesteps, config.flow_shift) if config.is_flow
                         else NoiseSchedule.from_name(config.schedule, config.num_train_timesteps))

    @property
    def tokenizer(self):
        return self.text_encoder.tokenizer

    @property
    def device(self) -> torch.device:
        return self.unet.conv_in.weight.device

    def forward(self, x_t: torch.Tensor, t, context: torch.Tensor) -> torch.Tensor:
        return self.unet(x_t, t, context)

    def encode_prompt(self, prompts: str | list[str]) -> torch.Tensor:
        """Prompt(s) → (B, L, D) context. '' is the unconditional prompt of classifier-free guidance."""
        return self.text_encoder.encode(prompts)


def check_latent_space(model: LatentDiffusion, vae, vae_name: str = "the VAE") -> None:
    """Raise a ValueError when `model` cannot denoise in `vae`'s latent space: the VAE must write as
    many channels as the UNet reads, and the model's image size must be a multiple of the VAE's f.

    The one place this is checked (widgets, pipeline helpers and the CLI call it)."""
    c, f, size = vae.config.latent_channels, vae.downsample_factor, model.config.image_size
    if c != model.config.unet.in_channels:
        raise ValueError(f"{vae_name} makes {c}-channel latents ({c} latent channels) but the model's UNet reads "
                         f"{model.config.unet.in_channels} channels: use the VAE it was trained with "
                         f"({model.config.vae})")
    if size % f:
        raise ValueError(f"the model's image size {size} px is not a multiple of the VAE's factor f={f}: "
                         f"use the VAE it was trained with ({model.config.vae})")


__all__ = ["LDMConfig", "LatentDiffusion", "check_latent_space"]
