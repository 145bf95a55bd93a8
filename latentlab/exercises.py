"""Self-checks for the classroom exercises: compare a student's function with the reference on
random inputs, and when it is wrong say *which* common mistake it made.

The framework is generic; every lesson adds its checkers below it.

    result = check(student_fn, reference_fn, make_inputs, mistakes=[Mistake(...), ...])

- `make_inputs(generator) -> dict` builds one random set of keyword arguments; `check` tries
  `trials` of them, so a function that is right by accident on one input is still caught.
- A `Mistake(name, hint, fn)` is a deliberately wrong version of the reference. If the student's
  output matches a mistake's output (and not the reference's), the mistake is named with its hint.
- Otherwise the message says how far off the output is (or that its shape/type is wrong).
- `check` prints ✅ or ❌ plus a hint, returns a `CheckResult` (tests assert on it), and never raises:
  a student never sees a traceback from the course's machinery, only their own function's error.

A lesson's checker is a one-liner over `check`, e.g. `check_q_sample(q_sample)`.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Mistake:
    """A named common mistake: `fn` takes the same arguments as the reference and makes the mistake."""

    name: str
    hint: str
    fn: Callable


@dataclass
class CheckResult:
    """passed: all trials matched; mistake: the name of the recognised mistake, if any; message: what was printed."""

    passed: bool
    message: str
    mistake: str | None = None

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self):  # already printed by check(); show nothing more in a notebook
        pass


def _close(a, b, atol: float, rtol: float) -> bool:
    """Same type, shape and values within tolerance; works for tensors, numbers, tuples and None."""
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_close(x, y, atol, rtol) for x, y in zip(a, b))
    if isinstance(b, torch.Tensor):
        if not isinstance(a, torch.Tensor) or a.shape != b.shape:
            return False
        return bool(torch.allclose(a.double(), b.double(), atol=atol, rtol=rtol, equal_nan=False))
    if isinstance(b, (int, float)) and not isinstance(b, bool):
        if isinstance(a, torch.Tensor) and a.numel() == 1:
            a = a.item()
        return isinstance(a, (int, float)) and math.isfinite(a) and abs(a - b) <= atol + rtol * abs(b)
    return a == b


def _describe_difference(got, expected) -> str:
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"expected a tensor of shape {tuple(expected.shape)}, your function returned {type(got).__name__}"
        if got.shape != expected.shape:
            return f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
        if not torch.isfinite(got).all():
            return "your output holds NaN or inf values"
        return f"values are off by up to {(got.double() - expected.double()).abs().max().item():.3g}"
    return f"expected {expected!r}, got {got!r}"


def _report(message: str, passed: bool, mistake: str | None, quiet: bool) -> CheckResult:
    if not quiet:
        print(message)
    return CheckResult(passed=passed, message=message, mistake=mistake)


def check(student_fn: Callable, reference_fn: Callable, make_inputs: Callable[[torch.Generator], dict],
          mistakes: list[Mistake] | tuple[Mistake, ...] = (), trials: int = 3, atol: float = 1e-4,
          rtol: float = 1e-4, name: str | None = None, seed: int = 0, quiet: bool = False) -> CheckResult:
    """Compare `student_fn(**inputs)` with `reference_fn(**inputs)` on `trials` random inputs.

    Prints ✅ when every trial matches, otherwise ❌ with the recognised mistake's hint or a
    description of the difference. Never raises. Returns a CheckResult.
    """
    name = name or getattr(student_fn, "__name__", "your function")
    generator = torch.Generator().manual_seed(seed)
    for trial in range(trials):
        inputs = make_inputs(generator)
        expected = reference_fn(**inputs)
        try:
            got = student_fn(**{k: _copy(v) for k, v in inputs.items()})
        except NotImplementedError:
            return _report(f"❌ {name}: not written yet — replace the `raise NotImplementedError` with your code.",
                           False, None, quiet)
        except Exception as err:  # noqa: BLE001 - the student's own error, shown without our frames
            where = traceback.extract_tb(err.__traceback__)[-1]
            return _report(f"❌ {name} raised {type(err).__name__}: {err} (line {where.lineno}: {where.line})",
                           False, None, quiet)
        if _close(got, expected, atol, rtol):
            continue
        for mistake in mistakes:
            try:
                wrong = mistake.fn(**inputs)
            except Exception:  # noqa: BLE001 - a mistake that cannot happen on these inputs
                continue
            if not _close(wrong, expected, atol, rtol) and _close(got, wrong, atol, rtol):
                return _report(f"❌ {name}: looks like {mistake.name}. Hint: {mistake.hint}", False, mistake.name, quiet)
        shown = ", ".join(f"{k}={_short(v)}" for k, v in inputs.items())
        return _report(f"❌ {name}: wrong on trial {trial + 1} ({shown}): {_describe_difference(got, expected)}.",
                       False, None, quiet)
    return _report(f"✅ {name}: matches the reference on {trials} random inputs.", True, None, quiet)


def _copy(value):
    """Give the student a copy, so an in-place edit cannot change the reference's inputs."""
    return value.clone() if isinstance(value, torch.Tensor) else value


def _short(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"{value.item():.4g}" if value.numel() == 1 else f"tensor{tuple(value.shape)}"
    return repr(value)


# =============================================================================================
# Lesson 03 — adding noise
# =============================================================================================


def _random_alpha_bar(generator: torch.Generator, T: int = 1000) -> torch.Tensor:
    """A plausible ᾱ table: SD-like scaled-linear betas with randomised ends. (T,)"""
    start = 0.0005 + 0.001 * torch.rand(1, generator=generator).item()
    end = 0.01 + 0.01 * torch.rand(1, generator=generator).item()
    betas = torch.linspace(start**0.5, end**0.5, T) ** 2
    return torch.cumprod(1 - betas, 0)


def _q_sample_inputs(generator: torch.Generator) -> dict:
    alpha_bar = _random_alpha_bar(generator)
    B = 4
    return dict(x0=torch.randn(B, 3, 4, 4, generator=generator), t=torch.randint(1, 999, (B,), generator=generator),
                noise=torch.randn(B, 3, 4, 4, generator=generator), alpha_bar=alpha_bar)


def _per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.reshape(-1, *([1] * (like.ndim - 1)))


def q_sample_reference(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε (DDPM eq. 4). x0, noise (B, ...); t (B,) int; alpha_bar (T,)."""
    a = _per_sample(alpha_bar[t], x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _q_sample_wrong(sqrt=True, shift=0, sign=1.0, swap=False):
    def fn(x0, t, noise, alpha_bar):
        a = _per_sample(alpha_bar[t + shift], x0)
        signal, noise_scale = (a.sqrt(), (1 - a).sqrt()) if sqrt else (a, 1 - a)
        if swap:
            return signal * noise + noise_scale * x0
        return signal * x0 + sign * noise_scale * noise
    return fn


Q_SAMPLE_MISTAKES = [
    Mistake("a missing square root", "x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε: both scales are square roots "
            "(ᾱ_t is a fraction of the *variance*; the standard deviation is its root).", _q_sample_wrong(sqrt=False)),
    Mistake("ᾱ indexed off by one", "use alpha_bar[t], not alpha_bar[t − 1] or [t + 1]: the table is "
            "indexed by t itself, from 0 to T−1.", _q_sample_wrong(shift=-1)),
    Mistake("ᾱ indexed off by one", "use alpha_bar[t], not alpha_bar[t − 1] or [t + 1]: the table is "
            "indexed by t itself, from 0 to T−1.", _q_sample_wrong(shift=1)),
    Mistake("the wrong sign of the noise term", "the noise is *added*: + √(1−ᾱ_t)·ε.", _q_sample_wrong(sign=-1.0)),
    Mistake("x0 and the noise swapped", "√ᾱ_t multiplies the clean data x0, √(1−ᾱ_t) multiplies the noise ε.",
            _q_sample_wrong(swap=True)),
]


def check_q_sample(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: q_sample(x0, t, noise, alpha_bar) → x_t, with one t per sample (B,)."""
    return check(student_fn, q_sample_reference, _q_sample_inputs, Q_SAMPLE_MISTAKES, name="q_sample", **kwargs)


def alpha_bar_reference(betas: torch.Tensor) -> torch.Tensor:
    """ᾱ_t = ∏_{s≤t} (1 − β_s). betas (T,) → (T,)"""
    return torch.cumprod(1 - betas, dim=0)


def _betas_inputs(generator: torch.Generator) -> dict:
    T = int(torch.randint(50, 1000, (1,), generator=generator))
    start = 1e-4 + 1e-3 * torch.rand(1, generator=generator).item()
    end = 0.01 + 0.02 * torch.rand(1, generator=generator).item()
    return dict(betas=torch.linspace(start, end, T, dtype=torch.float64))


ALPHA_BAR_MISTAKES = [
    Mistake("ᾱ off by one", "ᾱ_0 already includes step 0: ᾱ_0 = 1 − β_0, not 1. Use an inclusive cumulative "
            "product, torch.cumprod(1 - betas, 0).", lambda betas: torch.cat([torch.ones(1, dtype=betas.dtype),
                                                                            torch.cumprod(1 - betas, 0)[:-1]])),
    Mistake("a product of β instead of α = 1 − β", "ᾱ multiplies the fractions of signal *kept*, α_t = 1 − β_t.",
            lambda betas: torch.cumprod(betas, 0)),
    Mistake("α_t instead of ᾱ_t", "ᾱ_t is the *cumulative* product of α_s for s ≤ t — use torch.cumprod.",
            lambda betas: 1 - betas),
    Mistake("a sum instead of a product", "signal fractions multiply: ᾱ_t = α_0·α_1·…·α_t (torch.cumprod, not cumsum).",
            lambda betas: 1 - torch.cumsum(betas, 0)),
    Mistake("an extra square root (√ᾱ instead of ᾱ)", "return ᾱ itself; the square roots "
            "come later, in q_sample.", lambda betas: torch.cumprod(1 - betas, 0).sqrt()),
]


def check_alpha_bar(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: compute_alpha_bar(betas) → ᾱ, both (T,)."""
    return check(student_fn, alpha_bar_reference, _betas_inputs, ALPHA_BAR_MISTAKES, name="compute_alpha_bar",
                 atol=1e-6, rtol=1e-5, **kwargs)


def snr_one_reference(betas: torch.Tensor) -> int:
    """The first t with SNR_t = ᾱ_t/(1 − ᾱ_t) ≤ 1 (signal and noise variance equal). betas (T,) → int"""
    alpha_bar = torch.cumprod(1 - betas, 0)
    snr = alpha_bar / (1 - alpha_bar)
    return int(torch.nonzero(snr <= 1)[0])


def _first_at_or_below(values: torch.Tensor, level: float) -> int:
    return int(torch.nonzero(values <= level)[0])


SNR_ONE_MISTAKES = [
    Mistake("an off-by-one (the last t with SNR > 1)", "return the *first* t where SNR ≤ 1, e.g. "
            "int(torch.nonzero(snr <= 1)[0]).", lambda betas: snr_one_reference(betas) - 1),
    Mistake("ᾱ indexed off by one", "ᾱ_t includes step t: torch.cumprod(1 - betas, 0) with no shift.",
            lambda betas: snr_one_reference(betas) + 1),
    Mistake("SNR in decibels compared with 1", "SNR = 1 is 0 dB: compare the plain ratio ᾱ/(1 − ᾱ) with 1 "
            "(or 10·log10(SNR) with 0).",
            lambda betas: _first_at_or_below(10 * torch.log10(torch.cumprod(1 - betas, 0) / (1 - torch.cumprod(1 - betas, 0))), 1.0)),
    Mistake("SNR = ᾱ (the noise variance left out)", "SNR is a ratio: signal variance ᾱ_t over noise variance "
            "1 − ᾱ_t. It is 1 where ᾱ_t = 0.5.", lambda betas: _first_at_or_below(torch.cumprod(1 - betas, 0), 1.0)),
    Mistake("SNR = √ᾱ/√(1−ᾱ) compared with 0.5", "SNR compares variances: ᾱ_t / (1 − ᾱ_t) ≤ 1, no square roots "
            "and no 0.5.", lambda betas: _first_at_or_below(
                (torch.cumprod(1 - betas, 0) / (1 - torch.cumprod(1 - betas, 0))).sqrt(), 0.5)),
]


def check_snr_one(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: find_snr_one(betas) → the first t (int) at which SNR ≤ 1."""
    return check(student_fn, snr_one_reference, _betas_inputs, SNR_ONE_MISTAKES, name="find_snr_one",
                 atol=0, rtol=0, **kwargs)


def ddim_step_reference(eps: torch.Tensor, x_t: torch.Tensor, alpha_bar_t: float, alpha_bar_prev: float) -> torch.Tensor:
    """Deterministic DDIM (η = 0, Song et al. eq. 12): x̂0 = (x_t − √(1−ᾱ_t)·ε)/√ᾱ_t,
    x_prev = √ᾱ_prev·x̂0 + √(1−ᾱ_prev)·ε. eps, x_t (B, ...) → (B, ...)"""
    pred_x0 = (x_t - (1 - alpha_bar_t) ** 0.5 * eps) / alpha_bar_t**0.5
    return alpha_bar_prev**0.5 * pred_x0 + (1 - alpha_bar_prev) ** 0.5 * eps


def _ddim_inputs(generator: torch.Generator) -> dict:
    a, b = sorted(torch.rand(2, generator=generator).mul(0.9).add(0.05).tolist())
    return dict(eps=torch.randn(2, 4, 4, 4, generator=generator), x_t=torch.randn(2, 4, 4, 4, generator=generator),
                alpha_bar_t=a, alpha_bar_prev=b)


def _ddim_wrong(sqrt_x0=True, sqrt_prev=True, sign_x0=1.0, sign_prev=1.0, direction=True, swap=False):
    def fn(eps, x_t, alpha_bar_t, alpha_bar_prev):
        if swap:
            alpha_bar_t, alpha_bar_prev = alpha_bar_prev, alpha_bar_t
        power_x0, power_prev = (0.5 if sqrt_x0 else 1.0), (0.5 if sqrt_prev else 1.0)
        pred_x0 = (x_t - sign_x0 * (1 - alpha_bar_t) ** power_x0 * eps) / alpha_bar_t**power_x0
        out = alpha_bar_prev**power_prev * pred_x0
        return out + sign_prev * (1 - alpha_bar_prev) ** power_prev * eps if direction else out
    return fn


DDIM_STEP_MISTAKES = [
    Mistake("a missing square root in x̂0", "x̂0 = (x_t − √(1−ᾱ_t)·ε) / √ᾱ_t — both ᾱ_t terms are square roots.",
            _ddim_wrong(sqrt_x0=False)),
    Mistake("a missing square root in the re-noising", "x_prev = √ᾱ_prev·x̂0 + √(1−ᾱ_prev)·ε — square roots again.",
            _ddim_wrong(sqrt_prev=False)),
    Mistake("the wrong sign of the noise term in x̂0", "x_t = √ᾱ·x0 + √(1−ᾱ)·ε, so x̂0 *subtracts* the noise: "
            "(x_t − √(1−ᾱ_t)·ε)/√ᾱ_t.", _ddim_wrong(sign_x0=-1.0)),
    Mistake("the wrong sign of the noise term in x_prev", "the direction pointing to x_t is *added*: "
            "+ √(1−ᾱ_prev)·ε.", _ddim_wrong(sign_prev=-1.0)),
    Mistake("the direction term left out", "DDIM re-noises x̂0 to the next level with the *same* ε: "
            "add √(1−ᾱ_prev)·ε.", _ddim_wrong(direction=False)),
    Mistake("ᾱ_t and ᾱ_prev swapped", "x̂0 uses the current ᾱ_t; the re-noising uses ᾱ_prev (the larger one: "
            "less noise).", _ddim_wrong(swap=True)),
]


def check_ddim_step(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: ddim_step(eps, x_t, alpha_bar_t, alpha_bar_prev) → x_prev (η = 0)."""
    return check(student_fn, ddim_step_reference, _ddim_inputs, DDIM_STEP_MISTAKES, name="ddim_step", **kwargs)



# =============================================================================================
# Lessons 01 and 02 — pixels, latents and the VAE
# =============================================================================================

BYTES_PER_VALUE = {"fp32": 4, "fp16": 2, "uint8": 1}  # as in latentlab.metrics


def _check_written(student_fn: Callable, reference_fn: Callable, make_inputs: Callable[[torch.Generator], dict],
                   mistakes: list[Mistake], name: str, **kwargs) -> CheckResult:
    """`check`, after making sure the function returns something: an exercise stub that still ends in
    `return None` (or has no return yet) is told so kindly instead of being compared with the reference."""
    inputs = make_inputs(torch.Generator().manual_seed(kwargs.get("seed", 0)))
    try:
        got = student_fn(**{k: _copy(v) for k, v in inputs.items()})
    except Exception:  # noqa: BLE001 - check() below reports the student's own error
        got = NotImplemented
    if got is None:
        return _report(f"❌ {name}: not written yet — your function returns None. Write its body and `return` "
                       "the answer.", False, None, kwargs.get("quiet", False))
    return check(student_fn, reference_fn, make_inputs, mistakes, name=name, **kwargs)


# --- Lesson 01: how much smaller is a latent? -------------------------------------------------


def _compression_inputs(generator: torch.Generator) -> dict:
    """A random (f, c) from LDM Tab. 8, an image size that f divides, and a storage dtype."""
    fc = [(4, 3), (8, 4), (16, 16), (8, 16), (32, 64), (4, 4)]
    f, c = fc[int(torch.randint(len(fc), (1,), generator=generator))]
    H = f * int(torch.randint(4, 80, (1,), generator=generator))
    W = f * int(torch.randint(4, 80, (1,), generator=generator))
    dtype = ["fp16", "fp32", "uint8"][int(torch.randint(3, (1,), generator=generator))]
    return dict(H=H, W=W, f=f, c=c, dtype=dtype)


def compression_ratio_reference(H: int, W: int, f: int, c: int, dtype: str) -> float:
    """Raw image bytes (H·W·3 at one byte each, uint8 RGB) / latent bytes (c·(H/f)·(W/f) values of `dtype`)."""
    latent_bytes = c * (H // f) * (W // f) * BYTES_PER_VALUE[dtype]
    return H * W * 3 / latent_bytes


def _ratio_wrong(inverted=False, fixed_bytes=None, f_once=False, rgb=True, image_bytes_per_value=False):
    def fn(H, W, f, c, dtype):
        per_value = BYTES_PER_VALUE[dtype] if fixed_bytes is None else fixed_bytes
        positions = H * W // f if f_once else (H // f) * (W // f)
        latent_bytes = c * positions * per_value
        image_bytes = H * W * (3 if rgb else 1) * (per_value if image_bytes_per_value else 1)
        return latent_bytes / image_bytes if inverted else image_bytes / latent_bytes
    return fn


COMPRESSION_RATIO_MISTAKES = [
    Mistake("the ratio inverted (latent / image)", "the ratio says how many times *smaller* the latent is: "
            "image bytes ÷ latent bytes, a number above 1 (48 for 512×512×3 vs 64×64×4 in uint8).",
            _ratio_wrong(inverted=True)),
    Mistake("every latent value counted as 4 bytes", "the bytes depend on the dtype: fp32 = 4, fp16 = 2, "
            "uint8 = 1 byte per value (latentlab.metrics.BYTES_PER_VALUE).", _ratio_wrong(fixed_bytes=4)),
    Mistake("f applied to one side only", "f shrinks *both* sides: the latent has (H/f)·(W/f) positions, "
            "f² times fewer than the image.", _ratio_wrong(f_once=True)),
    Mistake("the image's 3 colour channels left out", "an RGB image stores 3 values per pixel: H·W·3 bytes.",
            _ratio_wrong(rgb=False)),
    Mistake("the image stored in the latent's dtype", "the image is 8-bit: one byte per value whatever the "
            "latent's dtype; only the latent's bytes change with fp32/fp16/uint8.",
            _ratio_wrong(image_bytes_per_value=True)),
]


def check_compression_ratio(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: compression_ratio(H, W, f, c, dtype) → raw image bytes / latent bytes (a float)."""
    return _check_written(student_fn, compression_ratio_reference, _compression_inputs, COMPRESSION_RATIO_MISTAKES,
                          name="compression_ratio", **kwargs)


def bits_per_pixel_reference(H: int, W: int, f: int, c: int, dtype: str) -> float:
    """Bits the latent spends per image pixel: c·(H/f)·(W/f)·bytes_per_value·8 / (H·W)."""
    return c * (H // f) * (W // f) * BYTES_PER_VALUE[dtype] * 8 / (H * W)


def _bpp_wrong(bits=True, per_value=False, fixed_bytes=None):
    def fn(H, W, f, c, dtype):
        nbytes = c * (H // f) * (W // f) * (BYTES_PER_VALUE[dtype] if fixed_bytes is None else fixed_bytes)
        return nbytes * (8 if bits else 1) / (H * W * (3 if per_value else 1))
    return fn


BITS_PER_PIXEL_MISTAKES = [
    Mistake("bytes instead of bits", "a byte is 8 bits: multiply the latent's bytes by 8.", _bpp_wrong(bits=False)),
    Mistake("bits per image *value* instead of per pixel", "bits per pixel divides by the H·W pixels, not the "
            "H·W·3 values (JPEG's convention: a pixel is one RGB triple).", _bpp_wrong(per_value=True)),
    Mistake("every latent value counted as 4 bytes", "the bytes depend on the dtype: fp32 = 4, fp16 = 2, "
            "uint8 = 1 byte per value.", _bpp_wrong(fixed_bytes=4)),
]


def check_bits_per_pixel(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: bits_per_pixel(H, W, f, c, dtype) → the latent's bits per image pixel (a float)."""
    return _check_written(student_fn, bits_per_pixel_reference, _compression_inputs, BITS_PER_PIXEL_MISTAKES,
                          name="bits_per_pixel", **kwargs)


# --- Lesson 02: the VAE's Gaussian -----------------------------------------------------------


def _gaussian_inputs(generator: torch.Generator) -> dict:
    """mean, logvar (B, c, h, w) as an encoder outputs them (log-variances mostly negative), and ε."""
    shape = (3, 4, 5, 5)
    return dict(mean=torch.randn(shape, generator=generator) * 2,
                logvar=torch.rand(shape, generator=generator) * 6 - 5,  # σ² from e^-5 to e^1
                eps=torch.randn(shape, generator=generator))


def reparameterise_reference(mean: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = μ + σ·ε with σ = exp(0.5·log σ²) (Kingma & Welling 2014). All (B, c, h, w)."""
    return mean + torch.exp(0.5 * logvar) * eps


REPARAMETERISE_MISTAKES = [
    Mistake("log σ² used as σ (a missing exp(0.5·logvar))", "the encoder gives the *log-variance*; the standard "
            "deviation is σ = exp(0.5·logvar).", lambda mean, logvar, eps: mean + logvar * eps),
    Mistake("the variance used instead of the standard deviation (exp(logvar) without the 0.5)",
            "ε ~ N(0, 1) is scaled by σ, not σ²: σ = exp(0.5·logvar) = √exp(logvar).",
            lambda mean, logvar, eps: mean + torch.exp(logvar) * eps),
    Mistake("ε left out (that is mode(), not a sample)", "a sample adds noise: z = μ + σ·ε.",
            lambda mean, logvar, eps: mean),
    Mistake("σ added instead of σ·ε", "σ scales the random ε: z = μ + σ·ε.",
            lambda mean, logvar, eps: mean + torch.exp(0.5 * logvar)),
]


def check_reparameterise(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: reparameterise(mean, logvar, eps) → z = μ + σ·ε, all (B, c, h, w)."""
    return _check_written(student_fn, reparameterise_reference, _gaussian_inputs, REPARAMETERISE_MISTAKES,
                          name="reparameterise", **kwargs)


def _kl_inputs(generator: torch.Generator) -> dict:
    inputs = _gaussian_inputs(generator)
    return dict(mean=inputs["mean"], logvar=inputs["logvar"])


def gaussian_kl_reference(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) summed over each image's latent values: 0.5·Σ(μ² + σ² − 1 − log σ²). (B,)"""
    return 0.5 * torch.sum(mean**2 + torch.exp(logvar) - 1.0 - logvar, dim=(1, 2, 3))


def _kl_wrong(half=0.5, minus_one=True, logvar_sign=-1.0, sigma_power=1.0, reduce="sum"):
    def fn(mean, logvar):
        terms = mean**2 + torch.exp(sigma_power * logvar) - (1.0 if minus_one else 0.0) + logvar_sign * logvar
        if reduce == "mean":
            return half * terms.mean(dim=(1, 2, 3))
        if reduce == "all":
            return half * terms.sum()
        return half * terms.sum(dim=(1, 2, 3))
    return fn


GAUSSIAN_KL_MISTAKES = [
    Mistake("the 0.5 left out", "KL = 0.5·Σ(μ² + σ² − 1 − log σ²): the whole sum is halved.", _kl_wrong(half=1.0)),
    Mistake("the −1 left out", "each value contributes μ² + σ² − 1 − log σ², which is 0 for μ = 0, σ = 1; "
            "without the −1 a perfect match would cost 1 per value.", _kl_wrong(minus_one=False)),
    Mistake("the wrong sign of log σ²", "it is *minus* log σ²: small variances are penalised too "
            "(μ² + σ² − 1 − log σ²).", _kl_wrong(logvar_sign=1.0)),
    Mistake("σ used where σ² belongs", "the term is the variance σ² = exp(logvar), not σ = exp(0.5·logvar).",
            _kl_wrong(sigma_power=0.5)),
    Mistake("a mean over the latent values instead of a sum", "the KL of independent values adds up: "
            "sum over (c, h, w), one number per image.", _kl_wrong(reduce="mean")),
    Mistake("one number for the whole batch", "return one KL per image, shape (B,): sum over dims (1, 2, 3) only.",
            _kl_wrong(reduce="all")),
]


def check_gaussian_kl(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: gaussian_kl(mean, logvar) → KL(q ‖ N(0, I)) per image, shape (B,)."""
    return _check_written(student_fn, gaussian_kl_reference, _kl_inputs, GAUSSIAN_KL_MISTAKES,
                          name="gaussian_kl", **kwargs)


def _latents_inputs(generator: torch.Generator) -> dict:
    """Latents as a VAE produces them: not centred, a spread far from 1. (B, c, h, w)"""
    std = 2.0 + 6.0 * torch.rand(1, generator=generator).item()
    offset = 1.0 + 2.0 * torch.rand(1, generator=generator).item()
    return dict(latents=torch.randn(8, 4, 16, 16, generator=generator) * std + offset)


def scaling_factor_reference(latents: torch.Tensor) -> float:
    """LDM §4.3.2: 1 / std of the latents over data, so that latents · factor have unit variance."""
    return 1.0 / latents.double().std().item()


SCALING_FACTOR_MISTAKES = [
    Mistake("std instead of 1/std", "the factor *multiplies* the latents to bring their std to 1, so it is "
            "1 / std (SD's 0.18215 ≈ 1 / 5.49).", lambda latents: latents.double().std().item()),
    Mistake("1/variance instead of 1/std", "dividing by the variance gives a std of 1/std, not 1: use "
            "1 / latents.std().", lambda latents: 1.0 / latents.double().var().item()),
    Mistake("the mean not subtracted (1/RMS)", "the std is measured around the mean: latents.std(), not "
            "√mean(z²).", lambda latents: 1.0 / latents.double().pow(2).mean().sqrt().item()),
    Mistake("1/max|z| instead of 1/std", "the factor sets the *spread* to 1 (std), not the largest value.",
            lambda latents: 1.0 / latents.double().abs().max().item()),
]


def check_scaling_factor(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: scaling_factor(latents) → 1/std of latents (B, c, h, w), a float."""
    # rtol 1e-3: the biased and unbiased std differ by 1/(2N) ≈ 6e-5 here; both are right.
    return _check_written(student_fn, scaling_factor_reference, _latents_inputs, SCALING_FACTOR_MISTAKES,
                          name="scaling_factor", atol=0, rtol=1e-3, **kwargs)


__all__ = ["Mistake", "CheckResult", "check", "check_q_sample", "check_alpha_bar", "check_snr_one",
           "check_ddim_step", "q_sample_reference", "alpha_bar_reference", "snr_one_reference",
           "ddim_step_reference", "Q_SAMPLE_MISTAKES", "ALPHA_BAR_MISTAKES", "SNR_ONE_MISTAKES",
           "DDIM_STEP_MISTAKES",
           # lessons 01 and 02
           "check_compression_ratio", "check_bits_per_pixel", "check_reparameterise", "check_gaussian_kl",
           "check_scaling_factor", "compression_ratio_reference", "bits_per_pixel_reference",
           "reparameterise_reference", "gaussian_kl_reference", "scaling_factor_reference",
           "COMPRESSION_RATIO_MISTAKES", "BITS_PER_PIXEL_MISTAKES", "REPARAMETERISE_MISTAKES",
           "GAUSSIAN_KL_MISTAKES", "SCALING_FACTOR_MISTAKES"]
