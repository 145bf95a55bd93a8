"""How good is a VAE? PSNR and SSIM over a folder of images, with codec baselines from the same run.

    latentlab eval vae --model vae-f8c4 --images ../shared/data/kodak --json

Each image is used at full size (cropped by at most f-1 pixels to a multiple of f), encoded to the
posterior's mean (the deterministic latent), decoded, and compared with the original on 8-bit
values. The baselines see exactly the same cropped pixels:
  - bicubic_equal_values: a downsampled picture with no more numbers than the latent (metrics.py);
  - jpeg_equal_bytes: JPEG in no more bytes than the latent stored as fp16.
A VAE that does not beat the bicubic baseline has learned little about images.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import metrics
from .checkpoints import CheckpointError, load_pretrained, load_vae, shipped_models
from .images import MAX_SIDE, load_image, to_tensor, to_uint8
from .vae import AutoencoderKL

# What PIL opens in practice; anything else in the folder is skipped with a warning.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}


def resolve_vae(model) -> tuple[str, AutoencoderKL]:
    """(name, vae) from a VAE object, a shipped model's name ('vae-f8c4') or a latentlab .safetensors path."""
    if isinstance(model, AutoencoderKL):
        return getattr(model, "name", None) or model.config.name, model
    if not isinstance(model, (str, Path)):
        raise TypeError(f"expected an AutoencoderKL, a shipped model name or a checkpoint path, got {type(model).__name__}")
    text = str(model)
    if text in shipped_models():
        return text, load_pretrained(text, kind="vae")
    path = Path(text)
    if path.is_file():
        return path.stem, load_vae(path)
    raise CheckpointError(
        f"{text!r} is neither a shipped model nor a checkpoint file; shipped VAEs: "
        f"{', '.join(shipped_models(kind='vae')) or 'none yet'} (or give a path to a latentlab .safetensors file)"
    )


def image_files(folder) -> list[Path]:
    """The image files of `folder` (sorted), warning about every other file skipped."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"no folder at {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file; expected a folder of images")
    files, skipped = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        (files if path.suffix.lower() in IMAGE_SUFFIXES else skipped).append(path)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} non-image file(s) in {folder}: {', '.join(p.name for p in skipped[:5])}",
                      stacklevel=2)
    return files


@torch.no_grad()
def reconstruct(vae: AutoencoderKL, x: torch.Tensor) -> torch.Tensor:
    """x (1, 3, H, W) in [-1, 1] → the decode of the posterior mean, (1, 3, H, W) (not clamped)."""
    device = next(vae.parameters()).device
    return vae.decode(vae.encode(x.to(device)).mode()).cpu()


def _measure_one(vae: AutoencoderKL, picture, max_side: int | None) -> dict:
    """One picture's row: the VAE's PSNR/SSIM and, on the same pixels, bicubic at equal values and
    JPEG at equal bytes."""
    f = vae.downsample_factor
    x = to_tensor(picture, multiple=f, fit="crop", max_side=max_side)  # (1, 3, H, W)
    original = to_uint8(x)[0]  # (H, W, 3): the pixels every method is judged against
    reconstruction = to_uint8(reconstruct(vae, x))[0]
    H, W = original.shape[:2]
    figures = metrics.compression_figures((H, W), (vae.config.latent_channels, H // f, W // f))
    bicubic = metrics.bicubic_equal_values(original, figures.latent_values)
    jpeg = metrics.jpeg_at_bytes(original, figures.latent_bytes["fp16"])
    return {
        "size": [H, W],
        "psnr": metrics.psnr(original, reconstruction), "ssim": metrics.ssim(original, reconstruction),
        "latent_bpp_fp16": figures.latent_bpp["fp16"],
        "bicubic_psnr": bicubic.psnr, "bicubic_ssim": bicubic.ssim, "bicubic_values": bicubic.values,
        "latent_values": figures.latent_values,
        "jpeg_psnr": jpeg.psnr, "jpeg_ssim": jpeg.ssim, "jpeg_bpp": jpeg.bpp, "jpeg_quality": jpeg.quality,
        "jpeg_within_budget": jpeg.within_budget,
    }


def evaluate_vae(vae, folder, name: str | None = None, progress: bool = True,
                 max_side: int | None = MAX_SIDE) -> dict:
    """Mean PSNR (dB) and SSIM of `vae` over the images in `folder`, with baselines.

    `vae` is an AutoencoderKL, a shipped name or a checkpoint path (see `resolve_vae`). Images with a
    side above `max_side` are downscaled with a warning (None keeps every image at full size).
    Returns
        {"model", "config" ('f8c4'), "images" (count), "psnr", "ssim", "latent_bpp_fp16",
         "baselines": {"bicubic_equal_values": {"psnr", "ssim", "values_ratio"},
                       "jpeg_equal_bytes": {"psnr", "ssim", "bpp", "quality", "over_budget"}},
         "per_image": [{"file", "size", "psnr", "ssim", ...}, ...]}
    Files PIL cannot read are skipped with a warning; a folder with no readable image is an error.
    """
    model_name, vae = resolve_vae(vae)
    name = name or model_name
    vae = vae.eval()
    files = image_files(folder)
    if not files:
        raise ValueError(f"no image files in {folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")

    rows = []
    for path in tqdm(files, desc=f"eval {name}", unit="image", disable=not progress):
        try:
            picture = load_image(path)
        except (ValueError, OSError) as err:
            warnings.warn(f"skipped {path.name}: {err}", stacklevel=2)
            continue
        rows.append({"file": path.name, **_measure_one(vae, picture, max_side)})
    if not rows:
        raise ValueError(f"none of the {len(files)} file(s) in {folder} could be read as an image")

    def mean(key: str) -> float:
        # PSNR is inf for a perfect reconstruction; the mean of finite values keeps the number usable.
        values = [r[key] for r in rows if math.isfinite(r[key])]
        return float(np.mean(values)) if values else math.inf

    return {
        "model": name,
        "config": vae.config.name,
        "images": len(rows),
        "psnr": mean("psnr"),
        "ssim": mean("ssim"),
        "latent_bpp_fp16": mean("latent_bpp_fp16"),
        "baselines": {
            "bicubic_equal_values": {
                "psnr": mean("bicubic_psnr"), "ssim": mean("bicubic_ssim"),
                # ≤ 1: the baseline keeps at most as many numbers as the latent
                "values_ratio": float(np.mean([r["bicubic_values"] / r["latent_values"] for r in rows])),
            },
            "jpeg_equal_bytes": {
                "psnr": mean("jpeg_psnr"), "ssim": mean("jpeg_ssim"), "bpp": mean("jpeg_bpp"),
                "quality": float(np.mean([r["jpeg_quality"] for r in rows])),
                "over_budget": sum(not r["jpeg_within_budget"] for r in rows),
            },
        },
        "per_image": rows,
    }


def summary(result: dict, folder) -> str:
    """`evaluate_vae`'s result as a small table: the VAE against its two baselines."""
    jpeg, bicubic = result["baselines"]["jpeg_equal_bytes"], result["baselines"]["bicubic_equal_values"]
    return "\n".join([
        f"{result['model']} ({result['config']}) on {result['images']} image(s) from {folder}",
        f"  {'':<28}{'PSNR dB':>9}{'SSIM':>8}",
        f"  {'VAE':<28}{result['psnr']:>9.2f}{result['ssim']:>8.3f}",
        f"  {'bicubic, equal values':<28}{bicubic['psnr']:>9.2f}{bicubic['ssim']:>8.3f}",
        f"  {'JPEG, equal bytes (fp16)':<28}{jpeg['psnr']:>9.2f}{jpeg['ssim']:>8.3f}"
        f"   ({jpeg['bpp']:.2f} bpp, quality ≈ {jpeg['quality']:.0f})",
    ])


__all__ = ["IMAGE_SUFFIXES", "evaluate_vae", "image_files", "reconstruct", "resolve_vae", "summary"]
