"""How good is a VAE? PSNR and SSIM over a folder of images, with codec baselines from the same run.

    latentlab eval vae --model vae-f8c4 --images ../shared/data/kodak --json

Each image is used at full size (cropped by at most f-1 pixels to a multiple of f), encoded to the
posterior's mean (the deterministic latent), decoded, and compared with the original on 8-bit
values. The baselines see exactly the same cropped pixels:
  - bicubic_equal_values: a downsampled picture with no more numbers than the latent (metrics.py);
  - jpeg_equal_bytes: JPEG in no more bytes than the latent stored as fp16.
A VAE that does not beat the bicubic baseline has learned little about images.

How good is a text-to-image model? `ShapesEvaluator`, a small classifier trained on real
captioned-shapes pictures, reads the shape, colour, background, size and position of a picture;
`prompt_adherence` samples pictures for captions and counts how often the evaluator reads back
what the caption asked for (the idea of GenEval, Ghosh et al. 2023, for a world of shapes).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import metrics
from .images import MAX_SIDE, load_image, to_tensor, to_uint8
from .vae import AutoencoderKL

# What PIL opens in practice; anything else in the folder is skipped with a warning.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}


def resolve_vae(model) -> tuple[str, AutoencoderKL]:
    """(name, vae) from a VAE object, a shipped model's name ('vae-f8c4') or a latentlab .safetensors path."""
    from .checkpoints import CheckpointError, load_pretrained, load_vae, shipped_models

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
        f"{text!r} is neither a shipped model nor a checkpoint file; shipped models: "
        f"{', '.join(shipped_models()) or 'none yet'} (or give a path to a latentlab .safetensors file)"
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
    from tqdm.auto import tqdm

    model_name, vae = resolve_vae(vae)
    name = name or model_name
    vae = vae.eval()
    f = vae.downsample_factor
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
        x = to_tensor(picture, multiple=f, fit="crop", max_side=max_side)  # (1, 3, H, W)
        original = to_uint8(x)[0]  # (H, W, 3): the pixels every method is judged against
        reconstruction = to_uint8(reconstruct(vae, x))[0]
        H, W = original.shape[:2]
        latent_shape = (vae.config.latent_channels, H // f, W // f)
        figures = metrics.compression_figures((H, W), latent_shape)
        bicubic = metrics.bicubic_equal_values(original, figures.latent_values)
        jpeg = metrics.jpeg_at_bytes(original, figures.latent_bytes["fp16"])
        rows.append({
            "file": path.name, "size": [H, W],
            "psnr": metrics.psnr(original, reconstruction), "ssim": metrics.ssim(original, reconstruction),
            "latent_bpp_fp16": figures.latent_bpp["fp16"],
            "bicubic_psnr": bicubic.psnr, "bicubic_ssim": bicubic.ssim, "bicubic_values": bicubic.values,
            "latent_values": figures.latent_values,
            "jpeg_psnr": jpeg.psnr, "jpeg_ssim": jpeg.ssim, "jpeg_bpp": jpeg.bpp, "jpeg_quality": jpeg.quality,
            "jpeg_within_budget": jpeg.within_budget,
        })
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


# ---------------------------------------------------------------------------------------------
# The shapes evaluator: what does a generated picture show?
# ---------------------------------------------------------------------------------------------

def _attributes():
    from .data import COLORS, POSITIONS, SHAPES, SIZES

    return {"shape": list(SHAPES), "color": list(COLORS), "background": list(COLORS),
            "size": list(SIZES), "position": list(POSITIONS)}


class ShapesEvaluator(nn.Module):
    """A small CNN: picture (B, 3, H, W) in [-1, 1] → logits for each attribute of its one object.

    The picture is resized to 64 px (enough to tell a star from a circle at the smallest size);
    four conv stages halve it to 4×4, then one linear head per attribute."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.attributes = _attributes()
        layers = [nn.Conv2d(3, width, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2)]  # 64 → 32 px
        channels = width
        for out in (2 * width, 4 * width, 8 * width):  # 32 → 16 → 8 → 4 px
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.GroupNorm(8, out), nn.SiLU(),
                       nn.Conv2d(out, out, 3, padding=1), nn.GroupNorm(8, out), nn.SiLU(), nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.heads = nn.ModuleDict({name: nn.Linear(channels * 16, len(values))
                                    for name, values in self.attributes.items()})

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        B, C, H, W = images.shape
        if C != 3:
            raise ValueError(f"the evaluator reads RGB pictures (B, 3, H, W), got {tuple(images.shape)}")
        x = images if (H, W) == (64, 64) else F.interpolate(images, size=(64, 64), mode="bilinear",
                                                            antialias=True, align_corners=False)
        h = self.features(x).flatten(1)  # (B, 8·width·4·4)
        return {name: head(h) for name, head in self.heads.items()}

    @torch.no_grad()
    def embed(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(B, 8·width) features: the last conv stage averaged over its 4×4 positions. What the
        Fréchet distance compares (as FID uses Inception's pooled features, Heusel et al. 2017)."""
        self.eval()
        out = []
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].float()
            if x.shape[-2:] != (64, 64):
                x = F.interpolate(x, size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
            out.append(self.features(x).mean(dim=(2, 3)))
        return torch.cat(out)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 256) -> list[dict[str, str]]:
        """Read every picture: [{'shape': 'star', 'color': 'red', 'background': 'blue', …}, …]."""
        self.eval()
        out = []
        for start in range(0, len(images), batch_size):
            logits = self(images[start:start + batch_size].float())
            index = {name: l.argmax(dim=1).tolist() for name, l in logits.items()}
            for i in range(len(logits["shape"])):
                out.append({name: self.attributes[name][index[name][i]] for name in self.attributes})
        return out


def _augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """What a VAE and a sampler do to a picture, roughly: blur, colour shifts, noise."""
    B = images.shape[0]
    blurred = F.avg_pool2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    mix = torch.rand(B, 1, 1, 1, generator=generator)
    images = mix * blurred + (1 - mix) * images
    images = images + 0.08 * (torch.rand(B, 3, 1, 1, generator=generator) - 0.5)  # colour shift
    images = images + 0.04 * torch.randn(images.shape, generator=generator)
    return images.clamp(-1, 1)


def _labels(scenes, attributes) -> dict[str, torch.Tensor]:
    values = {
        "shape": [s.objects[0].shape for s in scenes], "color": [s.objects[0].color for s in scenes],
        "background": [s.background for s in scenes], "size": [s.objects[0].size for s in scenes],
        "position": [s.objects[0].position for s in scenes],
    }
    return {name: torch.tensor([attributes[name].index(v) for v in vs]) for name, vs in values.items()}


def train_shapes_evaluator(steps: int = 1000, batch_size: int = 64, pool: int = 8000, seed: int = 1,
                           progress: bool = True, image_size: int = 128) -> ShapesEvaluator:
    """Train the evaluator on `pool` real one-object pictures, drawn once, each batch augmented.

    The held-out test pictures use seed 10 001, never this one."""
    from .data import CaptionedShapes

    torch.manual_seed(seed)
    model = ShapesEvaluator().train()
    data = CaptionedShapes(pool, size=image_size, seed=seed, drop=0.0)
    images, scenes = [], []
    for start in tqdm(range(0, pool, 256), desc="draw evaluator training pictures", disable=not progress):
        batch, _, batch_scenes = data.batch(range(start, min(start + 256, pool)))
        # Stored at 64 px, the evaluator's own input size: 4× less memory, same result.
        images.append(F.interpolate(batch, size=(64, 64), mode="bilinear", antialias=True, align_corners=False))
        scenes += batch_scenes
    images = torch.cat(images)
    labels = _labels(scenes, model.attributes)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(steps), desc="train shapes evaluator", disable=not progress, unit="step"):
        index = torch.randint(0, pool, (batch_size,), generator=generator)
        logits = model(_augment(images[index], generator))
        loss = sum(F.cross_entropy(logits[name], labels[name][index]) for name in logits)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def evaluator_accuracy(evaluator: ShapesEvaluator, n: int = 512, seed: int = 10_001,
                       image_size: int = 128) -> dict[str, float]:
    """Accuracy per attribute on `n` held-out real pictures (a seed never used in training)."""
    from .data import CaptionedShapes

    data = CaptionedShapes(n, size=image_size, seed=seed, drop=0.0)
    images, _, scenes = data.batch(range(n))
    predicted = evaluator.predict(images)
    return {name: float(np.mean([p[name] == getattr(s.objects[0], name, None) if name != "background"
                                 else p[name] == s.background for p, s in zip(predicted, scenes)]))
            for name in evaluator.attributes}


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two sets of features (N, D) (Heusel et al. 2017):
        ‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^½).
    tr (Σ_a Σ_b)^½ is the sum of the square roots of the eigenvalues of Σ_a Σ_b, which are real and
    ≥ 0 for two covariance matrices (it is similar to Σ_a^½ Σ_b Σ_a^½), so no matrix square root is
    needed. With few samples it is biased upward; compare values computed with equal N only."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need two feature matrices (N, D) of one width, got {tuple(a.shape)} and {tuple(b.shape)}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"need at least 2 samples per set for a covariance, got {len(a)} and {len(b)}")
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    eigenvalues = torch.linalg.eigvals(cov_a @ cov_b).real.clamp(min=0)
    distance = (mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * eigenvalues.sqrt().sum()
    return float(distance.clamp(min=0))


def load_shapes_evaluator(path=None) -> ShapesEvaluator:
    """The shipped evaluator (`weights/shapes-evaluator.safetensors`) or one at `path`."""
    from .checkpoints import WEIGHTS_DIR, load_checkpoint, load_state_into

    path = Path(path) if path is not None else WEIGHTS_DIR / "shapes-evaluator.safetensors"
    tensors, meta = load_checkpoint(path, kind="shapes-evaluator")
    model = ShapesEvaluator(**meta["config"])
    load_state_into(model, tensors, str(path))
    model.metrics = meta["metrics"]
    return model.float().eval()


def save_shapes_evaluator(path, model: ShapesEvaluator, metrics: dict) -> Path:
    from .checkpoints import save_checkpoint

    width = model.features[0].out_channels
    return save_checkpoint(path, model.state_dict(), "shapes-evaluator", f'{{"width": {width}}}', metrics,
                           dtype=torch.float16)


def adherence_prompts(n: int, seed: int = 20_000) -> list:
    """`n` one-object scenes with full captions (size, colour, shape, background, position):
    the prompts of `prompt_adherence`, from a seed the training set never uses."""
    from .data import CaptionedShapes

    data = CaptionedShapes(n, seed=seed, drop=0.0)
    return [data.scene_and_caption(i) for i in range(n)]


def render_scenes(scenes, image_size: int = 128) -> torch.Tensor:
    """Real pictures of `scenes`: (N, 3, image_size, image_size) in [-1, 1]."""
    from .data import render_scene
    from .images import to_tensor

    return torch.cat([to_tensor(render_scene(scene, image_size), multiple=1) for scene in scenes])


@torch.no_grad()
def round_trip_adherence(vae, evaluator: ShapesEvaluator, n: int = 256, image_size: int = 128,
                         keep: list | None = None) -> dict:
    """The decoder's share of the errors: the real pictures of the `n` adherence prompts, encoded
    and decoded by `vae`, read back by the evaluator. A decoder that garbles these (a photo-only
    decoder turns small flat shapes mottled and shifts their colours) garbles the model's pictures
    too. It is a reference, not a strict ceiling: the model's latents are not the encoder's, and a
    model can produce latents that this decoder renders more cleanly than real ones.
    keep: a list that receives the round-tripped pictures (n, 3, H, W), in prompt order."""
    items = adherence_prompts(n)
    real = render_scenes([scene for scene, _ in items], image_size)
    device = next(vae.parameters()).device
    pictures = vae.from_latent(vae.to_latent(real.to(device))).clamp(-1, 1).cpu()
    if keep is not None:
        keep.append(pictures)
    read = evaluator.predict(pictures)
    hits = {"shape": [], "color": [], "joint": []}
    for (scene, _), r in zip(items, read):
        obj = scene.objects[0]
        hits["shape"].append(r["shape"] == obj.shape)
        hits["color"].append(r["color"] == obj.color)
        hits["joint"].append(r["shape"] == obj.shape and r["color"] == obj.color)
    return {name: round(float(np.mean(v)), 4) for name, v in hits.items()} | {"samples": n}


@torch.no_grad()
def prompt_adherence(model, vae, evaluator: ShapesEvaluator, n: int = 256, sampler: str | None = None,
                     steps: int | None = None, cfg: float | None = None, seed: int = 0, batch_size: int = 32,
                     progress: bool = True, keep: list | None = None) -> dict:
    """Generate one picture per prompt for `n` held-out prompts and read them back with the evaluator.

    Returns {"shape": …, "color": …, "background": …, "size": …, "position": …, "joint": …} as
    fractions, where joint = shape and colour both right (the issue's bar), plus "samples".
    keep: a list that receives each batch of generated pictures (B, 3, H, W), in prompt order."""
    from .pipeline import SamplingDefaults, text_to_image

    defaults = SamplingDefaults()
    sampler, steps, cfg = sampler or defaults.sampler, steps or defaults.steps, defaults.cfg if cfg is None else cfg
    items = adherence_prompts(n)
    hits = {name: [] for name in ("shape", "color", "background", "size", "position", "joint")}
    for start in tqdm(range(0, n, batch_size), desc=f"adherence {sampler} {steps} steps cfg {cfg}",
                      disable=not progress, unit="batch"):
        batch = items[start:start + batch_size]
        pictures, _ = text_to_image(model, vae, [caption for _, caption in batch], seed=seed + start,
                                    steps=steps, cfg=cfg, sampler=sampler)
        if keep is not None:
            keep.append(pictures)
        for (scene, _), read in zip(batch, evaluator.predict(pictures)):
            obj = scene.objects[0]
            truth = {"shape": obj.shape, "color": obj.color, "background": scene.background,
                     "size": obj.size, "position": obj.position}
            for name, value in truth.items():
                hits[name].append(read[name] == value)
            hits["joint"].append(read["shape"] == obj.shape and read["color"] == obj.color)
    result = {name: round(float(np.mean(v)), 4) for name, v in hits.items()}
    result["samples"] = n
    return result
