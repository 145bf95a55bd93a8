"""Where tensors live: device choice, seeding and dtype.

`pick_device()` prefers CUDA, then Apple's MPS, then the CPU. Set the environment variable
`LATENTLAB_DEVICE` (e.g. `cpu`, `cuda:1`) to override the choice, e.g. to compare speeds.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def pick_device() -> torch.device:
    """The best available device, unless `LATENTLAB_DEVICE` names one."""
    wanted = os.environ.get("LATENTLAB_DEVICE", "").strip()
    if wanted:
        try:
            device = torch.device(wanted)
        except RuntimeError as err:
            raise ValueError(
                f"LATENTLAB_DEVICE={wanted!r} is not a device name; expected e.g. 'cpu', 'cuda', 'cuda:0' or 'mps'"
            ) from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"LATENTLAB_DEVICE={wanted!r} but this torch build sees no CUDA GPU")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device | None = None) -> str:
    """A one-line human description, e.g. 'cuda: NVIDIA H100' or 'cpu: 2 threads'."""
    device = device or pick_device()
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "mps: Apple GPU"
    return f"cpu: {torch.get_num_threads()} threads"


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator seeded the same way.

    Seeds must fit in 64 bits (torch's generators are 64-bit)."""
    if not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def default_dtype(device: torch.device) -> torch.dtype:
    """float32 on the CPU (fp16 kernels there are slow); float16 only on CUDA."""
    return torch.float16 if device.type == "cuda" else torch.float32
