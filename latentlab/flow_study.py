"""DDPM and rectified flow side by side: `latentlab study flow`.

Two text-to-image models with the same UNet, the same text encoder, the same data, the same latent
space (vae-f8c4) and the same training budget differ in one thing: ldm-shapes learns to predict the
noise ε on SD v1's DDPM schedule, ldm-shapes-flow the velocity ε − x0 along straight lines (SD3's
rectified flow). This module measures what that one change does, on the same prompts and seeds:

    adherence   joint shape + colour read back by the shapes evaluator, at 2, 4, 8, 20 and 50 steps,
                each model with its own first-order ODE sampler (DDIM for ε, Euler for the
                velocity: one model call per step, two with CFG), CFG 7.5
    speed       pictures per second at 20 steps (the same network: the same cost per step), and
                the fewest steps of the list at which each model reaches a given adherence
    straightness Liu et al. 2023's S (`latentlab.flow.straightness`) of 50-step sampling paths, both
                drawn in flow coordinates so the two are measured on one axis

The committed result, `latentlab/results/flow-vs-ddpm.json`, is what lesson 08 reads.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import flow
from .atomic import atomic_write_text
from .pipeline import make_generator, make_model_sampler, sample, text_to_image
from .shapes_eval import adherence_prompts, attribute_hits, evaluator_accuracy
from .strict_json import dumps

RESULTS_DIR = Path(__file__).parent / "results"
RESULT_FILE = RESULTS_DIR / "flow-vs-ddpm.json"
SAMPLER_OF = {"epsilon": "ddim", "velocity": "flow_euler"}  # each model's first-order ODE sampler


@dataclass
class FlowStudySettings:
    samples: int = 256                       # held-out prompts per adherence cell (seeded, as `eval ldm`)
    steps: tuple[int, ...] = (2, 4, 8, 20, 50)
    cfg: float = 7.5
    seed: int = 0
    batch_size: int = 32
    speed_steps: int = 20                    # pictures per second are timed at this many steps ...
    speed_batch: int = 8                     # ... on batches of this size, the models taking turns
    speed_repeats: int = 3
    path_samples: int = 32                   # paths whose straightness is measured ...
    path_steps: int = 50                     # ... with this many steps each

    def __post_init__(self):
        for name in ("samples", "batch_size", "speed_steps", "speed_batch", "speed_repeats", "path_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")
        if isinstance(self.path_steps, bool) or not isinstance(self.path_steps, int) or self.path_steps < 2:
            raise ValueError(f"path_steps must be an integer ≥ 2 (a path of one step is straight by definition), "
                             f"got {self.path_steps!r}")
        steps = tuple(self.steps)
        if not steps or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in steps):
            raise ValueError(f"steps must be a non-empty list of integers ≥ 1, got {self.steps!r}")
        self.steps = tuple(sorted(set(steps)))
        if not (isinstance(self.cfg, (int, float)) and math.isfinite(self.cfg) and self.cfg >= 0):
            raise ValueError(f"cfg must be a finite number ≥ 0 (1 = no guidance), got {self.cfg!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be an integer in [0, 2**63), got {self.seed!r}")


def model_sampler(model) -> str:
    """The sampler the study runs `model` with: DDIM for an ε model, flow Euler for a velocity model."""
    kind = model.config.prediction_type
    if kind not in SAMPLER_OF:
        raise ValueError(f"the study compares ε- and velocity-predicting models, this one predicts {kind!r}")
    return SAMPLER_OF[kind]


def adherence(model, vae, evaluator, settings: FlowStudySettings, steps: int, progress: bool = True) -> dict:
    """Joint, shape and colour adherence of `model` at `steps` steps on the study's prompts and seeds."""
    items = adherence_prompts(settings.samples)
    sampler = model_sampler(model)
    reads = []
    for start in tqdm(range(0, len(items), settings.batch_size), desc=f"{sampler} {steps} steps",
                      disable=not progress, unit="batch", leave=False):
        batch = items[start:start + settings.batch_size]
        pictures, _ = text_to_image(model, vae, [caption for _, caption in batch], seed=settings.seed + start,
                                    steps=steps, cfg=settings.cfg, sampler=sampler)
        reads += evaluator.predict(pictures)
    hits = attribute_hits([scene for scene, _ in items], reads)
    return {key: round(hits[key], 4) for key in ("joint", "shape", "color", "background")}


def pictures_per_second(models: dict, vae, settings: FlowStudySettings) -> dict[str, float]:
    """Median pictures per second of each model at `speed_steps` steps (decoding included), the
    models taking turns so that a machine busy with other work slows both alike."""
    prompts = [caption for _, caption in adherence_prompts(settings.speed_batch)]
    times = {name: [] for name in models}
    for repeat in range(settings.speed_repeats + 1):  # the first round warms up and is not counted
        for name, model in models.items():
            start = time.perf_counter()
            text_to_image(model, vae, prompts, seed=settings.seed, steps=settings.speed_steps, cfg=settings.cfg,
                          sampler=model_sampler(model))
            if repeat:
                times[name].append(time.perf_counter() - start)
    return {name: round(settings.speed_batch / statistics.median(seconds), 3) for name, seconds in times.items()}


@torch.no_grad()
def path_straightness(model, vae, settings: FlowStudySettings) -> dict:
    """Mean and spread of the straightness S of `path_samples` sampling paths of `path_steps` steps,
    with CFG, in flow coordinates (`flow.trajectory_in_flow_time`)."""
    from .pipeline import empty_latent, encode_prompt

    prompts = [caption for _, caption in adherence_prompts(settings.path_samples)]
    size = model.config.image_size
    latent = empty_latent(size, size, len(prompts), vae.config.latent_channels, vae.downsample_factor)
    run = sample(model, make_model_sampler(model, model_sampler(model)), latent_shape=latent.shape,
                 steps=settings.path_steps, cfg=settings.cfg, context=encode_prompt(model, prompts),
                 uncond_context=encode_prompt(model, [""] * len(prompts)), generator=make_generator(settings.seed))
    states, ts = flow.trajectory_in_flow_time(run, model.schedule)
    s = flow.straightness(states, ts)
    return {"mean": round(float(s.mean()), 4), "std": round(float(s.std()), 4), "paths": len(s),
            "steps": settings.path_steps, "t_start": round(float(ts[0]), 4)}


def fewest_steps(curve: dict, level: float) -> int | None:
    """The fewest steps of the study's list at which joint adherence reaches `level` (None: never)."""
    for steps in sorted(curve, key=int):
        if curve[steps]["joint"] >= level:
            return int(steps)
    return None


def run_flow_study(models: dict, vae, evaluator, settings: FlowStudySettings, progress: bool = True,
                   cards: dict | None = None) -> dict:
    """models: {name: LatentDiffusion} (an ε model and a velocity model). → the study's record."""
    from .train import hardware

    result = {"settings": asdict(settings) | {"steps": list(settings.steps)},
              "samplers": {name: model_sampler(model) for name, model in models.items()},
              "models": cards or {}, "hardware": hardware(),
              "evaluator_accuracy": evaluator_accuracy(evaluator), "adherence": {}}
    bar = tqdm(total=len(models) * len(settings.steps), desc="study flow: adherence", disable=not progress,
               unit="cell")
    for name, model in models.items():
        result["adherence"][name] = {}
        for steps in settings.steps:
            result["adherence"][name][str(steps)] = adherence(model, vae, evaluator, settings, steps, progress)
            bar.update()
    bar.close()
    result["straightness"] = {name: path_straightness(model, vae, settings) for name, model in models.items()}
    result["pictures_per_second"] = pictures_per_second(models, vae, settings)
    result["fewest_steps_to_90"] = {name: fewest_steps(curve, 0.90) for name, curve in result["adherence"].items()}
    return result


def summary(result: dict) -> str:
    """The study as a table: adherence per step count, then speed and straightness."""
    names = list(result["adherence"])
    steps = result["settings"]["steps"]
    lines = [f"joint shape + colour adherence ({result['settings']['samples']} prompts, CFG {result['settings']['cfg']})",
             f"{'steps':>6} " + " ".join(f"{name + ' (' + result['samplers'][name] + ')':>30}" for name in names)]
    for s in steps:
        lines.append(f"{s:>6} " + " ".join(f"{result['adherence'][name][str(s)]['joint']:>30.3f}" for name in names))
    for name in names:
        st = result["straightness"][name]
        lines.append(f"{name}: {result['pictures_per_second'][name]} pictures/s at "
                     f"{result['settings']['speed_steps']} steps; straightness S = {st['mean']} ± {st['std']}; "
                     f"fewest steps to 90 % joint: {result['fewest_steps_to_90'][name]}")
    return "\n".join(lines)


def load_result(path=None) -> dict:
    """The committed comparison (`latentlab/results/flow-vs-ddpm.json`) or one at `path`."""
    path = Path(path) if path is not None else RESULT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no flow study at {path}; make it with `latentlab study flow`")
    return json.loads(path.read_text())


def write_result(path, result: dict) -> Path:
    """Strict JSON, atomically: a crash mid-write leaves the old file."""
    return atomic_write_text(Path(path), dumps(result, indent=2))


__all__ = ["FlowStudySettings", "RESULT_FILE", "adherence", "fewest_steps", "load_result", "model_sampler",
           "path_straightness", "pictures_per_second", "run_flow_study", "summary", "write_result"]
