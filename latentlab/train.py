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
    # Fine-tune the decoder only (as Stable Diffusion's sd-vae-ft-mse did): the encoder, hence the
    # latent space and its scaling factor, stay exactly as they were, so models trained on those
    # latents keep working with the sharper decoder.
    decoder_only: bool = False
    # Share of each batch that is whole captioned-shapes pictures instead of photo patches. A decoder
    # trained on photos alone renders small flat shapes mottled and colour-shifted (an orange disc
    # comes back yellowish and textured), which is what ldm-shapes' pictures are made of.
    shapes: float = 0.0
    checkpoint_every: float = 60.0    # seconds between run checkpoints
    extra_metrics: dict = field(default_factory=dict)

    def __post_init__(self):
        _check_stopping_rule(self.steps, self.minutes)


def _check_stopping_rule(steps: int | None, minutes: float | None) -> None:
    if steps is None and minutes is None:
        raise ValueError("give steps or minutes (or both) so training knows when to stop")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if minutes is not None and minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes}")


def _optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Adam's moments and step counts as flat tensors 'optim.<param index>.<name>' (for safetensors)."""
    return {f"optim.{index}.{key}": torch.as_tensor(value)
            for index, state in opt.state_dict()["state"].items() for key, value in state.items()}


def _restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    """The inverse of `_optimizer_tensors`: put the saved moments back into `opt`."""
    state = opt.state_dict()
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state["state"].setdefault(int(index), {})[name] = value
    opt.load_state_dict(state)


def _progress(step: int, elapsed: float, s) -> float:
    parts = []
    if s.steps is not None:
        parts.append(step / s.steps)
    if s.minutes is not None:
        parts.append(elapsed / (60 * s.minutes))
    return max(parts)


def _save_run(path: Path, vae: AutoencoderKL, opt: torch.optim.Optimizer, step: int, elapsed: float,
              data: PhotoPatches, settings: VAETrainSettings) -> None:
    tensors = {f"model.{k}": v for k, v in vae.state_dict().items()}
    tensors.update(_optimizer_tensors(opt))
    tensors["rng.torch"] = torch.get_rng_state()
    extra = {"step": str(step), "elapsed": repr(elapsed), "data_rng": json.dumps(data.rng.bit_generator.state),
             "settings": json.dumps({k: v for k, v in settings.__dict__.items() if k != "extra_metrics"})}
    checkpoints.save_checkpoint(path, tensors, "vae-train", vae.config.to_json(), extra=extra)


def _load_run(path: Path, vae: AutoencoderKL, opt: torch.optim.Optimizer, data: PhotoPatches) -> tuple[int, float]:
    tensors, meta = checkpoints.load_checkpoint(path, kind="vae-train")
    if meta["config"] != json.loads(vae.config.to_json()):
        raise checkpoints.CheckpointError(f"{path} was trained with another VAE config: {meta['config']}")
    checkpoints.load_state_into(vae, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(path))
    _restore_optimizer(opt, tensors)
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
    if settings.decoder_only:
        if init_from is None:
            raise ValueError("decoder_only fine-tunes an existing VAE: give init_from (--init) too")
        frozen = [vae.encoder] + ([vae.quant_conv] if vae.quant_conv is not None else [])
        for module in frozen:
            module.requires_grad_(False)
    trainable = [p for p in vae.parameters() if p.requires_grad]
    data = PhotoPatches(settings.patch_size, seed=settings.seed, shapes=settings.shapes)
    opt = torch.optim.Adam(trainable, lr=settings.lr)
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
            if settings.decoder_only:
                with torch.no_grad():
                    posterior = vae.encode(x)
                recon = vae.decode(posterior.sample())
            else:
                recon, posterior = vae(x)
            mse = torch.mean((recon - x) ** 2)
            kl = posterior.kl().sum() / x.numel()
            loss = mse + settings.kl_weight * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
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
    if settings.decoder_only:
        config.scaling_factor = init_vae.config.scaling_factor  # same encoder, same latents
    else:
        # LDM §4.3.2: the scaling factor is 1/std of the latents of the training data.
        scale_data = PhotoPatches(settings.patch_size, seed=settings.seed + 1)
        config.scaling_factor = compute_scaling_factor(vae, (scale_data.batch(16) for _ in range(8)))
    metrics = {"steps": step, "train_minutes": round(elapsed / 60, 2), "hardware": hardware(),
               "batch_size": settings.batch_size, "patch_size": settings.patch_size,
               "heldout_photo": HELD_OUT_PHOTO, "heldout_psnr": round(heldout_psnr(vae), 3),
               "scaling_factor": round(config.scaling_factor, 5), "interrupted": interrupted}
    if settings.shapes:
        metrics["shapes"] = settings.shapes
    if init_from is not None:
        metrics["init_from"] = str(init_from)
        metrics["init_metrics"] = init_vae.metrics
    metrics.update(settings.extra_metrics)
    if out is not None:
        checkpoints.save_vae(out, vae, metrics)
    return vae, metrics


# ---------------------------------------------------------------------------------------------
# The text-to-image model: UNet + text encoder in the vae-f8c4 latent space
# ---------------------------------------------------------------------------------------------

@dataclass
class LDMTrainSettings:
    steps: int | None = None           # stop after this many optimiser steps ...
    minutes: float | None = 60.0       # ... or after this much training time, whichever comes first
    batch_size: int = 64
    lr: float = 6e-4                   # AdamW; high for a short run, with warm-up and cosine decay
    dataset_size: int = 24_000         # captioned shapes, encoded to latents once before training
    two_objects: float = 0.15          # share of two-object scenes
    caption_dropout: float = 0.1       # captions replaced by '' so the model also learns p(z) (CFG)
    ema_decay: float = 0.999           # the shipped weights are an exponential moving average
    # "Offset noise" (Guttenberg 2023): add a random per-channel constant to the noise. SD's schedule
    # leaves √ᾱ_T ≈ 0.07 of the picture in x_T, so on 16×16 latents a model learns to read the
    # background colour from the noise's mean, which at sampling time is random. The offset teaches
    # it that the mean of the noise says nothing (Lin et al. 2024 analyse the same flaw).
    offset_noise: float = 0.0
    seed: int = 0
    checkpoint_every: float = 60.0
    extra_metrics: dict = field(default_factory=dict)

    def __post_init__(self):
        _check_stopping_rule(self.steps, self.minutes)
        if not 0 <= self.caption_dropout < 1:
            raise ValueError(f"caption_dropout is a probability in [0, 1), got {self.caption_dropout}")


@torch.no_grad()
def encode_shapes_dataset(vae: AutoencoderKL, dataset, batch_size: int = 64, progress: bool = True) -> torch.Tensor:
    """Every picture of `dataset` (CaptionedShapes) → its scaled latent (N, c, h, w), float16.

    Done once before training: the VAE is frozen, so re-encoding every epoch would waste the CPU."""
    latents = []
    for start in tqdm(range(0, len(dataset), batch_size), desc="encode shapes to latents", disable=not progress,
                      unit="batch"):
        images, _, _ = dataset.batch(range(start, min(start + batch_size, len(dataset))))
        latents.append(vae.to_latent(images).half())
    return torch.cat(latents)


def train_ldm(out: str | Path | None, settings: LDMTrainSettings, config=None, vae: AutoencoderKL | None = None,
              run_dir: str | Path | None = None, resume: bool = False, progress: bool = True, callback=None,
              init_from: str | Path | None = None, callback_every: int = 25):
    """Train the text-to-image model on captioned shapes in `vae`'s latent space (default vae-f8c4).

    The loss is DDPM's simple loss (Ho et al. 2020, eq. 14) in latent space (LDM eq. 2):
        L = ‖ε − ε̂(z_t, t, τ(y))‖²,  z_t = √ᾱ_t·z_0 + √(1−ᾱ_t)·ε,  t ~ U{0, …, T−1}
    with τ(y) the text encoder, trained jointly. Writes fp16 EMA weights to `out`; returns (model, metrics).

    init_from: an ldm checkpoint to fine-tune (its config is used; a fresh optimiser and schedule).
    callback(step, {"loss", "train_seconds"}, ema) is called every `callback_every` steps; the time it
    takes (an evaluation, a redraw) does not count toward `settings.minutes`."""
    from .data import CaptionedShapes
    from .ldm import LatentDiffusion, LDMConfig

    init_model = None
    if init_from is not None:
        init_model = checkpoints.load_ldm(init_from)
        config = init_model.config
    config = config or LDMConfig()
    torch.manual_seed(settings.seed)
    if vae is None:
        vae = checkpoints.load_pretrained(config.vae, kind="vae")
    run_dir = Path(run_dir) if run_dir is not None else None
    dataset = CaptionedShapes(settings.dataset_size, size=config.image_size, seed=settings.seed,
                              two_objects=settings.two_objects)
    latents, captions = _load_or_encode(run_dir, vae, dataset, settings, progress)
    model = LatentDiffusion(config).train()
    if init_model is not None:
        model.load_state_dict(init_model.state_dict())
    ids = model.tokenizer(captions)  # (N, L)
    empty_ids = model.tokenizer("")  # (1, L): the unconditional prompt
    ema = LatentDiffusion(config).eval().requires_grad_(False)
    ema.load_state_dict(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    schedule = model.schedule
    generator = torch.Generator().manual_seed(settings.seed)

    run_path = run_dir / "last.safetensors" if run_dir is not None else None
    step, elapsed = 0, 0.0
    if resume:
        if run_path is None or not run_path.is_file():
            raise FileNotFoundError(f"nothing to resume: no run checkpoint at {run_path}")
        step, elapsed = _load_ldm_run(run_path, model, ema, opt, generator)

    bar = tqdm(total=settings.steps, initial=step, disable=not progress, desc="train ldm-shapes", unit="step")
    interrupted, losses = False, []
    last_save = time.perf_counter()
    start = time.perf_counter() - elapsed
    try:
        while _progress(step, time.perf_counter() - start, settings) < 1.0:
            for group in opt.param_groups:
                group["lr"] = lr_at(_progress(step, time.perf_counter() - start, settings), settings.lr)
            # 1. a batch of clean latents z_0 and their captions (10 % replaced by the empty prompt)
            index = torch.randint(0, len(latents), (settings.batch_size,), generator=generator)
            z0 = latents[index].float()  # (B, c, h, w)
            batch_ids = ids[index].clone()  # (B, L)
            drop = torch.rand(settings.batch_size, generator=generator) < settings.caption_dropout
            batch_ids[drop] = empty_ids
            # 2. noise them to random timesteps (the forward process, in closed form)
            t = torch.randint(0, schedule.num_train_timesteps, (settings.batch_size,), generator=generator)
            noise = torch.randn(z0.shape, generator=generator)
            if settings.offset_noise > 0:
                noise = noise + settings.offset_noise * torch.randn(z0.shape[:2] + (1, 1), generator=generator)
            z_t = schedule.q_sample(z0, t, noise)
            # 3. predict the noise from z_t, t and the text; regress on the true noise
            prediction = model.unet(z_t, t, model.text_encoder(batch_ids))
            loss = torch.mean((prediction - noise) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            # 4. the EMA copy (warmed up: early on it follows the model closely)
            decay = min(settings.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for p_ema, p in zip(ema.parameters(), model.parameters()):
                    p_ema.lerp_(p, 1 - decay)
            losses.append(loss.item())
            bar.update(1)
            if step % 25 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-25:]):.4f}")
            if callback is not None and step % callback_every == 0:
                paused = time.perf_counter()
                callback(step, {"loss": float(np.mean(losses[-25:])), "train_seconds": paused - start}, ema)
                start += time.perf_counter() - paused  # the callback's time is not training time
            if run_path is not None and time.perf_counter() - last_save > settings.checkpoint_every:
                _save_ldm_run(run_path, model, ema, opt, step, time.perf_counter() - start, generator, settings)
                last_save = time.perf_counter()
    except KeyboardInterrupt:
        interrupted = True
        bar.write(f"interrupted at step {step}: saving what was learned so far")
    finally:
        bar.close()
    elapsed = time.perf_counter() - start
    if run_path is not None:
        _save_ldm_run(run_path, model, ema, opt, step, elapsed, generator, settings)

    metrics = {"steps": step, "train_minutes": round(elapsed / 60, 2), "hardware": hardware(),
               "batch_size": settings.batch_size, "dataset_size": settings.dataset_size,
               "two_objects": settings.two_objects, "caption_dropout": settings.caption_dropout,
               "ema_decay": settings.ema_decay, "offset_noise": settings.offset_noise, "final_loss": round(float(np.mean(losses[-100:])), 5) if losses else None,
               "vae": config.vae, "interrupted": interrupted}
    if init_model is not None:
        metrics["init_from"] = str(init_from)
        metrics["init_metrics"] = init_model.metrics
    metrics.update(settings.extra_metrics)
    if out is not None:
        checkpoints.save_ldm(out, ema, metrics)
    ema.metrics = metrics
    return ema, metrics


def _load_or_encode(run_dir, vae, dataset, settings, progress):
    """(latents (N, c, h, w) float16, captions) of the dataset; cached in the run directory."""
    key = json.dumps({"n": len(dataset), "seed": settings.seed, "two_objects": settings.two_objects,
                      "size": dataset.size, "vae": vae.config.to_json()}, sort_keys=True)
    path = run_dir / "latents.safetensors" if run_dir is not None else None
    if path is not None and path.is_file():
        tensors, meta = checkpoints.load_checkpoint(path, kind="ldm-latents")
        if meta.get("key") == key:
            return tensors["latents"], json.loads(meta["captions"])
    latents = encode_shapes_dataset(vae, dataset, progress=progress)
    captions = [dataset.scene_and_caption(i)[1] for i in range(len(dataset))]
    if path is not None:
        checkpoints.save_checkpoint(path, {"latents": latents}, "ldm-latents", "{}",
                                    extra={"key": key, "captions": json.dumps(captions)})
    return latents, captions


def _save_ldm_run(path: Path, model, ema, opt, step: int, elapsed: float, generator: torch.Generator,
                  settings: LDMTrainSettings) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    tensors.update(_optimizer_tensors(opt))
    tensors["rng.generator"] = generator.get_state()
    extra = {"step": str(step), "elapsed": repr(elapsed),
             "settings": json.dumps({k: v for k, v in settings.__dict__.items() if k != "extra_metrics"})}
    checkpoints.save_checkpoint(path, tensors, "ldm-train", model.config.to_json(), extra=extra)


def _load_ldm_run(path: Path, model, ema, opt, generator: torch.Generator) -> tuple[int, float]:
    tensors, meta = checkpoints.load_checkpoint(path, kind="ldm-train")
    if meta["config"] != json.loads(model.config.to_json()):
        raise checkpoints.CheckpointError(f"{path} was trained with another model config: {meta['config']}")
    checkpoints.load_state_into(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(path))
    checkpoints.load_state_into(ema, {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}, str(path))
    _restore_optimizer(opt, tensors)
    generator.set_state(tensors["rng.generator"])
    return int(meta["step"]), float(meta["elapsed"])
