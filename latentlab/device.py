"""Where tensors live: the device choice.

`pick_device()` prefers CUDA, then Apple's MPS, then the CPU. Set the environment variable
`LATENTLAB_DEVICE` (e.g. `cpu`, `cuda:1`) to override the choice, e.g. to compare speeds.
"""

from __future__ import annotations

import os

import torch

from .i18n import tr


def pick_device() -> torch.device:
    """The best available device, unless `LATENTLAB_DEVICE` names one."""
    wanted = os.environ.get("LATENTLAB_DEVICE", "").strip()
    if wanted:
        try:
            device = torch.device(wanted)
        except RuntimeError as err:
            raise ValueError(tr("LATENTLAB_DEVICE={wanted!r} is not a device name; expected e.g. 'cpu', 'cuda', "
                                "'cuda:0' or 'mps'").format(wanted=wanted)) from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(tr("LATENTLAB_DEVICE={wanted!r} but this torch build sees no CUDA GPU").format(wanted=wanted))
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
    threads = torch.get_num_threads()
    return tr("cpu: 1 thread") if threads == 1 else tr("cpu: {n} threads").format(n=threads)
