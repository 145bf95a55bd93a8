"""What a UNet step needs in memory, in pixel and in latent space: measured, and predicted by formula.

A GPU must hold two things during a denoising step:
  - the **weights**: the same in every space. The network does not know how big its input is;
    SD v1's UNet is 860 M parameters, 1.7 GB in fp16, whether it denoises pixels or latents;
  - the **activations**: the feature maps of the step. Convolutions' maps grow with the positions
    h·w, so they shrink f² times in latent space; a self-attention's map of weights, when it is
    materialised, is heads × (h·w)²: it shrinks f⁴ times.

    measure_unet_memory(model, side)   weights and the peak of the step's activations, measured
    predict_activation_bytes(config, side)   the same activations by formula, from the config alone
    sd_v1_budget(side=512, f=8)        Stable Diffusion v1's VRAM budget by formula (GB = 10⁹ bytes)

Measured: on CUDA the allocator's `max_memory_allocated`; elsewhere the peak of live tensor bytes
(`TensorMemoryMeter`), because a CPU has no allocator statistics.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from .unet import UNetConfig

GB = 1e9  # the budget is in GB of 10⁹ bytes, as parameter counts and "1.7 GB of weights" are quoted

# The working set of the block running at a level, in feature maps of that level (C_l × h_l × w_l),
# counted from what the course's UNet keeps alive (tests/test_memory.py holds the formula to the
# measured peak): a ResnetBlock of the up path has the concatenated input (2 maps), its norm, two
# convolution outputs and the skip projection alive at once; a transformer block adds q, k, v, the
# attention output and the MLP's 4×-wide hidden layer.
RESNET_WORKING_MAPS = 7
TRANSFORMER_WORKING_MAPS = 14


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


def weights_mb(model: torch.nn.Module) -> float:
    """MiB of the model's parameters and buffers: what the GPU holds whatever the input's size."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


@torch.no_grad()
def measure_unet_memory(model, side: int, batch: int = 1, device: torch.device | str = "cpu",
                        materialised_attention: bool = False) -> dict:
    """One UNet step on a (batch, C_in, side, side) input: {"weights_mb", "activations_mb", "kind"}.

    materialised_attention: run attention with PyTorch's plain "math" kernel, which forms every
    head's (h·w)² map of weights as SD v1's original code did; by default the fused kernel runs,
    which never holds the whole map (flash attention: its memory grows like h·w, not (h·w)²)."""
    device = torch.device(device)
    model = model.to(device).eval()
    config = model.config
    x = torch.randn(batch, config.in_channels, side, side, device=device)
    context = torch.randn(batch, 8, config.context_dim, device=device)
    kernel = sdpa_kernel(SDPBackend.MATH) if materialised_attention else nullcontext()
    with kernel, peak_memory(device) as memory:
        model(x, 500, context)
    return {"weights_mb": round(weights_mb(model), 2), "activations_mb": round(memory["mb"], 2),
            "kind": memory["kind"]}


def predict_activation_bytes(config: UNetConfig, side: int, batch: int = 1, bytes_per_value: int = 4,
                             materialised_attention: bool = False) -> dict:
    """The activation memory of one UNet step on a (batch, C_in, side, side) input, by formula.

    With C_l the width and N_l = (side / 2^l)² the positions of level l, and h heads:
        skips     = Σ over the down path's kept outputs of C_l·N_l          (the up path eats them last)
        working_l = (14 if level l has attention else 7) · C_l·N_l          (the block running now)
        attention_l = h · N_l²  when the map of weights is materialised, else 0
        peak      = batch · bytes_per_value · (skips + max_l (working_l + attention_l))
    The middle block runs at the last level, always with attention. Cross-attention's maps (N_l × a
    few text tokens) are left out: they are as small as one feature map.
    Returns {"skips", "working", "attention", "total"} in bytes, the last three at the peak's level."""
    widths, levels = config.block_channels, len(config.block_channels)
    if side % (1 << (levels - 1)):
        raise ValueError(f"side must halve {levels - 1} times for {levels} levels, got {side}")
    positions = [(side >> level) ** 2 for level in range(levels)]
    skips = widths[0] * positions[0]                                       # conv_in's output
    for level in range(levels):
        skips += config.layers_per_block * widths[level] * positions[level]
        if level < levels - 1:
            skips += widths[level] * positions[level + 1]                  # the downsampled map
    best = (0, 0, 0)
    for level in range(levels):
        attends = config.attention_levels[level] or level == levels - 1   # the middle block attends
        working = (TRANSFORMER_WORKING_MAPS if attends else RESNET_WORKING_MAPS) * widths[level] * positions[level]
        attention = config.heads * positions[level] ** 2 if attends and materialised_attention else 0
        best = max(best, (working + attention, working, attention))
    scale = batch * bytes_per_value
    return {"skips": scale * skips, "working": scale * best[1], "attention": scale * best[2],
            "total": scale * (skips + best[0])}


@dataclass(frozen=True)
class SDv1:
    """Stable Diffusion v1's parameter counts: the UNet and text encoder from the SD v1 model card
    ("an 860M UNet and 123M text encoder", CLIP ViT-L/14), counted exactly on diffusers' modules of
    runwayml/stable-diffusion-v1-5; the VAE (AutoencoderKL f8c4) likewise."""

    unet_params: int = 859_520_964
    text_encoder_params: int = 123_060_480
    vae_params: int = 83_653_863

    @staticmethod
    def unet_config() -> UNetConfig:
        """SD v1's UNet in latentlab's terms (LDM's config v1-inference.yaml): widths 320/640/1280/1280,
        two blocks per level, transformer blocks at the first three levels, 8 heads, CLIP's 768-wide text."""
        return UNetConfig(in_channels=4, out_channels=4, block_channels=(320, 640, 1280, 1280), layers_per_block=2,
                          attention_levels=(True, True, True, False), heads=8, context_dim=768, norm_groups=32,
                          sample_size=64)


def sd_v1_budget(side: int = 512, f: int = 8, batch: int = 2, bytes_per_value: int = 2,
                 materialised_attention: bool = True) -> dict:
    """Stable Diffusion v1's VRAM during sampling, in GB (10⁹ bytes), by formula:

        weights     = (UNet + text encoder + VAE parameters) · bytes_per_value   = (860 M + 123 M + 84 M) · 2 B
        activations = predict_activation_bytes(SD v1's UNet, side / f, batch, bytes_per_value)
        total       = weights + activations

    Assumptions (each a keyword): fp16 everywhere (bytes_per_value = 2); batch 2 because classifier-free
    guidance runs the prompt and the empty prompt together; attention's maps of weights materialised,
    every head at once, as the original CompVis code did (`materialised_attention=False`: flash or
    xformers attention, whose memory grows like h·w). f = 1 runs the *same* UNet on the pixels: what
    pixel space would cost with SD's architecture. Left out: the VAE decoder's activations (it runs
    after the loop, when the UNet's are freed) and the framework's own overhead (a few hundred MB).
    Returns {"weights", "unet_weights", "activations", "attention", "total"} in GB, and "latent_side"."""
    if side % f:
        raise ValueError(f"side must be a multiple of f: {side} px is not a whole number of {f}-pixel cells")
    counts = SDv1()
    config = SDv1.unet_config()
    if f == 1:
        config = replace(config, in_channels=3, out_channels=3)
    activations = predict_activation_bytes(config, side // f, batch, bytes_per_value, materialised_attention)
    weights = (counts.unet_params + counts.text_encoder_params + counts.vae_params) * bytes_per_value
    return {"latent_side": side // f, "unet_weights": counts.unet_params * bytes_per_value / GB,
            "weights": weights / GB, "activations": activations["total"] / GB,
            "attention": activations["attention"] / GB, "total": (weights + activations["total"]) / GB}


def largest_side_within(budget_gb: float, f: int, step: int = 64, **assumptions) -> int:
    """The largest picture side (a multiple of `step`, which f·8 must divide: SD v1 halves the latent
    three times) whose `sd_v1_budget` fits in `budget_gb`; 0 if none does."""
    side = 0
    while sd_v1_budget(side + step, f, **assumptions)["total"] <= budget_gb and side < 2**16:
        side += step
    return side


__all__ = ["GB", "SDv1", "TensorMemoryMeter", "largest_side_within", "measure_unet_memory", "peak_memory",
           "predict_activation_bytes", "sd_v1_budget", "weights_mb"]
