"""Why latent space? The same UNet in pixel space and in three latent spaces, measured side by side.

    latentlab bench why-latent --json

Stable Diffusion's reason for the latent space (LDM §1, §3): a 512×512×3 picture is 786 432 values,
its f8c4 latent 16 384; every convolution costs in proportion to the positions, and every
self-attention in proportion to their *square*. So the UNet step should be ≥ 48× cheaper in f8c4
than in pixels, and far more than that where attention dominates. Here we measure it: forward time
(median of interleaved runs, so a busy machine slows every space alike), FLOPs counted by
`torch.utils.flop_counter`, peak memory (CUDA max allocated, or the peak of live tensor bytes
elsewhere), and the time of one 20-step picture including the VAE decode.

Every space uses `UNetConfig.shapes()` (ldm-shapes' recipe) with in/out channels set to the
space's channels, and random weights: speed does not depend on what the weights learned.
"""

from __future__ import annotations

import time
import weakref
from contextlib import contextmanager

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from .bench import interleaved_medians
from .device import describe_device
from .pipeline import decode, make_generator, sample
from .samplers import make_sampler
from .spaces import SPACES, check_spaces
from .unet import UNet, UNetConfig
from .vae import AutoencoderKL, VAEConfig


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


def unet_for(space: str) -> UNet:
    """ldm-shapes' UNet recipe with the space's channels in and out, random weights, eval mode."""
    c = SPACES[space].c
    config = UNetConfig.shapes()
    config.in_channels = config.out_channels = c
    return UNet(config).eval()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class TensorMemoryMeter(TorchDispatchMode):
    """Counts the bytes of the tensors that operations create inside the block, live at once, and
    keeps the peak: the activation memory of a forward pass, on any device.

    A CPU has no allocator statistics like CUDA's, and the process's resident memory moves in pages
    the allocator keeps, so a small step reads as 0 MB. Here every new storage an operation returns
    is added when it appears and subtracted when its tensor is freed (views share their base's storage
    and are not counted twice)."""

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0
        self.storages: dict[int, int] = {}

    def _free(self, key: int) -> None:
        self.live -= self.storages.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            key, size = storage.data_ptr(), storage.nbytes()
            if size == 0 or key in self.storages:
                continue
            self.storages[key] = size
            self.live += size
            self.peak = max(self.peak, self.live)
            weakref.finalize(tensor, self._free, key)
        return out


@contextmanager
def peak_memory(device: torch.device):
    """Yields a dict whose 'mb' is filled with the peak memory used inside the block and 'kind' with
    what was measured: on CUDA the allocator's max allocated above what was allocated before (the
    VRAM a step needs); elsewhere the peak of live tensor bytes (`TensorMemoryMeter`)."""
    result = {"mb": None, "kind": None}
    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield result
        torch.cuda.synchronize()
        result["mb"] = (torch.cuda.max_memory_allocated(device) - before) / 2**20
        result["kind"] = "cuda max allocated"
        return
    with TensorMemoryMeter() as meter:
        yield result
    result["mb"] = meter.peak / 2**20
    result["kind"] = "peak live tensors"


def default_sizes(device: torch.device | str) -> list[int]:
    """Picture sides to measure: 256 px, and 512 px too on a CUDA GPU (on a CPU, pixel space at
    512 px takes minutes per forward)."""
    return [256, 512] if torch.device(device).type == "cuda" else [256]


@torch.no_grad()
def bench_why_latent(size: int = 256, repeats: int = 3, steps: int = 20, spaces: list[str] | None = None,
                     device: torch.device | str | None = None, threads: int | None = None,
                     progress: bool = False) -> dict:
    """Measure the UNet step in every space at `size` px (see the module docstring).

    Returns {"rows": [{"space", "latent_shape", "values", "ms", "gflops", "peak_mb", "end_to_end_s"}],
             "speedup": {space: pixel ms / space ms}, "flop_ratio": {…}, "end_to_end_speedup": {…},
             "device", "threads", "size", "repeats"}.
    The pixel space's 20-step time is `steps` × its measured step (it has no decoder, and running
    it 20 times would take minutes on a CPU); the latent spaces' are measured whole."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    spaces = list(check_spaces(spaces or SPACES))
    if size % 64 or size < 64:
        raise ValueError(f"size must be a positive multiple of 64 (f16 latents need 4 levels of halving), got {size}")
    if repeats < 1 or steps < 1:
        raise ValueError(f"repeats and steps must be at least 1, got {repeats} and {steps}")
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    models, inputs, rows = {}, {}, {}
    context = torch.randn(1, 24, UNetConfig.shapes().context_dim, device=device)
    for space in spaces:
        f, c, _ = SPACES[space]
        models[space] = unet_for(space).to(device)
        inputs[space] = torch.randn(1, c, size // f, size // f, device=device)
        with flop_counter() as counter:
            models[space](inputs[space], 500, context)
        with peak_memory(device) as memory:
            models[space](inputs[space], 500, context)
        rows[space] = {"space": space, "latent_shape": list(inputs[space].shape[1:]),
                       "values": inputs[space].numel(), "gflops": round(counter.get_total_flops() / 1e9, 3),
                       "peak_mb": None if memory["mb"] is None else round(memory["mb"], 1),
                       "memory_kind": memory["kind"]}

    def step(space: str):  # one forward, finished on the device before the clock stops
        models[space](inputs[space], 500, context)
        _sync(device)

    # Interleaved: every repeat times each space once, so drifting load hits all spaces alike. The
    # FLOP and memory passes above were the warm-up.
    medians = interleaved_medians({space: lambda space=space: step(space) for space in spaces}, repeats, warmup=0)
    for space in spaces:
        row = rows[space]
        row["ms"] = round(medians[space], 2)
        preset = SPACES[space].vae
        if preset is None:
            row["end_to_end_s"] = round(steps * row["ms"] / 1000, 3)
            row["end_to_end_note"] = f"{steps} × the measured step (no decoder in pixel space)"
            continue
        vae = AutoencoderKL(VAEConfig.preset(preset)).to(device).eval()
        sampler = make_sampler("ddim")
        _sync(device)
        start = time.perf_counter()
        trajectory = sample(lambda x, t, ctx, m=models[space]: m(x, t, ctx), sampler,
                            initial_latent=torch.zeros_like(inputs[space]), steps=steps, context=context,
                            generator=make_generator(0), device=device)
        decode(vae, trajectory.sample)
        _sync(device)
        row["end_to_end_s"] = round(time.perf_counter() - start, 3)
    ordered = [rows[s] for s in spaces]
    result = {"rows": ordered, "size": size, "repeats": repeats, "steps": steps,
              "device": describe_device(device), "threads": torch.get_num_threads()}
    if "pixel" in rows:
        pixel = rows["pixel"]
        result["speedup"] = {s: round(pixel["ms"] / rows[s]["ms"], 1) for s in spaces if s != "pixel"}
        result["flop_ratio"] = {s: round(pixel["gflops"] / rows[s]["gflops"], 1) for s in spaces if s != "pixel"}
        result["end_to_end_speedup"] = {s: round(pixel["end_to_end_s"] / rows[s]["end_to_end_s"], 1)
                                        for s in spaces if s != "pixel"}
    return result


__all__ = ["SPACES", "TensorMemoryMeter", "bench_why_latent", "default_sizes", "flop_counter", "peak_memory", "unet_for"]
