"""The mini LDM study: how much should the autoencoder compress? (LDM §4.1, Fig. 6–7, in miniature)

    latentlab study ldm-f --minutes-per-run 10

Rombach et al. (2022, §4.1) trained one UNet recipe in pixel space (LDM-1) and in latent spaces of
f = 2 … 32 for the same number of *steps* on one A100: small f (1, 2) progressed slowly, which they
attribute to leaving most of the perceptual compression to the diffusion model, while large f loses
too much to the autoencoder; f = 4–16 strike the balance (their Fig. 6 and 7).

Here the course's UNet recipe (`UNetConfig.shapes()`, with its in/out channels set to the space's;
in pixel space built as DDPM/ADM build pixel models, `why_latent.fair_pixel_config`)
is trained on the captioned shapes in pixel space (f = 1) and in the latent spaces of the shipped
vae-f4c3, vae-f8c4 and vae-f16c16, each for the **same wall-clock budget** on this machine. At
evenly spaced points of each budget, the EMA model draws one picture for each of `samples` held-out
prompts, and we record:
  - prompt adherence: the shapes evaluator reads shape and colour back ("joint", as `eval ldm`);
  - a Fréchet distance between the evaluator's features of those pictures and of real pictures of
    the same scenes (FID's recipe with our own small feature extractor);
  - once per space, the same two figures for the real pictures sent through the autoencoder and back
    (the round trip): what the space itself loses, before any training;
  - the training compute done so far: steps × the FLOPs of one training step (counted, not guessed).
At the end of each run, the sampling throughput: pictures per second for 20 DDIM steps with CFG,
decode included. Evaluation time is not training time: the clock stops while the model is tested.

The pictures are 64 px rather than the course model's 128 so that pixel space gets more than a
handful of steps on a laptop CPU; the latents are then 16×16×3, 8×8×4 and 4×4×16.

Each finished run is saved as `<out>/<space>.json`; running the study again with the same settings
skips finished runs (an interrupted run starts over).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from .atomic import atomic_write_text
from .checkpoints import load_pretrained
from .data import CaptionedShapes
from .ldm import LatentDiffusion, LDMConfig
from .pipeline import text_to_image
from .shapes_eval import (
    adherence_prompts,
    frechet_distance,
    load_shapes_evaluator,
    prompt_adherence,
    render_scenes,
    round_trip_adherence,
)
from .spaces import SPACES, check_spaces
from .strict_json import dumps
from .train import LDMTrainSettings, hardware, train_ldm
from .viz import study_figure
from .why_latent import fair_pixel_config, flop_counter

RESULTS_DIR = Path(__file__).parent / "results"
FLOOR_SEED = 30_000  # the second set of real pictures for the Fréchet floor: not the adherence prompts' seed


@dataclass
class PixelSpaceConfig:
    latent_channels: int = 3
    downsample_factor: int = 1
    scaling_factor: float = 1.0
    name: str = "pixel"

    def to_json(self) -> str:
        return json.dumps(asdict(self))


class PixelSpace(nn.Module):
    """Pixel space dressed as an autoencoder (f = 1, c = 3), so the same pipeline runs in it.

    to_latent multiplies the pixels by a scaling factor (1/std over data, as for a VAE's latents, so
    the diffusion model sees unit variance in every space); from_latent divides it out."""

    def __init__(self, scaling_factor: float = 1.0):
        super().__init__()
        self.config = PixelSpaceConfig(scaling_factor=float(scaling_factor))
        self.anchor = nn.Parameter(torch.zeros(0), requires_grad=False)  # no weights; carries the device

    @property
    def downsample_factor(self) -> int:
        return 1

    @property
    def scaling_factor(self) -> float:
        return self.config.scaling_factor

    def to_latent(self, x: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        return x.to(self.anchor.device) * self.config.scaling_factor

    def from_latent(self, latent: torch.Tensor) -> torch.Tensor:
        return latent / self.config.scaling_factor


def space_autoencoder(space: str, image_size: int = 64):
    """The 'autoencoder' of a space: PixelSpace (its scaling factor from 256 training pictures) or a shipped VAE."""
    check_spaces([space])
    if space == "pixel":
        images, _, _ = CaptionedShapes(256, size=image_size, seed=0, two_objects=0.15).batch(range(256))
        return PixelSpace(1.0 / float(images.std()))
    return load_pretrained(f"vae-{SPACES[space].vae}", kind="vae").eval()


@dataclass
class StudySettings:
    minutes_per_run: float = 10.0
    image_size: int = 64
    batch_size: int = 32
    dataset_size: int = 8000
    samples: int = 64                 # held-out prompts per evaluation
    evals: int = 3                    # evaluations per run, at 1/evals, 2/evals, … of its budget
    sampler: str = "ddim"
    sample_steps: int = 20            # DDIM steps of every evaluation picture
    cfg: float = 7.5
    seed: int = 0
    spaces: tuple[str, ...] = tuple(SPACES)
    tiny: bool = False                # LDMConfig.tiny()'s UNet and text encoder (for the tests)

    def __post_init__(self):
        self.spaces = check_spaces(self.spaces)
        if not 0 < self.minutes_per_run < float("inf"):
            raise ValueError(f"minutes_per_run must be positive, got {self.minutes_per_run}")
        if self.image_size % 16 or self.image_size < 32:
            raise ValueError(f"image_size must be a multiple of 16 and at least 32 (f16 latents), got {self.image_size}")
        if self.samples < 2 or self.evals < 1:
            raise ValueError(f"need samples ≥ 2 (a covariance) and evals ≥ 1, got {self.samples} and {self.evals}")


def study_config(space: str, settings: StudySettings):
    """The LDM config of one run: the course's recipe with the space's channels. Pixel space gets the
    recipe built as DDPM and ADM build pixel models (`why_latent.fair_pixel_config`: attention only
    at ≤ 32×32, levels down to 8×8), not self-attention over every pixel, which no pixel model has."""
    f, c, _ = SPACES[space]
    base = LDMConfig.tiny() if settings.tiny else LDMConfig()
    unet = replace(base.unet, in_channels=c, out_channels=c, sample_size=settings.image_size // f)
    if space == "pixel":
        unet = fair_pixel_config(unet, settings.image_size)
    return replace(base, unet=unet, vae=space, image_size=settings.image_size)


def training_step_flops(model, batch_size: int, latent_shape: tuple[int, ...]) -> float:
    """FLOPs of one training step (forward and backward of UNet and text encoder), counted on a
    batch of one and multiplied by the batch size (every op here is linear in the batch)."""
    ids = model.tokenizer(["a red circle on a white background"])
    x = torch.randn(1, *latent_shape)
    with flop_counter() as counter:
        loss = model.unet(x, torch.tensor([500]), model.text_encoder(ids)).square().mean()
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() * batch_size


def real_features(evaluator, scenes, image_size: int) -> torch.Tensor:
    """The evaluator's features (N, D) of real pictures of `scenes`: the Fréchet reference."""
    return evaluator.embed(render_scenes(scenes, image_size))


@torch.no_grad()
def evaluate_point(model, autoencoder, evaluator, settings: StudySettings, reference: torch.Tensor) -> dict:
    """Adherence and Fréchet distance of `model` now, on the study's held-out prompts."""
    was_training = model.training
    model.eval()
    pictures: list[torch.Tensor] = []
    adherence = prompt_adherence(model, autoencoder, evaluator, n=settings.samples, sampler=settings.sampler,
                                 steps=settings.sample_steps, cfg=settings.cfg, seed=settings.seed, progress=False,
                                 keep=pictures)
    model.train(was_training)
    return {"joint": adherence["joint"], "shape": adherence["shape"], "color": adherence["color"],
            "frechet": round(frechet_distance(evaluator.embed(torch.cat(pictures)), reference), 3)}


@torch.no_grad()
def round_trip(autoencoder, evaluator, settings: StudySettings, reference: torch.Tensor) -> dict:
    """What the space itself keeps: the real pictures of the held-out prompts through the autoencoder
    and back, read by the evaluator. No model trained in the space can be expected to beat it by much
    (see `shapes_eval.round_trip_adherence`); pixel space keeps everything."""
    pictures: list[torch.Tensor] = []
    adherence = round_trip_adherence(autoencoder, evaluator, n=settings.samples, image_size=settings.image_size,
                                     keep=pictures)
    return {"joint": adherence["joint"], "shape": adherence["shape"], "color": adherence["color"],
            "frechet": round(frechet_distance(evaluator.embed(torch.cat(pictures)), reference), 3)}


@torch.no_grad()
def images_per_second(model, autoencoder, settings: StudySettings, images: int = 16, repeats: int = 2) -> float:
    """Pictures per second: `images` prompts, the study's sampler, steps and CFG, decode included."""
    prompts = [f"a {c} square on a white background" for c in ("red", "blue", "green", "black")] * (images // 4 + 1)
    text_to_image(model, autoencoder, prompts[:images], steps=2, cfg=settings.cfg)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        text_to_image(model, autoencoder, prompts[:images], steps=settings.sample_steps, cfg=settings.cfg,
                      sampler=settings.sampler)
        times.append(time.perf_counter() - start)
    return round(images / statistics.median(times), 3)


def run_space(space: str, settings: StudySettings, out_dir: Path, evaluator, reference: torch.Tensor,
              progress: bool = True) -> dict:
    """Train one space for the budget, evaluating along the way; returns its record."""
    autoencoder = space_autoencoder(space, settings.image_size)
    config = study_config(space, settings)
    f, c = autoencoder.downsample_factor, autoencoder.config.latent_channels
    latent_shape = (c, settings.image_size // f, settings.image_size // f)
    train_settings = LDMTrainSettings(minutes=settings.minutes_per_run, batch_size=settings.batch_size,
                                      dataset_size=settings.dataset_size, seed=settings.seed,
                                      checkpoint_every=float("inf"))
    step_flops = training_step_flops(LatentDiffusion(config), settings.batch_size, latent_shape)
    budget_s = 60 * settings.minutes_per_run
    points = [budget_s * k / settings.evals for k in range(1, settings.evals)]  # the last one is after training
    curve, clock = [], {"seconds": 0.0}

    def record(step: int, seconds: float, model) -> None:
        point = evaluate_point(model, autoencoder, evaluator, settings, reference)
        curve.append({"train_minutes": round(seconds / 60, 3), "steps": step,
                      "train_pflops": float(f"{step * step_flops / 1e15:.4g}")} | point)

    def callback(step, metrics, ema):
        clock["seconds"] = metrics["train_seconds"]
        if points and metrics["train_seconds"] >= points[0]:
            points.pop(0)
            record(step, metrics["train_seconds"], ema)

    # A space is trained afresh whenever it has no finished record (an interrupted or changed run): overwrite.
    model, metrics = train_ldm(None, train_settings, config=config, vae=autoencoder, run_dir=out_dir / space,
                               progress=progress, callback=callback, callback_every=1, overwrite=True)
    # metrics' train_minutes is rounded to 0.01: the last step's own clock keeps the curve in order.
    record(metrics["steps"], max(clock["seconds"], 60 * metrics["train_minutes"]), model)
    return {"space": space, "latent_shape": list(latent_shape), "values": int(torch.tensor(latent_shape).prod()),
            "steps": metrics["steps"], "train_minutes": curve[-1]["train_minutes"],
            "step_gflops": round(step_flops / 1e9, 2), "final_loss": metrics["final_loss"],
            "unet": json.loads(config.unet.to_json()),
            "curve": curve, "final": curve[-1],
            "images_per_second": images_per_second(model, autoencoder, settings),
            "hardware": hardware(), "interrupted": metrics["interrupted"]}


def run_study(out_dir, settings: StudySettings, progress: bool = True) -> dict:
    """Every space of `settings` in turn (finished ones are read back, not rerun); returns the
    study's record and writes it to `<out_dir>/study-ldm-f.json` with its figure beside it."""

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    evaluator = load_shapes_evaluator()
    scenes = [scene for scene, _ in adherence_prompts(settings.samples)]
    reference = real_features(evaluator, scenes, settings.image_size)
    # The floor of the Fréchet distance at this N: two sets of *real* pictures of different scenes.
    others = [scene for scene, _ in adherence_prompts(settings.samples, seed=FLOOR_SEED)]
    floor = frechet_distance(real_features(evaluator, others, settings.image_size), reference)
    key = {k: v for k, v in asdict(settings).items() if k != "spaces"}
    runs = []
    for space in settings.spaces:
        path = out_dir / f"{space}.json"
        if path.is_file():
            saved = json.loads(path.read_text())
            # A finished run is kept only if it trained the model this code builds (the pixel model changed).
            same_model = saved["run"].get("unet") == json.loads(study_config(space, settings).unet.to_json())
            if saved.get("settings") == key and same_model and not saved["run"]["interrupted"]:
                runs.append(saved["run"])
                continue
        run = run_space(space, settings, out_dir, evaluator, reference, progress=progress)
        if run["interrupted"]:
            raise KeyboardInterrupt(f"the {space} run was interrupted; run the study again to redo it")
        write_json(path, {"settings": key, "run": run})
        runs.append(run)
    # Cheap, so measured afresh every time: what each space loses before any training.
    round_trips = {space: round_trip(space_autoencoder(space, settings.image_size), evaluator, settings, reference)
                   for space in settings.spaces}
    result = {"study": "ldm-f", "settings": key, "hardware": hardware(), "runs": runs,
              "round_trip": round_trips, "frechet_real_vs_real": round(floor, 3),
              "command": f"latentlab study ldm-f --minutes-per-run {settings.minutes_per_run:g}"}
    write_json(out_dir / "study-ldm-f.json", result)
    study_figure(result).savefig(out_dir / "study-ldm-f.png", dpi=110, bbox_inches="tight")
    return result


def summary(result: dict) -> str:
    """The study's record as a table: per space, the model after training and the round trip."""
    lines = [f"{'':>33} {'after training':>15}   {'round trip':>15}",
             f"{'space':>7} {'latent':>10} {'steps':>6} {'PFLOPs':>7} {'joint':>6} {'Fréchet':>8}   {'joint':>6} "
             f"{'Fréchet':>8} {'pictures/s':>10}"]
    for run in result["runs"]:
        shape = "×".join(str(n) for n in run["latent_shape"])
        trip = result["round_trip"][run["space"]]
        lines.append(f"{run['space']:>7} {shape:>10} {run['steps']:>6} {run['curve'][-1]['train_pflops']:>7.3g} "
                     f"{run['final']['joint']:>6.2f} {run['final']['frechet']:>8.3g}   {trip['joint']:>6.2f} "
                     f"{trip['frechet']:>8.3g} {run['images_per_second']:>10.3g}")
    lines.append("round trip: the real pictures of the same prompts through the space's autoencoder and back")
    lines.append(f"Fréchet distance between two sets of real pictures (the floor at this N): "
                 f"{result['frechet_real_vs_real']}")
    return "\n".join(lines)


def load_study(path=None) -> dict:
    """The committed study (`latentlab/results/study-ldm-f.json`) or one at `path`."""
    path = Path(path) if path is not None else RESULTS_DIR / "study-ldm-f.json"
    if not path.is_file():
        raise FileNotFoundError(f"no study results at {path}; make them with `latentlab study ldm-f`")
    return json.loads(path.read_text())


def write_json(path: Path, obj) -> None:
    """Strict JSON (no NaN: null and a reason), atomically: a crash mid-write leaves the old file."""
    atomic_write_text(path, dumps(obj, indent=2))


__all__ = ["PixelSpace", "StudySettings", "load_study", "round_trip", "run_space", "run_study",
           "space_autoencoder", "study_config", "summary"]
