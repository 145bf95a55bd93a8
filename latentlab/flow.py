"""Flow matching / rectified flow: the forward process of Stable Diffusion 3 and FLUX.

DDPM noises data along x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε and trains the model to predict ε. Rectified flow
(Liu et al. 2023; flow matching, Lipman et al. 2023; SD3: Esser et al. 2024) draws a *straight line*
from data (t = 0) to noise (t = 1) and trains the model to predict the velocity along it:

    x_t = (1 − t)·x0 + t·ε,        u = dx_t/dt = ε − x0          (SD3 eq. 2–3 with a_t = 1 − t, b_t = t)

Sampling runs the ODE dx/dt = u_θ(x, t) from t = 1 back to 0 (`samplers/flow_euler.py`).

| code              | symbol                  | meaning                                                   |
|-------------------|-------------------------|-----------------------------------------------------------|
| `t`               | t ∈ [0, 1]              | flow time: 0 is data, 1 is pure noise (SD3's convention)  |
| `timestep`        | 1000·t                  | what the model's time embedding sees (SD3, diffusers)     |
| `x_t`             | z_t = (1 − t)x0 + tε    | the flow sample                                           |
| `velocity`        | u = ε − x0              | the flow model's target ("flow" or "velocity" prediction) |
| `v`               | v = α·ε − σ·x0          | Salimans & Ho's v-prediction (VP path, α² + σ² = 1)       |
| `shift`           | α in SD3 §5.3.2         | timestep shift: t ↦ αt / (1 + (α − 1)t)                   |
| `alpha_bar`       | ᾱ                       | the DDPM schedule's signal fraction                       |

**The bridge to DDPM.** Both paths are a·x0 + b·ε; only the signal-to-noise ratio a²/b² matters to
the optimal denoiser. Equal SNR, ᾱ/(1 − ᾱ) = (1 − t)²/t², gives

    t = √(1−ᾱ) / (√ᾱ + √(1−ᾱ)) = σ/(1 + σ)  (σ = √((1−ᾱ)/ᾱ), Karras' σ),    x_flow = x_vp / (√ᾱ + √(1−ᾱ)),

so a DDPM model can drive a flow sampler and back, after this rescaling of x and of its prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

PREDICTIONS = ("epsilon", "x0", "v_prediction", "velocity")


# --- the forward process ---------------------------------------------------------------------


def _per_sample(t, like: torch.Tensor) -> torch.Tensor:
    """t (a number, 0-d, or (B,)) → a tensor that broadcasts over `like` (B, ...)."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.reshape((-1,) + (1,) * (like.ndim - 1)) if t.ndim == 1 else t


def interpolate(x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
    """The rectified-flow forward process x_t = (1 − t)·x0 + t·ε (arguments in q_sample's order).

    x0, noise: (B, ...) of one shape; t: flow time(s) in [0, 1], a number or (B,). → x_t like x0."""
    if noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0: x0 is {tuple(x0.shape)}, noise is {tuple(noise.shape)}")
    t = _per_sample(t, x0)
    if ((t < 0) | (t > 1)).any():
        raise ValueError(f"flow time t must lie in [0, 1] (0 = data, 1 = noise), got {t.flatten().tolist()[:6]}")
    return (1 - t) * x0 + t * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The training target u = dx_t/dt = ε − x0: the same at every t on one line. Shape of x0."""
    return noise - x0


def logit_normal_t(n: int, mean: float = 0.0, std: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """n training times t = sigmoid(u), u ~ N(mean, std²) (SD3 §3.1, "lognorm"; (0, 1) is its best).

    Uniform t spends as much training near the two ends as in the middle, yet the ends are easy:
    at t = 0 the best guess of u = ε − x0 is −x_t (the noise is independent of the data), at t = 1
    it is x_t − E[x0]. The middle is where the velocity is hard to predict, and where the
    logit-normal puts its mass. → (n,) float32 in (0, 1)."""
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std}")
    return torch.sigmoid(mean + std * torch.randn(n, generator=generator))


def logit_normal_density(t: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """π_ln(t) = exp(−(logit t − m)²/(2s²)) / (s√(2π)·t(1 − t)) (SD3 eq. 19), for t in (0, 1)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    logit = torch.log(t) - torch.log1p(-t)
    return torch.exp(-((logit - mean) ** 2) / (2 * std**2)) / (std * math.sqrt(2 * math.pi) * t * (1 - t))


def shift_time(t, shift: float):
    """SD3's timestep shift (§5.3.2, eq. 23): t ↦ α·t / (1 + (α − 1)·t), α = `shift`.

    It keeps 0 and 1 fixed and, for α > 1, moves every t in between towards noise. Why the amount
    depends on resolution: neighbouring pixels (or latent values) are correlated, so the more of
    them an image has, the more of its signal survives a given t — a model can average the noise
    away over many values (SD3 works it out for a constant image: the uncertainty left falls with
    √(number of values)). To destroy the signal as thoroughly at m values as at n, t must move by
    α = √(m/n) in the odds t/(1 − t), which is this map. SD3 samples at 1024² with α = 3.0 (chosen
    by human preference in §5.3.2). FLUX's `time_shift(μ, 1, t)` is the same map with α = e^μ.
    Works on numbers, numpy arrays and tensors alike."""
    if not shift > 0:
        raise ValueError(f"shift must be > 0 (1 = no shift; SD3 uses 3.0 at 1024²), got {shift}")
    return shift * t / (1 + (shift - 1) * t)


def resolution_shift(num_values: int, base_num_values: int) -> float:
    """α = √(m/n) of SD3 §5.3.2: the shift that makes m values as noisy at each t as n values were
    at the resolution the schedule was designed for (e.g. a 128×128 latent vs a 64×64 one: α = 2)."""
    if num_values <= 0 or base_num_values <= 0:
        raise ValueError(f"both sizes must be positive numbers of values, got {num_values} and {base_num_values}")
    return math.sqrt(num_values / base_num_values)


@dataclass(frozen=True)
class FlowSchedule:
    """What the flow samplers need to know about training: T (timestep = T·t) and the shift.

    Plays the part `NoiseSchedule` plays for the diffusion samplers; its table `sigmas` is the flow
    time at each of the T training timesteps, as SD3's and diffusers' `FlowMatchEulerDiscreteScheduler`
    build it: t_k = shift(k/T) for k = T … 1 (descending; t = 0 itself is never a model input)."""

    num_train_timesteps: int = 1000  # the model sees timestep = T·t, the range of a DDPM time embedding
    shift: float = 1.0  # 1 = the plain straight-line schedule; SD3 uses 3.0 at 1024² (see shift_time)

    def __post_init__(self):
        if not isinstance(self.num_train_timesteps, int) or self.num_train_timesteps < 2:
            raise ValueError(f"num_train_timesteps must be an integer ≥ 2, got {self.num_train_timesteps!r}")
        shift_time(0.5, self.shift)  # checks the shift

    @property
    def sigmas(self) -> torch.Tensor:
        """(T,) float32, descending from 1: the flow time of each training timestep."""
        T = self.num_train_timesteps
        unshifted = torch.from_numpy(np.linspace(1, T, T, dtype=np.float32)[::-1].copy()) / T
        return shift_time(unshifted, self.shift)

    def check_t(self, timestep) -> torch.Tensor:
        """A model timestep (T·t) as float64 after checking it lies in [0, T]; ValueError otherwise."""
        timestep = torch.as_tensor(timestep).detach().cpu().to(torch.float64)
        T = self.num_train_timesteps
        if not torch.isfinite(timestep).all() or (timestep < 0).any() or (timestep > T).any():
            raise ValueError(f"timestep {timestep.flatten().tolist()[:6]} is outside the flow schedule: expected "
                             f"0 ≤ timestep ≤ {T} (timestep = {T}·t, t the flow time in [0, 1])")
        return timestep


# --- the bridge: DDPM's ᾱ ↔ flow time, and the four predictions --------------------------------


def alpha_bar_to_flow_time(alpha_bar):
    """The flow time with DDPM's SNR at ᾱ: t = √(1−ᾱ)/(√ᾱ + √(1−ᾱ)). Tensor in, tensor out."""
    alpha_bar = torch.as_tensor(alpha_bar, dtype=torch.float64)
    return (1 - alpha_bar).sqrt() / (alpha_bar.sqrt() + (1 - alpha_bar).sqrt())


def flow_time_to_alpha_bar(t):
    """The inverse: ᾱ = (1 − t)² / ((1 − t)² + t²). Tensor in, tensor out."""
    t = torch.as_tensor(t, dtype=torch.float64)
    return (1 - t) ** 2 / ((1 - t) ** 2 + t**2)


def vp_to_flow_sample(x_vp: torch.Tensor, alpha_bar) -> torch.Tensor:
    """DDPM's x_t = √ᾱ·x0 + √(1−ᾱ)·ε → the flow sample with the same x0, ε: x_vp / (√ᾱ + √(1−ᾱ))."""
    alpha_bar = _per_sample(alpha_bar, x_vp)
    return x_vp / (alpha_bar.sqrt() + (1 - alpha_bar).sqrt())


def flow_to_vp_sample(x_t: torch.Tensor, t) -> torch.Tensor:
    """The flow sample at t → DDPM's x_t at the matching ᾱ: x_t / √((1 − t)² + t²)."""
    t = _per_sample(t, x_t)
    return x_t / ((1 - t) ** 2 + t**2).sqrt()


def _check_kind(kind: str) -> None:
    if kind not in PREDICTIONS:
        raise ValueError(f"unknown prediction {kind!r}; known: {', '.join(PREDICTIONS)}")


def to_x0_and_eps(prediction: torch.Tensor, x_t: torch.Tensor, t, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0, ε) from any of the four predictions of a model at the flow sample x_t, flow time t.

    Each prediction is a fixed mix of x0 and ε, and x_t = (1 − t)x0 + tε is another, so any one of
    them with x_t gives both. Shapes of x_t. (ε from x0 needs t > 0, x0 from ε needs t < 1.)"""
    _check_kind(kind)
    t = _per_sample(t, x_t)
    if kind == "velocity":  # u = ε − x0  ⇒  x0 = x_t − t·u,  ε = x_t + (1 − t)·u
        return x_t - t * prediction, x_t + (1 - t) * prediction
    if kind == "epsilon":
        return (x_t - t * prediction) / (1 - t), prediction
    if kind == "x0":
        return prediction, (x_t - (1 - t) * prediction) / t
    # v_prediction on the matching VP sample x_vp = x_t/n: x0 = α·x_vp − σ·v, ε = σ·x_vp + α·v
    norm = ((1 - t) ** 2 + t**2).sqrt()
    alpha, sigma, x_vp = (1 - t) / norm, t / norm, x_t / norm
    return alpha * x_vp - sigma * prediction, sigma * x_vp + alpha * prediction


def from_x0_and_eps(x0: torch.Tensor, eps: torch.Tensor, t, kind: str) -> torch.Tensor:
    """The prediction of kind `kind` that a perfect model would make for this (x0, ε) at flow time t."""
    _check_kind(kind)
    if kind == "velocity":
        return eps - x0
    if kind == "epsilon":
        return eps
    if kind == "x0":
        return x0
    t = _per_sample(t, x0)
    norm = ((1 - t) ** 2 + t**2).sqrt()
    return (1 - t) / norm * eps - t / norm * x0  # v = α·ε − σ·x0 (Salimans & Ho 2022, §4)


def convert_prediction(prediction: torch.Tensor, x_t: torch.Tensor, t, source: str, target: str) -> torch.Tensor:
    """Rewrite a model's prediction at (x_t, t) as another kind, e.g. ε → velocity. Shapes of x_t."""
    x0, eps = to_x0_and_eps(prediction, x_t, t, source)
    return from_x0_and_eps(x0, eps, t, target)


# --- how straight is a sampling path? -----------------------------------------------------------


def straightness(xs: torch.Tensor, ts) -> torch.Tensor:
    """Liu et al. 2023's straightness S = ∫ ‖(x_1 − x_0) − ẋ_t‖² dt (§2.2, eq. 5), discretised and made
    relative: a path's mean squared deviation from its own chord, over the chord's squared length.

    xs: (n + 1, B, ...) the states of B paths at the n + 1 flow times `ts` (n + 1,), in the order
    they were visited (from noise to data or back). The velocity of segment i is
    (x_{i+1} − x_i)/(t_{i+1} − t_i), the chord's is (x_n − x_0)/(t_n − t_0); each segment weighs its
    Δt. → (B,) float64: 0 for a straight line run at constant speed, 1 for a path whose velocity
    deviates from the chord's by as much as the chord itself, on average."""
    xs = torch.as_tensor(xs).double()
    ts = torch.as_tensor(ts, dtype=torch.float64)
    if xs.ndim < 2 or ts.ndim != 1 or len(ts) != len(xs) or len(ts) < 2:
        raise ValueError(f"expected states (n + 1, B, ...) and times (n + 1,) with n ≥ 1, got {tuple(xs.shape)} "
                         f"and {tuple(ts.shape)}")
    dt = ts[1:] - ts[:-1]  # (n,)
    if not ((dt > 0).all() or (dt < 0).all()):
        raise ValueError(f"flow times must run one way (all increasing or all decreasing), got {ts.tolist()[:8]}")
    flat = xs.reshape(len(xs), xs.shape[1], -1)  # (n + 1, B, D)
    velocities = (flat[1:] - flat[:-1]) / dt[:, None, None]  # (n, B, D)
    chord = (flat[-1] - flat[0]) / (ts[-1] - ts[0])  # (B, D)
    deviation = ((velocities - chord) ** 2).sum(-1)  # (n, B)
    weights = (dt.abs() / dt.abs().sum())[:, None]
    return (weights * deviation).sum(0) / (chord**2).sum(-1).clamp_min(1e-30)


def trajectory_in_flow_time(trajectory, schedule) -> tuple[torch.Tensor, torch.Tensor]:
    """A sampling run (`latentlab.pipeline.Trajectory`) as a path in flow coordinates, so DDPM and
    flow runs compare on one axis: → (states (n + 1, B, ...), flow times (n + 1,)), ending at the
    sample (t = 0).

    A flow run's states are flow samples already. A diffusion run's are variance-preserving
    x = √ᾱ·x0 + √(1−ᾱ)·ε: each is rescaled to the flow sample with the same signal-to-noise
    ratio (`vp_to_flow_sample`) at flow time `alpha_bar_to_flow_time(ᾱ)`."""
    states = trajectory.stacked("x_t")  # (n, B, ...)
    timesteps = torch.as_tensor(trajectory.timesteps, dtype=torch.float64)
    if isinstance(schedule, FlowSchedule):
        ts = timesteps / schedule.num_train_timesteps
    else:
        alpha_bar = schedule.alpha_bar_at(timesteps).double()  # (n,)
        ts = alpha_bar_to_flow_time(alpha_bar)
        scale = alpha_bar.sqrt() + (1 - alpha_bar).sqrt()
        states = states.double() / scale.reshape((-1,) + (1,) * (states.ndim - 1))
    sample = trajectory.sample.detach().cpu().double()[None]
    return torch.cat([states.double(), sample]), torch.cat([ts, torch.zeros(1, dtype=torch.float64)])


__all__ = ["PREDICTIONS", "interpolate", "velocity_target", "logit_normal_t", "logit_normal_density", "shift_time",
           "resolution_shift", "FlowSchedule", "alpha_bar_to_flow_time", "flow_time_to_alpha_bar",
           "vp_to_flow_sample", "flow_to_vp_sample", "to_x0_and_eps", "from_x0_and_eps", "convert_prediction",
           "straightness", "trajectory_in_flow_time"]
