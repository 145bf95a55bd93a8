"""Why latent space? The same UNet in pixel space and in three latent spaces, measured side by side.

    latentlab bench why-latent --json

Stable Diffusion's reason for the latent space (LDM §1, §3): a 512×512×3 picture is 786 432 values,
its f8c4 latent 16 384; every convolution costs in proportion to the positions, and every
self-attention in proportion to their *square*. So the UNet step should be ≥ 48× cheaper in f8c4
than in pixels, and far more than that where attention dominates. Here we measure it: forward time
(median of interleaved runs, so a busy machine slows every space alike), FLOPs counted by
`torch.utils.flop_counter`, peak memory (CUDA max allocated, or the peak of live tensor bytes
elsewhere), and the time of one 20-step picture including the VAE decode.

Every latent space uses `UNetConfig.shapes()` (ldm-shapes' recipe) with in/out channels set to the
space's channels, and random weights: speed does not depend on what the weights learned. Pixel
space gets two models, each its own row:
  - "pixel": the same recipe, so self-attention runs at every level, even over all 65 536
    positions of a 256 px picture. No pixel-space model is built like that (it is what the latent
    model would cost if run on pixels), and its ratio is the largest;
  - "pixel-fair": built as DDPM (Ho et al. 2020, App. B) and ADM (Dhariwal & Nichol 2021, §3)
    build pixel models: self-attention only at resolutions ≤ 32×32 and levels halving the picture
    down to 8×8. The same widths as the recipe at the same levels; the added low levels take the
    last width. This is the baseline to quote: the latent model must beat a sensibly built pixel model.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from .bench import interleaved_medians
from .device import describe_device
from .memory import TensorMemoryMeter, peak_memory, weights_mb
from .pipeline import decode, make_generator, sample
from .samplers import make_sampler
from .spaces import SPACES, Space
from .unet import UNet, UNetConfig
from .vae import AutoencoderKL, VAEConfig

# The rows of the benchmark: both pixel models, then the latent spaces.
PIXEL_MODELS = {
    "pixel": "the latent spaces' recipe run on pixels: self-attention at every level",
    "pixel-fair": "DDPM/ADM-style: self-attention only at ≤ 32×32, levels down to 8×8",
}
MODELS = ("pixel", "pixel-fair", *(s for s in SPACES if s != "pixel"))
ATTENTION_MAX_SIDE = 32   # ADM attends at 32, 16 and 8; DDPM at 16 (Dhariwal & Nichol 2021, Tab. 1)
BOTTLENECK_SIDE = 8       # both halve a 256 px picture down to 8×8 (channel_mult of six levels)


def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _sdpa_cpu_backward_flops(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None,
                             **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def flop_counter() -> FlopCounterMode:
    """torch's FLOP counter, taught the CPU kernel of `scaled_dot_product_attention`.

    torch counts the GPU attention kernels but not `_scaled_dot_product_flash_attention_for_cpu`
    (torch 2.13): on a CPU the attention, the one cost that grows with the square of the positions,
    would count as zero. We give that kernel the same formula as its GPU twins (QKᵀ and AV, twice as
    many multiply-adds backward)."""
    mapping = {}
    for name, formula in (("_scaled_dot_product_flash_attention_for_cpu", _sdpa_cpu_flops),
                          ("_scaled_dot_product_flash_attention_for_cpu_backward", _sdpa_cpu_backward_flops)):
        op = getattr(torch.ops.aten, name, None)
        if op is not None:
            mapping[op] = formula
    return FlopCounterMode(display=False, custom_mapping=mapping)


def fair_pixel_config(recipe: UNetConfig, size: int, attention_max: int = ATTENTION_MAX_SIDE,
                      bottleneck: int = BOTTLENECK_SIDE) -> UNetConfig:
    """A pixel-space UNet for `size` px pictures built as DDPM and ADM build theirs: the recipe's
    levels and widths, more levels (of the last width) until the feature map is `bottleneck` wide,
    and self-attention only at levels whose side is ≤ `attention_max` (the middle block sits at the
    bottleneck). For ldm-shapes' recipe at 256 px: widths 64/128/128/128/128/128 at 256…8 px,
    attention at 32, 16 and 8."""
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    widths = list(recipe.block_channels)
    side = size >> (len(widths) - 1)
    if side << (len(widths) - 1) != size:
        raise ValueError(f"size must halve {len(widths) - 1} times for the recipe's levels, got {size}")
    while side > bottleneck and side % 2 == 0:
        widths.append(widths[-1])
        side //= 2
    attention = tuple((size >> level) <= attention_max for level in range(len(widths)))
    return replace(recipe, in_channels=3, out_channels=3, block_channels=tuple(widths), attention_levels=attention,
                   sample_size=size)


def model_space(model: str) -> Space:
    """The (f, c, vae) of a benchmark row: both pixel models live in pixel space."""
    if model not in MODELS:
        raise ValueError(f"unknown space {model!r}: spaces must be some of {', '.join(MODELS)}")
    return SPACES["pixel" if model in PIXEL_MODELS else model]


def unet_for(space: str, size: int = 256) -> UNet:
    """The UNet of a benchmark row, random weights, eval mode: ldm-shapes' recipe with the space's
    channels in and out; for "pixel-fair" the DDPM/ADM-style pixel model for `size` px pictures."""
    c = model_space(space).c
    config = replace(UNetConfig.shapes(), in_channels=c, out_channels=c)
    if space == "pixel-fair":
        config = fair_pixel_config(config, size)
    return UNet(config).eval()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def load_average() -> float | None:
    """The 1-minute load average (runnable processes, averaged), None where the system has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def cpu_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def machine_load(before: float | None, after: float | None, own_threads: int) -> dict:
    """Was the machine busy with other work? Busy when the 1-minute load average was above the core
    count before the benchmark, or at its end once its own threads are taken off (a shared classroom
    server, a training in the background). Then time ratios measure the contention as much as the
    models, and the counted FLOP ratios are the figures to trust."""
    cores = cpu_cores()
    others = [load for load in (before, None if after is None else after - own_threads) if load is not None]
    busy = bool(others) and max(others) > cores
    note = (f"the machine was busy (1-minute load {max(others):.1f} above its {cores} cores): time ratios are "
            "unreliable; trust the FLOP ratios" if busy else None)
    return {"load_before": before, "load_after": after, "cores": cores, "busy": busy, "note": note}


def default_sizes(device: torch.device | str) -> list[int]:
    """Picture sides to measure: 256 px, and 512 px too on a CUDA GPU (on a CPU, pixel space at
    512 px takes minutes per forward)."""
    return [256, 512] if torch.device(device).type == "cuda" else [256]


def _count_and_weigh(models: dict[str, UNet], inputs: dict, context: torch.Tensor, device: torch.device) -> dict:
    """Each row's counted FLOPs, weights and peak activation memory; also the timing's warm-up."""
    rows = {}
    for space, model in models.items():
        with flop_counter() as counter:
            model(inputs[space], 500, context)
        with peak_memory(device) as memory:
            model(inputs[space], 500, context)
        rows[space] = {"space": space, "model": PIXEL_MODELS.get(space, "ldm-shapes' recipe in this latent space"),
                       "latent_shape": list(inputs[space].shape[1:]), "values": inputs[space].numel(),
                       "gflops": round(counter.get_total_flops() / 1e9, 3), "weights_mb": round(weights_mb(model), 1),
                       "peak_mb": None if memory["mb"] is None else round(memory["mb"], 1),
                       "memory_kind": memory["kind"]}
    return rows


def _picture_seconds(space: str, model: UNet, x: torch.Tensor, context: torch.Tensor, steps: int,
                     device: torch.device) -> float:
    """One whole picture in a latent space: `steps` DDIM steps from zeros, then the VAE decode."""
    vae = AutoencoderKL(VAEConfig.preset(SPACES[space].vae)).to(device).eval()
    _sync(device)
    start = time.perf_counter()
    trajectory = sample(lambda z, t, ctx: model(z, t, ctx), make_sampler("ddim"), initial_latent=torch.zeros_like(x),
                        steps=steps, context=context, generator=make_generator(0), device=device)
    decode(vae, trajectory.sample)
    _sync(device)
    return time.perf_counter() - start


def _ratios(rows: dict, baseline: str) -> dict:
    """{name: {latent space: baseline's figure / the space's}} for step time, FLOPs and one picture."""
    base, latents = rows[baseline], [s for s in rows if s not in PIXEL_MODELS]
    return {key: {s: round(base[field] / rows[s][field], 1) for s in latents}
            for key, field in (("speedup", "ms"), ("flop_ratio", "gflops"), ("end_to_end_speedup", "end_to_end_s"))}


@torch.no_grad()
def bench_why_latent(size: int = 256, repeats: int = 3, steps: int = 20, spaces: list[str] | None = None,
                     device: torch.device | str | None = None, threads: int | None = None,
                     progress: bool = False) -> dict:
    """Measure the UNet step of every row of `spaces` (default `MODELS`) at `size` px.

    Returns {"rows": [{"space", "model", "latent_shape", "values", "ms", "gflops", "weights_mb", "peak_mb",
                       "end_to_end_s"}],
             "speedup", "flop_ratio", "end_to_end_speedup": {latent space: "pixel" / space},
             "speedup_vs_fair_pixel", "flop_ratio_vs_fair_pixel", "end_to_end_speedup_vs_fair_pixel":
                 {latent space: "pixel-fair" / space},
             "load": `machine_load(...)` (busy → time ratios unreliable), "device", "threads", "size", "repeats"}.
    A pixel model's 20-step time is `steps` × its measured step (it has no decoder, and running it
    20 times would take minutes on a CPU); the latent spaces' are measured whole."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    spaces = list(spaces or MODELS)
    for space in spaces:
        model_space(space)
    if size % 64 or size < 64:
        raise ValueError(f"size must be a positive multiple of 64 (f16 latents need 4 levels of halving), got {size}")
    if repeats < 1 or steps < 1:
        raise ValueError(f"repeats and steps must be at least 1, got {repeats} and {steps}")
    if threads is not None:
        torch.set_num_threads(threads)
    load_before = load_average()
    torch.manual_seed(0)
    context = torch.randn(1, 24, UNetConfig.shapes().context_dim, device=device)
    models = {space: unet_for(space, size).to(device) for space in spaces}
    inputs = {space: torch.randn(1, model_space(space).c, size // model_space(space).f, size // model_space(space).f,
                                 device=device) for space in spaces}
    rows = _count_and_weigh(models, inputs, context, device)

    def step(space: str):  # one forward, finished on the device before the clock stops
        models[space](inputs[space], 500, context)
        _sync(device)

    # Interleaved: every repeat times each space once, so drifting load hits all spaces alike. The
    # FLOP and memory passes were the warm-up.
    medians = interleaved_medians({space: lambda space=space: step(space) for space in spaces}, repeats, warmup=0)
    for space in spaces:
        row = rows[space]
        row["ms"] = round(medians[space], 2)
        if space in PIXEL_MODELS:
            row["end_to_end_s"] = round(steps * row["ms"] / 1000, 3)
            row["end_to_end_note"] = f"{steps} × the measured step (no decoder in pixel space)"
        else:
            row["end_to_end_s"] = round(_picture_seconds(space, models[space], inputs[space], context, steps, device), 3)
    result = {"rows": [rows[s] for s in spaces], "size": size, "repeats": repeats, "steps": steps,
              "device": describe_device(device), "threads": torch.get_num_threads()}
    if "pixel" in rows:
        result.update(_ratios(rows, "pixel"))
    if "pixel-fair" in rows:
        result.update({f"{key}_vs_fair_pixel": value for key, value in _ratios(rows, "pixel-fair").items()})
    result["load"] = machine_load(load_before, load_average(), torch.get_num_threads())
    if result["load"]["busy"]:
        print(f"latentlab bench why-latent: {result['load']['note']}", file=sys.stderr)
    return result


__all__ = ["MODELS", "PIXEL_MODELS", "SPACES", "TensorMemoryMeter", "bench_why_latent", "default_sizes",
           "fair_pixel_config", "flop_counter", "load_average", "machine_load", "model_space", "peak_memory",
           "unet_for"]
