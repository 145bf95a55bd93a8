"""Samplers: turn a noise-predicting model into a sampler of data, one algorithm per file.

Every sampler has the same small API, and holds no step counter a caller could get out of sync:

    sampler = make_sampler("ddim", schedule)          # or DDIMSampler(schedule, eta=0.0)
    sampler.set_timesteps(20)                         # → sampler.timesteps, descending
    x = noise * sampler.init_noise_sigma
    for t in sampler.timesteps:
        model_output = model(sampler.scale_model_input(x, t), t, context)   # ε or v
        out = sampler.step(model_output, t, x)        # StepOutput(prev_sample, pred_x0)
        x = out.prev_sample

| name       | file          | paper                               | noise per step | model calls |
|------------|---------------|-------------------------------------|----------------|-------------|
| `ddpm`     | ddpm.py       | Ho et al. 2020, Alg. 2              | fresh (ancestral) | 1        |
| `ddim`     | ddim.py       | Song et al. 2021, eq. 12, 16        | η·(DDPM's)     | 1           |
| `euler`    | euler.py      | Karras et al. 2022, eq. 3, Alg. 1   | none (ODE)     | 1           |
| `dpmpp_2m` | dpmpp_2m.py   | Lu et al. 2022, Alg. 2              | none (ODE)     | 1 (re-uses the last) |
"""

from __future__ import annotations

from latentlab.samplers.base import PREDICTION_TYPES, Sampler, StepOutput
from latentlab.samplers.ddim import DDIMSampler
from latentlab.samplers.ddpm import DDPMSampler
from latentlab.samplers.dpmpp_2m import DPMPP2MSampler
from latentlab.samplers.euler import EulerSampler
from latentlab.schedules import NoiseSchedule

SAMPLERS: dict[str, type[Sampler]] = {
    "ddpm": DDPMSampler,
    "ddim": DDIMSampler,
    "euler": EulerSampler,
    "dpmpp_2m": DPMPP2MSampler,
}


def make_sampler(name: str, schedule: NoiseSchedule | None = None, **kwargs) -> Sampler:
    """A sampler by name ('ddpm', 'ddim', 'euler', 'dpmpp_2m'); kwargs go to its constructor
    (prediction_type for all, eta for DDIM). The schedule defaults to Stable Diffusion's."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; known samplers: {', '.join(SAMPLERS)}")
    return SAMPLERS[name](schedule, **kwargs)


__all__ = ["StepOutput", "Sampler", "PREDICTION_TYPES", "SAMPLERS", "make_sampler",
           "DDPMSampler", "DDIMSampler", "EulerSampler", "DPMPP2MSampler"]
