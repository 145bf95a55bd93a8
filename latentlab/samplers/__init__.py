"""Samplers: turn a denoising model into a sampler of data, one algorithm per file.

Every sampler has the same small API, and holds no step counter a caller could get out of sync:

    sampler = make_sampler("ddim", schedule)          # or DDIMSampler(schedule, eta=0.0)
    sampler.set_timesteps(20)                         # → sampler.timesteps, descending
    x = noise * sampler.init_noise_sigma
    for t in sampler.timesteps:
        model_output = model(sampler.scale_model_input(x, t), t, context)   # ε, v or velocity
        out = sampler.step(model_output, t, x)        # StepOutput(prev_sample, pred_x0, correct_at)
        if out.correct_at is not None:                # Heun: a second model call, at the trial point
            second = model(sampler.scale_model_input(out.prev_sample, out.correct_at), out.correct_at, context)
            out = sampler.correct(second, t, x, out)
        x = out.prev_sample

Diffusion samplers (`SAMPLERS`) run on a `NoiseSchedule` and read ε or v:

| name       | file          | paper                               | noise per step | order | model calls / step |
|------------|---------------|-------------------------------------|----------------|-------|--------------------|
| `ddpm`     | ddpm.py       | Ho et al. 2020, Alg. 2              | fresh (ancestral) | 1  | 1                  |
| `ddim`     | ddim.py       | Song et al. 2021, eq. 12, 16        | η·(DDPM's)     | 1     | 1                  |
| `euler`    | euler.py      | Karras et al. 2022, eq. 3, Alg. 1   | none (ODE)     | 1     | 1 (= DDIM η=0, another grid) |
| `dpmpp_2m` | dpmpp_2m.py   | Lu et al. 2022, Alg. 2              | none (ODE)     | 2     | 1 (re-uses the last) |
| `heun`     | heun.py       | Karras et al. 2022, Alg. 1          | none (ODE)     | 2     | 2 (1 on the last step) |

Flow samplers (`FLOW_SAMPLERS`) run on a `latentlab.flow.FlowSchedule` and read a velocity:

| name         | file          | paper                                | order | model calls / step |
|--------------|---------------|--------------------------------------|-------|--------------------|
| `flow_euler` | flow_euler.py | Liu et al. 2023; Esser et al. 2024   | 1     | 1                  |
| `flow_heun`  | flow_heun.py  | the same ODE, Heun's rule            | 2     | 2 (1 on the last step) |

A new sampler is one file here with a notation table and numbered steps, one line in a registry
below and a case in tests/test_samplers_oracle.py (or tests/test_flow.py).
"""

from __future__ import annotations

from latentlab.flow import FlowSchedule
from latentlab.samplers.base import PREDICTION_TYPES, Sampler, StepOutput
from latentlab.samplers.ddim import DDIMSampler
from latentlab.samplers.ddpm import DDPMSampler
from latentlab.samplers.dpmpp_2m import DPMPP2MSampler
from latentlab.samplers.euler import EulerSampler
from latentlab.samplers.flow_euler import FlowEulerSampler
from latentlab.samplers.flow_heun import FlowHeunSampler
from latentlab.samplers.heun import HeunSampler
from latentlab.schedules import NoiseSchedule

SAMPLERS: dict[str, type[Sampler]] = {
    "ddpm": DDPMSampler,
    "ddim": DDIMSampler,
    "euler": EulerSampler,
    "dpmpp_2m": DPMPP2MSampler,
    "heun": HeunSampler,
}

# Kept apart: a flow sampler needs a velocity model, so widgets offering SAMPLERS for the course's
# ε-prediction model must not offer these.
FLOW_SAMPLERS: dict[str, type[Sampler]] = {
    "flow_euler": FlowEulerSampler,
    "flow_heun": FlowHeunSampler,
}


def make_sampler(name: str, schedule: NoiseSchedule | FlowSchedule | None = None, **kwargs) -> Sampler:
    """A sampler by name (a key of SAMPLERS or FLOW_SAMPLERS); kwargs go to its constructor
    (prediction_type for all, eta for DDIM). The schedule defaults to Stable Diffusion's for the
    diffusion samplers and to the unshifted FlowSchedule for the flow samplers."""
    registry = {**SAMPLERS, **FLOW_SAMPLERS}
    if name not in registry:
        raise ValueError(f"unknown sampler {name!r}; known samplers: {', '.join(registry)}")
    return registry[name](schedule, **kwargs)


__all__ = ["StepOutput", "Sampler", "PREDICTION_TYPES", "SAMPLERS", "FLOW_SAMPLERS", "make_sampler",
           "DDPMSampler", "DDIMSampler", "EulerSampler", "DPMPP2MSampler", "HeunSampler", "FlowEulerSampler",
           "FlowHeunSampler"]
