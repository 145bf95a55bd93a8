"""Is latentlab's from-scratch code as fast as the library people would pick instead?

    latentlab bench vs-diffusers --json
      →  {"ratios": {"vae_decode_256": …, "vae_encode_256": …, "unet_forward": …}, "ms": …, "max_abs_difference": …}

The same VAE (the shipped vae-f8c4's config, diffusers' `AutoencoderKL` with random weights
imported into latentlab through `checkpoints.load_diffusers_vae`, so the two hold identical
weights and agree to 1e-4) is timed in both, in interleaved runs; a ratio is latentlab's median
time over diffusers'. Below 1 means latentlab is faster.

The UNet (the shipped ldm-shapes config) is timed the same way against diffusers'
`UNet2DConditionModel` built to match it block for block: cross-attention blocks where latentlab
has attention, the LDM downsampling padding (`downsample_padding=0`), GroupNorm ε = 1e-6, and one
substitution: diffusers' default GEGLU feed-forward is swapped for its own GELU `FeedForward`, the
MLP latentlab's TransformerBlock2D has. Its random weights go into latentlab through
`checkpoints.load_diffusers_unet`; both give the same ε̂ (checked before timing, tested to 1e-4).
"""

from __future__ import annotations

import torch

from .bench import interleaved_medians
from .checkpoints import load_diffusers_unet, load_diffusers_vae
from .device import describe_device
from .unet import UNetConfig
from .vae import VAEConfig

LIBRARIES = ("latentlab", "diffusers")


def diffusers_twin(config: VAEConfig, seed: int = 0):
    """(diffusers AutoencoderKL, latentlab AutoencoderKL) with the same config and weights."""
    diffusers = _import_diffusers()
    torch.manual_seed(seed)
    n = len(config.block_out_channels)
    theirs = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=config.block_out_channels,
        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
        layers_per_block=config.layers_per_block, latent_channels=config.latent_channels,
        norm_num_groups=config.norm_groups, sample_size=256,
    ).eval()
    with torch.no_grad():  # GroupNorm starts at 1/0: perturb everything so no path is trivial
        for p in theirs.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ours = load_diffusers_vae(theirs.state_dict(), config=config).eval()
    return theirs, ours


def _import_diffusers():
    """diffusers, imported on demand: it is an optional extra, and costs seconds to import."""
    try:
        import diffusers
    except ImportError as err:
        raise RuntimeError("this benchmark needs diffusers: pip install -e '.[ref]'") from err
    return diffusers


def diffusers_unet_twin(config: UNetConfig, seed: int = 0):
    """(diffusers UNet2DConditionModel, latentlab UNet) with the same architecture and weights."""
    diffusers = _import_diffusers()
    from diffusers.models.attention import FeedForward  # the optional extra, as above

    torch.manual_seed(seed)
    kinds = [("CrossAttn{}Block2D" if attention else "{}Block2D") for attention in config.attention_levels]
    theirs = diffusers.UNet2DConditionModel(
        sample_size=config.sample_size, in_channels=config.in_channels, out_channels=config.out_channels,
        down_block_types=tuple(k.format("Down") for k in kinds),
        up_block_types=tuple(k.format("Up") for k in reversed(kinds)),
        block_out_channels=config.block_channels, layers_per_block=config.layers_per_block,
        downsample_padding=0, norm_num_groups=config.norm_groups, norm_eps=1e-6,
        cross_attention_dim=config.context_dim, attention_head_dim=config.heads,  # diffusers' legacy name: heads
    )
    for module in theirs.modules():  # GEGLU → the GELU MLP latentlab's TransformerBlock2D has
        if isinstance(module, diffusers.models.attention.BasicTransformerBlock):
            module.ff = FeedForward(module.norm3.normalized_shape[0], activation_fn="gelu")
    theirs.eval()
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ours = load_diffusers_unet(theirs.state_dict(), config)
    return theirs, ours


@torch.no_grad()
def bench_vs_diffusers(size: int = 256, repeats: int = 20, warmup: int = 2, preset: str = "f8c4",
                       threads: int | None = None) -> dict:
    """Median time ratios latentlab / diffusers: VAE encode and decode at `size` px, and one UNet
    forward of the ldm-shapes config with classifier-free guidance's batch of two (16×16 latents)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats ≥ 1 and warmup ≥ 0, got {repeats} and {warmup}")
    if size < 8 or size % 8:
        raise ValueError(f"size must be a positive multiple of 8 (the VAE's f), got {size}")
    if threads is not None:
        torch.set_num_threads(threads)
    config = VAEConfig.preset(preset)
    theirs, ours = diffusers_twin(config)
    unet_config = UNetConfig.shapes()
    theirs_unet, ours_unet = diffusers_unet_twin(unet_config)
    f = ours.downsample_factor
    x = torch.rand(1, 3, size, size) * 2 - 1
    z = torch.randn(1, config.latent_channels, size // f, size // f)
    side = unet_config.sample_size
    zt = torch.randn(2, unet_config.in_channels, side, side)
    t = torch.tensor([500, 500])
    context = torch.randn(2, 24, unet_config.context_dim)  # the TextEncoder's 24 tokens
    runs = {
        f"vae_decode_{size}": (lambda: ours.decode(z), lambda: theirs.decode(z).sample),
        f"vae_encode_{size}": (lambda: ours.encode(x).mean, lambda: theirs.encode(x).latent_dist.mean),
        "unet_forward": (lambda: ours_unet(zt, t, context), lambda: theirs_unet(zt, t, context).sample),
    }
    # The same answer first: a ratio between two different computations would mean nothing.
    max_diff = {name: (mine() - reference()).abs().max().item() for name, (mine, reference) in runs.items()}
    # Side by side, the order reversed every other repeat: a warm cache or a primed allocator
    # favours neither library.
    ms = interleaved_medians({(name, who): fn for name, pair in runs.items() for who, fn in zip(LIBRARIES, pair)},
                             repeats=repeats, warmup=warmup)
    return {
        "ratios": {name: round(ms[name, "latentlab"] / ms[name, "diffusers"], 3) for name in runs},
        "ms": {name: {who: round(ms[name, who], 2) for who in LIBRARIES} for name in runs},
        "max_abs_difference": max_diff, "config": {"vae": preset, "unet": "ldm-shapes",
                                                   "unet_input": [2, unet_config.in_channels, side, side]},
        "repeats": repeats, "device": describe_device(torch.device("cpu")), "threads": torch.get_num_threads(),
        "diffusers_version": _import_diffusers().__version__,
    }


__all__ = ["bench_vs_diffusers", "diffusers_twin", "diffusers_unet_twin"]
