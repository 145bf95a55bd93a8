"""Is latentlab's from-scratch code as fast as the library people would pick instead?

    latentlab bench vs-diffusers --json   →  {"ratios": {"vae_decode_256": …, "vae_encode_256": …}, …}

The same VAE (the shipped vae-f8c4's config, diffusers' `AutoencoderKL` with random weights
imported into latentlab through `checkpoints.load_diffusers_vae`, so the two hold identical
weights and agree to 1e-4) is timed in both, in interleaved runs; a ratio is latentlab's median
time over diffusers'. Below 1 means latentlab is faster.

The UNet has no diffusers twin: diffusers' `UNet2DConditionModel` differs block for block
(GEGLU feed-forward, a different transformer block layout), so no weights map one onto the other;
the report says so rather than timing two different networks.
"""

from __future__ import annotations

import statistics
import time

import torch

from .vae import VAEConfig


def diffusers_twin(config: VAEConfig, seed: int = 0):
    """(diffusers AutoencoderKL, latentlab AutoencoderKL) with the same config and weights."""
    try:
        import diffusers
    except ImportError as err:
        raise RuntimeError("this benchmark needs diffusers: pip install -e '.[ref]'") from err
    from .checkpoints import load_diffusers_vae

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


@torch.no_grad()
def bench_vs_diffusers(size: int = 256, repeats: int = 20, warmup: int = 2, preset: str = "f8c4",
                       threads: int | None = None) -> dict:
    """Median time ratios latentlab / diffusers for VAE encode and decode at `size` px."""
    from .device import describe_device

    if threads is not None:
        torch.set_num_threads(threads)
    config = VAEConfig.preset(preset)
    theirs, ours = diffusers_twin(config)
    f = ours.downsample_factor
    x = torch.rand(1, 3, size, size) * 2 - 1
    z = torch.randn(1, config.latent_channels, size // f, size // f)
    # The same answer first: a ratio between two different computations would mean nothing.
    max_diff = (ours.decode(z) - theirs.decode(z).sample).abs().max().item()
    runs = {
        "vae_decode": (lambda: ours.decode(z), lambda: theirs.decode(z).sample),
        "vae_encode": (lambda: ours.encode(x).mean, lambda: theirs.encode(x).latent_dist.mean),
    }
    times = {name: ([], []) for name in runs}
    for i in range(warmup + repeats):
        for name, (mine, reference) in runs.items():
            pair = [(mine, times[name][0]), (reference, times[name][1])]
            # Alternate who goes first: the second run of a pair can find warm caches and a primed allocator.
            for fn, bucket in (pair if i % 2 == 0 else pair[::-1]):
                start = time.perf_counter()
                fn()
                if i >= warmup:
                    bucket.append(time.perf_counter() - start)
    medians = {name: (statistics.median(a), statistics.median(b)) for name, (a, b) in times.items()}
    return {
        "ratios": {f"{name}_{size}": round(a / b, 3) for name, (a, b) in medians.items()},
        "ms": {f"{name}_{size}": {"latentlab": round(1000 * a, 2), "diffusers": round(1000 * b, 2)}
               for name, (a, b) in medians.items()},
        "unet_forward": None,
        "notes": {"unet_forward": "no diffusers UNet matches latentlab's block for block; not timed"},
        "max_abs_difference": max_diff, "config": preset, "repeats": repeats,
        "device": describe_device(torch.device("cpu")), "threads": torch.get_num_threads(),
    }


__all__ = ["bench_vs_diffusers", "diffusers_twin"]
