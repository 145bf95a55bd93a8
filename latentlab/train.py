"""Training loops, written out: progress bar, resumable, atomic checkpoints, Ctrl-C safe.

`train_vae` trains an `AutoencoderKL` on `PhotoPatches`. Every `checkpoint_every` seconds it
writes `<run_dir>/last.safetensors` (weights, Adam's moments, step, clock and RNG states) atomically;
`resume=True` continues from it bit for bit in the data order. Ctrl-C stops cleanly: the run
checkpoint and the exported model are written before returning.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import checkpoints
from .data import HELD_OUT_PHOTO, PhotoPatches
from .vae import AutoencoderKL, VAEConfig, compute_scaling_factor


def hardware() -> str:
    """e.g. 'cpu x86_64, 2 cores, torch 2.13.0' or 'cuda NVIDIA H100 80GB HBM3, torch 2.13.0'."""
    if torch.cuda.is_available():
        return f"cuda {torch.cuda.get_device_name()}, torch {torch.__version__}"
    return f"cpu {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, torch {torch.__version__}"


def lr_at(progress: float, base_lr: float, warmup: float = 0.02) -> float:
    """Linear warm-up for the first 2 % of training, then cosine decay to 10 % of base_lr."""
    if progress < warmup:
        return base_lr * max(progress / warmup, 0.01)
    t = min((progress - warmup) / (1 - warmup), 1.0)
    return base_lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


@dataclass
class VAETrainSettings:
    steps: int | None = 6000          # stop after this many optimiser steps ...
    minutes: float | None = None      # ... or after this much training time, whichever comes first
    batch_size: int = 8
    patch_size: int = 128             # 128 px patches → 16×16 latents at f=8: enough context, fast
    lr: float = 2e-3
    # LDM's KL weight (App. G: 1e-6 on summed losses); ours is per value, the same ratio.
    kl_weight: float = 1e-6
    seed: int = 0
    checkpoint_every: float = 60.0    # seconds between run checkpoints
    extra_metrics: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.steps is None and self.minutes is None:
            raise ValueError("give steps or minutes (or both) so training knows when to stop")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")


def _progress(step: int, elapsed: float, s: VAETrainSettings) -> float:
    parts = []
    if s.steps is not None:
        parts.append(step / s.steps)
    if s.minutes is not None:
        parts.append(elapsed / (60 * s.minutes))
    return max(parts)


def _save_run(path: Path, vae: AutoencoderKL, opt: torch.optim.Optimizer, step: int, elapsed: float,
              data: PhotoPatches, settings: VAETrainSettings) -> None:
    tensors = {f"model.{k}": v for k, v in vae.state_dict().items()}
    for index, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value)
    tensors["rng.torch"] = torch.get_rng_state()
    extra = {"step": str(step), "elapsed": repr(elapsed), "data_rng": json.dumps(data.rng.bit_generator.state),
             "settings": json.dumps({k: v for k, v in settings.__dict__.items() if k != "extra_metrics"})}
    checkpoints.save_checkpoint(path, tensors, "vae-train", vae.config.to_json(), extra=extra)


def _load_run(path: Path, vae: AutoencoderKL, opt: torch.optim.Optimizer, data: PhotoPatches) -> tuple[int, float]:
    tensors, meta = checkpoints.load_checkpoint(path, kind="vae-train")
    if meta["config"] != json.loads(vae.config.to_json()):
        raise checkpoints.CheckpointError(f"{path} was trained with another VAE config: {meta['config']}")
    checkpoints.load_state_into(vae, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(path))
    state = opt.state_dict()
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state["state"].setdefault(int(index), {})[name] = value
    opt.load_state_dict(state)
    torch.set_rng_state(tensors["rng.torch"])
    data.rng.bit_generator.state = json.loads(meta["data_rng"])
    return int(meta["step"]), float(meta["elapsed"])


@torch.no_grad()
def heldout_psnr(vae: AutoencoderKL) -> float:
    """PSNR of the VAE on the held-out bundled photo (never trained on), at full size."""
    import warnings

    from .images import bundled_photo, to_tensor
    from .metrics import psnr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the crop to a multiple of f is expected here
        x = to_tensor(bundled_photo(HELD_OUT_PHOTO), multiple=vae.downsample_factor)
    was_training = vae.training
    vae.eval()
    recon = vae.decode(vae.encode(x).mode())
    vae.train(was_training)
    return psnr(x, recon)


def train_vae(config: VAEConfig, out: str | Path | None, settings: VAETrainSettings, run_dir: str | Path | None = None,
              resume: bool = False, progress: bool = True, callback=None,
              init_from: str | Path | None = None) -> tuple[AutoencoderKL, dict]:
    """Train a VAE; write the fp16 model to `out` (if given). Returns (vae, metrics).

    init_from: a latentlab VAE checkpoint of the same config to start from (fine-tuning: a fresh
    optimiser and learning-rate schedule; the model card records both commands).

    callback(step, metrics, vae) is called every 25 steps (the notebook uses it to redraw)."""
    torch.manual_seed(settings.seed)
    vae = AutoencoderKL(config).train()
    if init_from is not None:
        init_vae = checkpoints.load_vae(init_from, config=config)
        vae.load_state_dict(init_vae.state_dict())
    data = PhotoPatches(settings.patch_size, seed=settings.seed)
    opt = torch.optim.Adam(vae.parameters(), lr=settings.lr)
    run_path = Path(run_dir) / "last.safetensors" if run_dir is not None else None
    step, elapsed = 0, 0.0
    if resume:
        if run_path is None or not run_path.is_file():
            raise FileNotFoundError(f"nothing to resume: no run checkpoint at {run_path}")
        step, elapsed = _load_run(run_path, vae, opt, data)

    total = settings.steps if settings.steps is not None else None
    bar = tqdm(total=total, initial=step, disable=not progress, desc=f"train vae-{config.name}", unit="step")
    interrupted = False
    losses: list[float] = []
    last_save = time.perf_counter()
    start = time.perf_counter() - elapsed
    try:
        while _progress(step, time.perf_counter() - start, settings) < 1.0:
            for group in opt.param_groups:
                group["lr"] = lr_at(_progress(step, time.perf_counter() - start, settings), settings.lr)
            x = data.batch(settings.batch_size)  # (B, 3, P, P) in [-1, 1]
            recon, posterior = vae(x)
            mse = torch.mean((recon - x) ** 2)
            kl = posterior.kl().sum() / x.numel()
            loss = mse + settings.kl_weight * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
            opt.step()
            step += 1
            losses.append(mse.item())
            bar.update(1)
            if step % 25 == 0:
                train_psnr = 10 * math.log10(4.0 / max(np.mean(losses[-25:]), 1e-12))  # range 2 → peak² = 4
                bar.set_postfix(psnr=f"{train_psnr:.2f}dB", kl=f"{kl.item():.1f}")
                if callback is not None:
                    callback(step, {"train_psnr": train_psnr, "kl": kl.item()}, vae)
            if run_path is not None and time.perf_counter() - last_save > settings.checkpoint_every:
                _save_run(run_path, vae, opt, step, time.perf_counter() - start, data, settings)
                last_save = time.perf_counter()
    except KeyboardInterrupt:
        interrupted = True
        bar.write(f"interrupted at step {step}: saving what was learned so far")
    finally:
        bar.close()
    elapsed = time.perf_counter() - start
    if run_path is not None:
        _save_run(run_path, vae, opt, step, elapsed, data, settings)

    vae.eval()
    # LDM §4.3.2: the scaling factor is 1/std of the latents of the training data.
    scale_data = PhotoPatches(settings.patch_size, seed=settings.seed + 1)
    config.scaling_factor = compute_scaling_factor(vae, (scale_data.batch(16) for _ in range(8)))
    metrics = {"steps": step, "train_minutes": round(elapsed / 60, 2), "hardware": hardware(),
               "batch_size": settings.batch_size, "patch_size": settings.patch_size,
               "heldout_photo": HELD_OUT_PHOTO, "heldout_psnr": round(heldout_psnr(vae), 3),
               "scaling_factor": round(config.scaling_factor, 5), "interrupted": interrupted}
    if init_from is not None:
        metrics["init_from"] = str(init_from)
        metrics["init_metrics"] = init_vae.metrics
    metrics.update(settings.extra_metrics)
    if out is not None:
        checkpoints.save_vae(out, vae, metrics)
    return vae, metrics
