"""How good is a text-to-image model? Read its pictures back with a small classifier and count.

`ShapesEvaluator`, a small CNN trained on real captioned-shapes pictures, reads the shape, colour,
background, size and position of a picture's object. `prompt_adherence` samples one picture per
held-out caption and counts how often the evaluator reads back what the caption asked for (the
idea of GenEval, Ghosh et al. 2023, for a world of shapes); `round_trip_adherence` does the same
for real pictures sent through a VAE and back (the decoder's share of the errors), and
`frechet_distance` compares the evaluator's features of two sets of pictures (FID's recipe with
our own small feature extractor).

    latentlab train evaluator          train it (the shipped one: weights/shapes-evaluator)
    latentlab eval ldm --json          adherence at the default settings, plus a CFG × steps table

Seeds: the evaluator trains on `EvaluatorTrainSettings.seed`, its accuracy is measured on
`HELDOUT_SEED`, the adherence prompts come from `ADHERENCE_SEED`; the LDM's training set uses
none of them.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import WEIGHTS_DIR, CheckpointError, load_checkpoint, load_state_into, save_checkpoint
from .data import COLORS, POSITIONS, SHAPES, SIZES, CaptionedShapes, render_scene
from .images import to_tensor
from .pipeline import SamplingDefaults, text_to_image
from .samplers import FLOW_SAMPLERS, SAMPLERS

HELDOUT_SEED = 10_001    # the evaluator's test pictures
ADHERENCE_SEED = 20_000  # the captions prompt adherence is measured on

ATTRIBUTES = {"shape": list(SHAPES), "color": list(COLORS), "background": list(COLORS),
              "size": list(SIZES), "position": list(POSITIONS)}


class ShapesEvaluator(nn.Module):
    """A small CNN: picture (B, 3, H, W) in [-1, 1] → logits for each attribute of its one object.

    The picture is resized to 64 px (enough to tell a star from a circle at the smallest size);
    four conv stages halve it to 4×4, then one linear head per attribute."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.attributes = ATTRIBUTES
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
        h = self.features(_at_64px(images)).flatten(1)  # (B, 8·width·4·4)
        return {name: head(h) for name, head in self.heads.items()}

    @torch.no_grad()
    def embed(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(B, 8·width) features: the last conv stage averaged over its 4×4 positions. What the
        Fréchet distance compares (as FID uses Inception's pooled features, Heusel et al. 2017)."""
        self.eval()
        out = [self.features(_at_64px(images[start:start + batch_size].float())).mean(dim=(2, 3))
               for start in range(0, len(images), batch_size)]
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


def _at_64px(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) → (B, 3, 64, 64), antialiased: the evaluator's one input size."""
    if images.shape[-2:] == (64, 64):
        return images
    return F.interpolate(images, size=(64, 64), mode="bilinear", antialias=True, align_corners=False)


def scene_attributes(scene) -> dict[str, str]:
    """What a one-object scene shows, in the evaluator's attribute names."""
    obj = scene.objects[0]
    return {"shape": obj.shape, "color": obj.color, "background": scene.background,
            "size": obj.size, "position": obj.position}


def attribute_hits(scenes, reads: list[dict[str, str]]) -> dict[str, float]:
    """The one counter: the fraction of pictures whose every attribute the evaluator read right,
    per attribute, plus "joint" = shape and colour both right (the object asked for, in the colour
    asked for). `reads` are `ShapesEvaluator.predict`'s answers, one per scene, in order."""
    if len(scenes) != len(reads) or not scenes:
        raise ValueError(f"need one reading per scene (and at least one), got {len(reads)} for {len(scenes)}")
    hits = {name: [] for name in (*ATTRIBUTES, "joint")}
    for scene, read in zip(scenes, reads):
        truth = scene_attributes(scene)
        for name, value in truth.items():
            hits[name].append(read[name] == value)
        hits["joint"].append(read["shape"] == truth["shape"] and read["color"] == truth["color"])
    return {name: float(np.mean(values)) for name, values in hits.items()}


# --- training the evaluator --------------------------------------------------------------------

@dataclass
class EvaluatorTrainSettings:
    steps: int = 1000       # AdamW steps on a one-cycle schedule (minutes on a laptop CPU)
    batch_size: int = 64
    pool: int = 8000        # real one-object pictures drawn once and augmented per batch
    seed: int = 1           # never HELDOUT_SEED or ADHERENCE_SEED
    image_size: int = 128   # the ldm-shapes pictures' size

    def __post_init__(self):
        for name in ("steps", "batch_size", "pool", "image_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """What a VAE and a sampler do to a picture, roughly: blur, colour shifts, noise."""
    B = images.shape[0]
    blurred = F.avg_pool2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    mix = torch.rand(B, 1, 1, 1, generator=generator)
    images = mix * blurred + (1 - mix) * images
    images = images + 0.08 * (torch.rand(B, 3, 1, 1, generator=generator) - 0.5)  # colour shift
    images = images + 0.04 * torch.randn(images.shape, generator=generator)
    return images.clamp(-1, 1)


def _labels(scenes) -> dict[str, torch.Tensor]:
    truths = [scene_attributes(s) for s in scenes]
    return {name: torch.tensor([values.index(t[name]) for t in truths]) for name, values in ATTRIBUTES.items()}


def train_shapes_evaluator(settings: EvaluatorTrainSettings | None = None, progress: bool = True) -> ShapesEvaluator:
    """Train the evaluator on `settings.pool` real one-object pictures, each batch augmented."""
    s = settings or EvaluatorTrainSettings()
    torch.manual_seed(s.seed)
    model = ShapesEvaluator().train()
    data = CaptionedShapes(s.pool, size=s.image_size, seed=s.seed, drop=0.0)
    images, scenes = [], []
    for start in tqdm(range(0, s.pool, 256), desc="draw evaluator training pictures", disable=not progress):
        batch, _, batch_scenes = data.batch(range(start, min(start + 256, s.pool)))
        images.append(_at_64px(batch))  # stored at the evaluator's input size: 4× less memory, same result
        scenes += batch_scenes
    images, labels = torch.cat(images), _labels(scenes)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=s.steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(s.seed)
    for _ in tqdm(range(s.steps), desc="train shapes evaluator", disable=not progress, unit="step"):
        index = torch.randint(0, s.pool, (s.batch_size,), generator=generator)
        logits = model(_augment(images[index], generator))
        loss = sum(F.cross_entropy(logits[name], labels[name][index]) for name in logits)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def evaluator_accuracy(evaluator: ShapesEvaluator, n: int = 512, seed: int = HELDOUT_SEED,
                       image_size: int = 128) -> dict[str, float]:
    """Accuracy per attribute on `n` held-out real pictures (a seed never used in training)."""
    images, _, scenes = CaptionedShapes(n, size=image_size, seed=seed, drop=0.0).batch(range(n))
    hits = attribute_hits(scenes, evaluator.predict(images))
    return {name: hits[name] for name in evaluator.attributes}


def train_and_measure_evaluator(settings: EvaluatorTrainSettings, progress: bool = True,
                                **card) -> tuple[ShapesEvaluator, dict]:
    """(evaluator, model card metrics): training time, held-out accuracy, the settings, and `card`
    (e.g. command=…, hardware=…) added as they are."""
    start = time.perf_counter()
    model = train_shapes_evaluator(settings, progress=progress)
    minutes = (time.perf_counter() - start) / 60
    metrics = {**asdict(settings), "train_minutes": round(minutes, 2),
               "heldout_accuracy": evaluator_accuracy(model, image_size=settings.image_size),
               "heldout_seed": HELDOUT_SEED, **card}
    return model, metrics


def load_shapes_evaluator(path=None) -> ShapesEvaluator:
    """The shipped evaluator (`weights/shapes-evaluator.safetensors`) or one at `path`."""
    path = Path(path) if path is not None else WEIGHTS_DIR / "shapes-evaluator.safetensors"
    tensors, meta = load_checkpoint(path, kind="shapes-evaluator")
    width = meta["config"].get("width")
    if set(meta["config"]) != {"width"} or not isinstance(width, int) or width < 8 or width % 8:
        raise CheckpointError(f"{path}: config field 'width' must be the only field, a multiple of 8 "
                              f"(GroupNorm's 8 groups); found {meta['config']}")
    model = ShapesEvaluator(width=width)
    load_state_into(model, tensors, str(path))
    model.metrics = meta["metrics"]
    return model.float().eval()


def save_shapes_evaluator(path, model: ShapesEvaluator, metrics: dict) -> Path:
    width = model.features[0].out_channels
    return save_checkpoint(path, model.state_dict(), "shapes-evaluator", f'{{"width": {width}}}', metrics,
                           dtype=torch.float16)


# --- what the evaluator measures ---------------------------------------------------------------

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


def adherence_prompts(n: int, seed: int = ADHERENCE_SEED, lang: str = "en") -> list:
    """`n` (scene, caption) pairs of one object, fully described (size, colour, shape, background,
    position): the prompts of `prompt_adherence`, from a seed the training set never uses. With
    lang="es" the same scenes carry their Spanish captions (`latentlab.captions_es`)."""
    data = CaptionedShapes(n, seed=seed, drop=0.0)
    pairs = [data.scene_and_caption(i) for i in range(n)]
    if lang == "es":
        from .captions_es import caption

        return [(scene, caption(scene)) for scene, _ in pairs]
    if lang != "en":
        raise ValueError(f"captions exist in en and es, not {lang!r}")
    return pairs


def render_scenes(scenes, image_size: int = 128) -> torch.Tensor:
    """Real pictures of `scenes`: (N, 3, image_size, image_size) in [-1, 1]."""
    return torch.cat([to_tensor(render_scene(scene, image_size), multiple=1) for scene in scenes])


@torch.no_grad()
def round_trip_adherence(vae, evaluator: ShapesEvaluator, n: int = 256, image_size: int = 128,
                         keep: list | None = None) -> dict:
    """The decoder's share of the errors: the real pictures of the `n` adherence prompts, encoded
    and decoded by `vae`, read back by the evaluator. A decoder that garbles these (a photo-only
    decoder turns small flat shapes mottled and shifts their colours) garbles the model's pictures
    too. It is a reference, not a strict ceiling: the model's latents are not the encoder's, and a
    model can produce latents that this decoder renders more cleanly than real ones.
    Returns {"shape", "color", "joint"} as fractions, and "samples".
    keep: a list that receives the round-tripped pictures (n, 3, H, W), in prompt order."""
    scenes = [scene for scene, _ in adherence_prompts(n)]
    real = render_scenes(scenes, image_size)
    device = next(vae.parameters()).device
    pictures = vae.from_latent(vae.to_latent(real.to(device))).clamp(-1, 1).cpu()
    if keep is not None:
        keep.append(pictures)
    hits = attribute_hits(scenes, evaluator.predict(pictures))
    return {name: round(hits[name], 4) for name in ("shape", "color", "joint")} | {"samples": n}


@torch.no_grad()
def prompt_adherence(model, vae, evaluator: ShapesEvaluator, n: int = 256, sampler: str = SamplingDefaults.sampler,
                     steps: int = SamplingDefaults.steps, cfg: float = SamplingDefaults.cfg, seed: int = 0,
                     batch_size: int = 32, progress: bool = True, keep: list | None = None, lang: str = "en") -> dict:
    """Generate one picture per prompt for `n` held-out prompts (captions in `lang`: en or es) and
    read them back with the evaluator.

    Returns {"shape", "color", "background", "size", "position", "joint"} as fractions (joint =
    shape and colour both right), plus "samples".
    keep: a list that receives each batch of generated pictures (B, 3, H, W), in prompt order."""
    items = adherence_prompts(n, lang=lang)
    reads = []
    for start in tqdm(range(0, n, batch_size), desc=f"adherence {sampler} {steps} steps cfg {cfg}",
                      disable=not progress, unit="batch"):
        batch = items[start:start + batch_size]
        pictures, _ = text_to_image(model, vae, [caption for _, caption in batch], seed=seed + start,
                                    steps=steps, cfg=cfg, sampler=sampler)
        if keep is not None:
            keep.append(pictures)
        reads += evaluator.predict(pictures)
    hits = attribute_hits([scene for scene, _ in items], reads)
    return {name: round(value, 4) for name, value in hits.items()} | {"samples": n}


# --- `latentlab eval ldm` ----------------------------------------------------------------------

@dataclass
class LDMEvalSettings:
    samples: int = 256                          # pictures at the sampling settings below
    table_samples: int = 128                    # pictures per cell of the CFG × steps table (0: no table)
    sampler: str = SamplingDefaults.sampler
    steps: int = SamplingDefaults.steps
    cfg: float = SamplingDefaults.cfg
    seed: int = 0
    table_cfgs: tuple[float, ...] = (1.0, 3.0, 5.0, 7.5)  # from none to SD v1's default guidance
    table_steps: tuple[int, ...] = (10, 20, 50)
    lang: str = "en"                            # the captions' language: en, or es (`latentlab.captions_es`)

    def __post_init__(self):
        if self.sampler not in {**SAMPLERS, **FLOW_SAMPLERS}:  # a flow model maps ddim/euler/heun to its own
            raise ValueError(f"unknown sampler {self.sampler!r}; known samplers: "
                             f"{', '.join({**SAMPLERS, **FLOW_SAMPLERS})}")
        for name, low in (("samples", 1), ("table_samples", 0), ("steps", 1), ("seed", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}")
        if not (isinstance(self.cfg, (int, float)) and math.isfinite(self.cfg) and self.cfg >= 0):
            raise ValueError(f"cfg must be a finite number ≥ 0 (1 = no guidance), got {self.cfg!r}")
        if self.seed >= 2**64:  # refused now, not after loading three models
            raise ValueError(f"seed must be below 2**64 (torch generators are 64-bit), got {self.seed}")
        if self.lang not in ("en", "es"):
            raise ValueError(f"lang must be en or es (the languages captions exist in), got {self.lang!r}")


def evaluate_ldm(model, vae, evaluator: ShapesEvaluator, settings: LDMEvalSettings, progress: bool = True) -> dict:
    """Prompt adherence at `settings`, the VAE's round trip on the same prompts, the evaluator's own
    accuracy, and (table_samples > 0) adherence for every CFG × steps of the table."""
    run = {"sampler": settings.sampler, "seed": settings.seed, "lang": settings.lang}
    result = {
        "evaluator_accuracy": evaluator_accuracy(evaluator),
        "adherence": prompt_adherence(model, vae, evaluator, n=settings.samples, steps=settings.steps,
                                      cfg=settings.cfg, progress=progress, **run),
        "vae_round_trip": round_trip_adherence(vae, evaluator, n=settings.samples, image_size=model.config.image_size),
        "settings": {key: value for key, value in asdict(settings).items() if key not in ("table_cfgs", "table_steps")},
    }
    if settings.table_samples > 0:
        result["table"] = []
        for cfg in settings.table_cfgs:
            for steps in settings.table_steps:
                row = prompt_adherence(model, vae, evaluator, n=settings.table_samples, steps=steps, cfg=cfg,
                                       progress=progress, **run)
                result["table"].append({"cfg": cfg, "steps": steps} | {
                    key: row[key] for key in ("joint", "shape", "color", "background")})
    return result


__all__ = ["ADHERENCE_SEED", "ATTRIBUTES", "EvaluatorTrainSettings", "HELDOUT_SEED", "LDMEvalSettings",
           "ShapesEvaluator", "adherence_prompts", "attribute_hits", "evaluate_ldm",
           "evaluator_accuracy", "frechet_distance", "load_shapes_evaluator", "prompt_adherence", "render_scenes",
           "round_trip_adherence", "save_shapes_evaluator", "scene_attributes", "train_and_measure_evaluator",
           "train_shapes_evaluator"]
