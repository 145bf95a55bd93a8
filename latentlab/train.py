"""What each model trains on and how its loss is computed; the loop itself is `harness.run_training`.

`train_vae` trains an `AutoencoderKL` on `PhotoPatches` (reconstruction + a small KL);
`train_ldm` trains the text-to-image model on captioned shapes in a frozen VAE's latent space
(DDPM's ε-prediction loss). Both give the harness a `TrainingTask`, so both get the same progress
bar, run checkpoints every minute, bit-exact resume, Ctrl-C at a step boundary and atomic saves
(see `latentlab/harness.py` and `latentlab/runfiles.py`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from . import checkpoints, flow
from .data import HELD_OUT_PHOTO, PhotoPatches
from .harness import TrainingTask, lr_at, run_training
from .runfiles import RunFiles
from .vae import AutoencoderKL, VAEConfig, compute_scaling_factor


def hardware() -> str:
    """e.g. 'cpu x86_64, 2 cores, torch 2.13.0' or 'cuda NVIDIA H100 80GB HBM3, torch 2.13.0'."""
    if torch.cuda.is_available():
        return f"cuda {torch.cuda.get_device_name()}, torch {torch.__version__}"
    return f"cpu {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, torch {torch.__version__}"


def _check_number(name: str, value, low: float, high: float = math.inf, whole: bool = False,
                  open_low: bool = False) -> None:
    """Refuse nonsense settings with the flag that sets them: `--minutes nan`, `--batch-size 0`, …"""
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value > low if open_low else value >= low)
    ok = ok and value <= high and (not whole or float(value).is_integer())
    if not ok:
        kind = "a whole number" if whole else "a finite number"
        bound = f"> {low:g}" if open_low else f"≥ {low:g}"
        bound += f" and ≤ {high:g}" if high != math.inf else ""
        raise ValueError(f"{name} (--{name.replace('_', '-')}) must be {kind} {bound}, got {value!r}")


def _check_common(settings) -> None:
    if settings.steps is None and settings.minutes is None:
        raise ValueError("give steps or minutes (or both) so training knows when to stop")
    if settings.steps is not None and not (isinstance(settings.steps, int) and settings.steps >= 1):
        raise ValueError(f"steps (--steps) must be at least 1, got {settings.steps!r}")
    if settings.minutes is not None:
        _check_number("minutes", settings.minutes, 0, open_low=True)
    _check_number("batch_size", settings.batch_size, 1, whole=True)
    _check_number("lr", settings.lr, 0, open_low=True)
    _check_number("seed", settings.seed, 0, 2**63 - 1, whole=True)
    if not settings.checkpoint_every > 0:  # inf is fine: no periodic run checkpoints, only the final one
        raise ValueError(f"checkpoint_every must be a number of seconds > 0, got {settings.checkpoint_every!r}")


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
    # A resumed run must keep these, or its batches (and so its result) would not be the same run's.
    RESUME_MUST_MATCH: ClassVar[tuple[str, ...]] = ("batch_size", "patch_size", "kl_weight", "decoder_only",
                                                    "shapes", "seed")

    def __post_init__(self):
        _check_common(self)
        _check_number("patch_size", self.patch_size, 1, whole=True)
        _check_number("kl_weight", self.kl_weight, 0)
        _check_number("shapes", self.shapes, 0, 1)


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


def vae_loss_step(vae: AutoencoderKL, data: PhotoPatches, settings: VAETrainSettings) -> tuple[torch.Tensor, dict]:
    """L = MSE(x, decode(z)) + kl_weight · KL(q(z|x) ‖ N(0, I)) per value, on one batch of patches."""
    x = data.batch(settings.batch_size)  # (B, 3, P, P) in [-1, 1]
    if settings.decoder_only:
        with torch.no_grad():
            posterior = vae.encode(x)  # the encoder is frozen: no graph through it
        recon = vae.decode(posterior.sample())
    else:
        recon, posterior = vae(x)
    mse = torch.mean((recon - x) ** 2)
    kl = posterior.kl().sum() / x.numel()
    return mse + settings.kl_weight * kl, {"mse": mse.item(), "kl": kl.item()}


def vae_summary(recent: list[dict[str, float]]) -> dict[str, float]:
    """Training PSNR over the recent steps (images span 2, so peak² = 4) and the latest KL."""
    return {"train_psnr": 10 * math.log10(4.0 / max(float(np.mean([r["mse"] for r in recent])), 1e-12)),
            "kl": recent[-1]["kl"]}


def _build_vae(config: VAEConfig, settings: VAETrainSettings, init_from) -> tuple[AutoencoderKL, AutoencoderKL | None]:
    """(the VAE to train, seeded like every run; the --init VAE it starts from, or None)."""
    torch.manual_seed(settings.seed)
    vae = AutoencoderKL(config).train()
    init_vae = None
    if init_from is not None:
        init_vae = checkpoints.load_vae(init_from, config=config)
        vae.load_state_dict(init_vae.state_dict())
    if settings.decoder_only:
        if init_vae is None:
            raise ValueError("decoder_only fine-tunes an existing VAE: give init_from (--init) too")
        for module in [vae.encoder] + ([vae.quant_conv] if vae.quant_conv is not None else []):
            module.requires_grad_(False)
    return vae, init_vae


def train_vae(config: VAEConfig, out: str | Path | None, settings: VAETrainSettings, run_dir: str | Path | None = None,
              resume: bool = False, progress: bool = True, callback=None,
              init_from: str | Path | None = None, overwrite: bool = False,
              callback_every: int = 25) -> tuple[AutoencoderKL, dict]:
    """Train a VAE; write the fp16 model to `out` (if given). Returns (vae, metrics).

    init_from: a latentlab VAE checkpoint of the same config to start from (fine-tuning: a fresh
    optimiser and learning-rate schedule; the model card records both commands).
    overwrite: start a new run in a `run_dir` that already holds one (otherwise refused).
    callback(step, {"train_psnr", "kl", "train_seconds"}, vae) is called every `callback_every` steps
    (the notebook uses it to redraw; its time does not count toward `settings.minutes`). `config` is not changed: the trained VAE has its own copy."""
    config = dataclasses.replace(config)  # the scaling factor is set on this copy, never the caller's
    if settings.patch_size % config.downsample_factor:
        raise ValueError(f"patch_size (--patch-size) must be a multiple of f = {config.downsample_factor} for "
                         f"vae-{config.name}, got {settings.patch_size}")
    # The model (and an --init checkpoint) first: a missing or bad --init is refused before a folder is made.
    vae, init_vae = _build_vae(config, settings, init_from)
    files = RunFiles(run_dir, out, kind="vae", config_json=config.to_json(), settings=settings, resume=resume,
                     overwrite=overwrite, inputs=(init_from,))
    data = PhotoPatches(settings.patch_size, seed=settings.seed, shapes=settings.shapes)
    trainable = [p for p in vae.parameters() if p.requires_grad]

    def loss_step() -> tuple[torch.Tensor, dict]:
        return vae_loss_step(vae, data, settings)

    task = TrainingTask(name=f"train vae-{config.name}", modules={"model": vae},
                        optimizer=torch.optim.Adam(trainable, lr=settings.lr), params=trainable,
                        loss_step=loss_step, summarize=vae_summary, callback_model=vae,
                        generators={"torch": torch.default_generator}, numpy_rngs={"data": data.rng})
    result = run_training(task, settings, files, progress=progress, callback=callback, callback_every=callback_every)

    vae.eval()
    if init_vae is not None and settings.decoder_only:
        config.scaling_factor = init_vae.config.scaling_factor  # same encoder, same latents
    else:
        # LDM §4.3.2: the scaling factor is 1/std of the latents of the training data.
        scale_data = PhotoPatches(settings.patch_size, seed=settings.seed + 1)
        config.scaling_factor = compute_scaling_factor(vae, (scale_data.batch(16) for _ in range(8)))
    metrics = {"steps": result.step, "train_minutes": round(result.elapsed / 60, 2), "hardware": hardware(),
               "batch_size": settings.batch_size, "patch_size": settings.patch_size,
               "heldout_photo": HELD_OUT_PHOTO, "heldout_psnr": round(heldout_psnr(vae), 3),
               "scaling_factor": round(config.scaling_factor, 5), "interrupted": result.interrupted}
    if settings.shapes:
        metrics["shapes"] = settings.shapes
    if init_vae is not None:
        metrics["init_from"] = str(init_from)
        metrics["init_metrics"] = init_vae.metrics
    metrics.update(settings.extra_metrics)

    def write(path: Path) -> None:
        checkpoints.save_vae(path, vae, metrics)

    saved = files.save_model(write)
    return vae, metrics | ({"out": str(saved)} if saved is not None else {})


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
    # A resumed run must keep these, or its batches (and so its result) would not be the same run's.
    RESUME_MUST_MATCH: ClassVar[tuple[str, ...]] = ("batch_size", "dataset_size", "two_objects", "caption_dropout",
                                                    "ema_decay", "offset_noise", "seed")

    def __post_init__(self):
        _check_common(self)
        if not 0 <= self.caption_dropout < 1:
            raise ValueError(f"caption_dropout is a probability in [0, 1), got {self.caption_dropout}")
        _check_number("dataset_size", self.dataset_size, 1, whole=True)
        _check_number("two_objects", self.two_objects, 0, 1)
        _check_number("ema_decay", self.ema_decay, 0, 1)
        _check_number("offset_noise", self.offset_noise, 0)


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


@dataclass
class CaptionedLatents:
    """The training set of the LDM: clean latents and their captions as token ids."""

    latents: torch.Tensor     # (N, c, h, w) float16, scaled (unit variance)
    ids: torch.Tensor         # (N, L) token ids of each picture's caption
    empty_ids: torch.Tensor   # (1, L) the unconditional prompt ''


def ldm_loss_step(model, data: CaptionedLatents, generator: torch.Generator,
                  settings: LDMTrainSettings) -> tuple[torch.Tensor, dict]:
    """DDPM's simple loss (Ho et al. 2020, eq. 14) in latent space (LDM eq. 2), on one batch:
        L = ‖ε − ε̂(z_t, t, τ(y))‖²,  z_t = √ᾱ_t·z_0 + √(1−ᾱ_t)·ε,  t ~ U{0, …, T−1}
    or, for a flow model (`model.config.is_flow`), the rectified-flow loss (SD3 eq. 2–3, §3.1):
        L = ‖(ε − z_0) − û(z_t, 1000·t, τ(y))‖²,  z_t = (1 − t)·z_0 + t·ε,  t = sigmoid(n), n ~ N(0, 1)"""
    B = settings.batch_size
    # 1. a batch of clean latents z_0 and their captions (10 % replaced by the empty prompt)
    index = torch.randint(0, len(data.latents), (B,), generator=generator)
    z0 = data.latents[index].float()  # (B, c, h, w)
    batch_ids = data.ids[index].clone()  # (B, L)
    drop = torch.rand(B, generator=generator) < settings.caption_dropout
    batch_ids[drop] = data.empty_ids
    noise = torch.randn(z0.shape, generator=generator)
    if settings.offset_noise > 0:
        noise = noise + settings.offset_noise * torch.randn(z0.shape[:2] + (1, 1), generator=generator)
    if model.config.is_flow:
        # 2'. rectified flow (SD3 §2–3.1): a point on the straight line from z_0 to ε at a
        #     logit-normal time t, and the velocity along that line as the target
        t = flow.logit_normal_t(B, generator=generator)
        z_t, target = flow.interpolate(z0, t, noise), flow.velocity_target(z0, noise)
        timestep = t * model.schedule.num_train_timesteps
    else:
        # 2. noise them to random timesteps (the forward process, in closed form)
        timestep = torch.randint(0, model.schedule.num_train_timesteps, (B,), generator=generator)
        z_t, target = model.schedule.q_sample(z0, timestep, noise), noise
    # 3. predict the noise (or the velocity) from z_t, t and the text; regress on the true one
    prediction = model.unet(z_t, timestep, model.text_encoder(batch_ids))
    loss = torch.mean((prediction - target) ** 2)
    return loss, {"loss": loss.item()}


def ldm_summary(recent: list[dict[str, float]]) -> dict[str, float]:
    return {"loss": float(np.mean([r["loss"] for r in recent]))}


@torch.no_grad()
def ema_update(ema, model, step: int, max_decay: float) -> None:
    """The EMA copy, warmed up: early on it follows the model closely (decay (1+n)/(10+n))."""
    decay = min(max_decay, (1 + step) / (10 + step))
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1 - decay)


def train_ldm(out: str | Path | None, settings: LDMTrainSettings, config=None, vae: AutoencoderKL | None = None,
              run_dir: str | Path | None = None, resume: bool = False, progress: bool = True, callback=None,
              init_from: str | Path | None = None, callback_every: int = 25, overwrite: bool = False):
    """Train the text-to-image model on captioned shapes in `vae`'s latent space (default vae-f8c4),
    with `ldm_loss_step`; τ(y), the text encoder, is trained jointly. Writes fp16 EMA weights to
    `out`; returns (ema model, metrics).

    init_from: an ldm checkpoint to fine-tune (its config is used; a fresh optimiser and schedule).
    overwrite: start a new run in a `run_dir` that already holds one (otherwise refused).
    callback(step, {"loss", "train_seconds"}, ema) is called every `callback_every` steps; the time it
    takes (an evaluation, a redraw) does not count toward `settings.minutes`."""
    from .data import CaptionedShapes
    from .ldm import LatentDiffusion, LDMConfig

    init_model = checkpoints.load_ldm(init_from) if init_from is not None else None
    config = init_model.config if init_model is not None else (config or LDMConfig())
    files = RunFiles(run_dir, out, kind="ldm", config_json=config.to_json(), settings=settings, resume=resume,
                     overwrite=overwrite, inputs=(init_from,))
    torch.manual_seed(settings.seed)
    if vae is None:
        vae = checkpoints.load_pretrained(config.vae, kind="vae")
    dataset = CaptionedShapes(settings.dataset_size, size=config.image_size, seed=settings.seed,
                              two_objects=settings.two_objects)
    latents, captions = _load_or_encode(files, vae, dataset, settings, progress)
    model = LatentDiffusion(config).train()
    if init_model is not None:
        model.load_state_dict(init_model.state_dict())
    data = CaptionedLatents(latents, model.tokenizer(captions), model.tokenizer(""))
    ema = LatentDiffusion(config).eval().requires_grad_(False)
    ema.load_state_dict(model.state_dict())
    generator = torch.Generator().manual_seed(settings.seed)

    def loss_step() -> tuple[torch.Tensor, dict]:
        return ldm_loss_step(model, data, generator, settings)

    def after_step(step: int) -> None:
        ema_update(ema, model, step, settings.ema_decay)

    task = TrainingTask(name="train ldm-shapes-flow" if config.is_flow else "train ldm-shapes", modules={"model": model, "ema": ema},
                        optimizer=torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01),
                        params=list(model.parameters()), loss_step=loss_step, summarize=ldm_summary,
                        after_step=after_step, callback_model=ema, generators={"generator": generator})
    result = run_training(task, settings, files, progress=progress, callback=callback, callback_every=callback_every)

    metrics = _ldm_metrics(result, settings, config.vae, init_model, init_from,
                           objective="flow" if config.is_flow else "epsilon")

    def write(path: Path) -> None:
        checkpoints.save_ldm(path, ema, metrics)

    saved = files.save_model(write)
    ema.metrics = metrics
    return ema, metrics | ({"out": str(saved)} if saved is not None else {})


def _ldm_metrics(result, settings: LDMTrainSettings, vae_name: str, init_model, init_from,
                 objective: str = "epsilon") -> dict:
    """The model card's numbers: how it was trained, for how long, where it started, its final loss."""
    losses = [r["loss"] for r in result.recent]
    metrics = {"steps": result.step, "train_minutes": round(result.elapsed / 60, 2), "hardware": hardware(),
               "batch_size": settings.batch_size, "dataset_size": settings.dataset_size,
               "two_objects": settings.two_objects, "caption_dropout": settings.caption_dropout,
               "ema_decay": settings.ema_decay, "offset_noise": settings.offset_noise,
               "final_loss": round(float(np.mean(losses)), 5) if losses else None,
               "vae": vae_name, "interrupted": result.interrupted, "objective": objective}
    if init_model is not None:
        metrics["init_from"] = str(init_from)
        metrics["init_metrics"] = init_model.metrics
    return metrics | settings.extra_metrics


def _load_or_encode(files: RunFiles, vae, dataset, settings, progress):
    """(latents (N, c, h, w) float16, captions) of the dataset; cached in the run directory."""
    key = json.dumps({"n": len(dataset), "seed": settings.seed, "two_objects": settings.two_objects,
                      "size": dataset.size, "vae": vae.config.to_json()}, sort_keys=True)
    path = files.run_dir / "latents.safetensors" if files.run_dir is not None else None
    if path is not None and path.is_file():
        tensors, meta = checkpoints.load_checkpoint(path, kind="ldm-latents")
        if meta.get("key") == key:
            return tensors["latents"], json.loads(meta["captions"])
    latents = encode_shapes_dataset(vae, dataset, progress=progress)
    captions = [dataset.scene_and_caption(i)[1] for i in range(len(dataset))]

    def write(target: Path) -> Path:
        return checkpoints.save_checkpoint(target, {"latents": latents}, "ldm-latents", "{}",
                                           extra={"key": key, "captions": json.dumps(captions)})

    files.save_cache("latents.safetensors", write)
    return latents, captions


__all__ = ["CaptionedLatents", "LDMTrainSettings", "VAETrainSettings", "encode_shapes_dataset", "hardware",
           "heldout_psnr", "ldm_loss_step", "lr_at", "train_ldm", "train_vae", "vae_loss_step"]
