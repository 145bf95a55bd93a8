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
    return _check_written(student_fn, q_sample_reference, _q_sample_inputs, Q_SAMPLE_MISTAKES, name="q_sample", **kwargs)


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
    return _check_written(student_fn, alpha_bar_reference, _betas_inputs, ALPHA_BAR_MISTAKES, name="compute_alpha_bar",
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
    return _check_written(student_fn, snr_one_reference, _betas_inputs, SNR_ONE_MISTAKES, name="find_snr_one",
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
    return _check_written(student_fn, ddim_step_reference, _ddim_inputs, DDIM_STEP_MISTAKES, name="ddim_step", **kwargs)



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


# =============================================================================================
# --- lesson 04: the UNet ---
# =============================================================================================


def timestep_embedding_reference(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[cos(t·ω_k), sin(t·ω_k)] with ω_k = 10000^(−k/(dim/2)), k = 0…dim/2−1 (latentlab.blocks). t (B,) → (B, dim)"""
    from .blocks import timestep_embedding

    return timestep_embedding(t, dim)


def _timestep_inputs(generator: torch.Generator) -> dict:
    dim = 2 * int(torch.randint(4, 33, (1,), generator=generator))  # 8…64, even
    return dict(t=torch.randint(0, 1000, (5,), generator=generator).float(), dim=dim)


def _embedding_wrong(denominator: str = "half", sign: float = -1.0, order: str = "cos_sin", t_scale: float = 1.0):
    def fn(t, dim):
        half = dim // 2
        k = torch.arange(half, dtype=torch.float64)
        divide = {"half": half, "dim": dim, "half_minus_one": half - 1}[denominator]
        freqs = torch.exp(sign * math.log(10000.0) * k / divide)  # (half,)
        angles = t.double()[:, None] * t_scale * freqs[None, :]  # (B, half)
        if order == "interleaved":
            return torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1).flatten(1).float()
        first, second = (torch.cos(angles), torch.sin(angles)) if order == "cos_sin" else (torch.sin(angles), torch.cos(angles))
        return torch.cat([first, second], dim=-1).float()
    return fn


TIMESTEP_EMBEDDING_MISTAKES = [
    Mistake("sin before cos", "Stable Diffusion (and latentlab) put the cosines first: torch.cat([cos, sin], dim=-1). "
            "The original Transformer used sin first; both work, but weights trained with one need that one.",
            _embedding_wrong(order="sin_cos")),
    Mistake("cos and sin interleaved", "put all dim/2 cosines first, then all dim/2 sines (torch.cat on the last "
            "dimension), not cos, sin, cos, sin, …", _embedding_wrong(order="interleaved")),
    Mistake("frequencies spread over dim instead of dim/2", "there are dim/2 frequencies ω_k = 10000^(−k/(dim/2)), "
            "k = 0…dim/2−1: divide k by dim/2, so the slowest one is nearly 1/10000.", _embedding_wrong(denominator="dim")),
    Mistake("the (dim/2 − 1) denominator", "divide k by dim/2, not dim/2 − 1 (that variant, diffusers' "
            "downscale_freq_shift=1, ends exactly at 1/10000; SD uses dim/2).", _embedding_wrong(denominator="half_minus_one")),
    Mistake("frequencies that grow instead of shrink", "ω_k = 10000^(−k/(dim/2)) = exp(−ln(10000)·k/(dim/2)): "
            "mind the minus sign; the first frequency is 1, the others are slower.", _embedding_wrong(sign=1.0)),
    Mistake("t divided by 1000", "the embedding takes the raw timestep (0…999); the fastest frequency, 1 radian per "
            "step, is what tells neighbouring steps apart.", _embedding_wrong(t_scale=1e-3)),
]


def check_timestep_embedding(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: timestep_embedding(t, dim) → (B, dim) sinusoidal embedding of t (B,)."""
    # atol 1e-3: angles reach 1000 rad, so float32 rounding of ω_k moves cos/sin by ~1e-4.
    return _check_written(student_fn, timestep_embedding_reference, _timestep_inputs, TIMESTEP_EMBEDDING_MISTAKES,
                          name="timestep_embedding", atol=1e-3, rtol=1e-3, **kwargs)


def level_shapes_reference(config, batch: int, height: int, width: int) -> list[tuple[int, int, int, int]]:
    """The feature map's shape at the end of each down level of a UNet(config) for a (batch, c, height, width)
    latent, before that level's Downsample: level l has block_channels[l] channels at height/2^l × width/2^l."""
    return [(batch, channels, height // 2**level, width // 2**level)
            for level, channels in enumerate(config.block_channels)]


def _level_shapes_inputs(generator: torch.Generator) -> dict:
    from .unet import UNetConfig

    def pick(low: int, high: int) -> int:
        return int(torch.randint(low, high, (1,), generator=generator))

    levels = pick(2, 5)
    config = UNetConfig(in_channels=[3, 4, 16][pick(0, 3)], block_channels=tuple(8 * pick(1, 13) for _ in range(levels)),
                        attention_levels=tuple(bool(pick(0, 2)) for _ in range(levels)), heads=2, context_dim=32,
                        norm_groups=8)
    f = 2 ** (levels - 1)
    height = f * pick(1, 7)
    width = f * pick(1, 7)
    width = width + f if width == height else width  # a non-square latent: height and width must not be swapped
    return dict(config=config, batch=pick(1, 5), height=height, width=width)


def _level_shapes_wrong(halvings: int = 0, with_batch: bool = True, swap: bool = False, channels: str = "config"):
    def fn(config, batch, height, width):
        shapes = []
        for level, level_width in enumerate(config.block_channels):
            C = {"config": level_width, "latent": config.in_channels,
                 "doubling": config.block_channels[0] * 2**level}[channels]
            H, W = height // 2 ** (level + halvings), width // 2 ** (level + halvings)
            H, W = (W, H) if swap else (H, W)
            shapes.append((batch, C, H, W) if with_batch else (C, H, W))
        return shapes
    return fn


LEVEL_SHAPES_MISTAKES = [
    Mistake("one halving too many", "'down l' is measured before that level's Downsample: level 0 keeps the latent's "
            "h×w, level l is h/2^l × w/2^l.", _level_shapes_wrong(halvings=1)),
    Mistake("the batch dimension left out", "PyTorch feature maps are (B, C, H, W): keep the batch in front.",
            _level_shapes_wrong(with_batch=False)),
    Mistake("height and width swapped", "the order is (B, C, H, W): height before width.", _level_shapes_wrong(swap=True)),
    Mistake("the latent's channels at every level", "conv_in maps the c latent channels to block_channels[0]; each "
            "level then has its own width, config.block_channels[l].", _level_shapes_wrong(channels="latent")),
    Mistake("channels doubled at every level", "the textbook UNet doubles the channels per level, but the widths are "
            "whatever config.block_channels says (ldm-shapes: 64, 128, 128).", _level_shapes_wrong(channels="doubling")),
]


def check_level_shapes(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: level_shapes(config, batch, height, width) → [(B, C, H, W) at the end of each down level]."""
    return _check_written(student_fn, level_shapes_reference, _level_shapes_inputs, LEVEL_SHAPES_MISTAKES,
                          name="level_shapes", atol=0, rtol=0, **kwargs)


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(Q Kᵀ / √d) V (LDM §3.3; Vaswani et al. 2017, eq. 1), softmax over the keys.
    q (B, heads, N, d), k and v (B, heads, M, d) → (B, heads, N, d)"""
    d = q.shape[-1]
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)  # (B, heads, N, M)
    return weights @ v


def _attention_inputs(generator: torch.Generator) -> dict:
    """Queries, keys and values with N, M and d all different, so a mixed-up axis cannot hide."""
    d = 8 * int(torch.randint(1, 4, (1,), generator=generator))  # 8, 16 or 24
    N = int(torch.randint(5, 13, (1,), generator=generator))
    M = N + int(torch.randint(1, 4, (1,), generator=generator))
    M = M + 1 if M == d else M
    return dict(q=2 * torch.randn(2, 3, N, d, generator=generator), k=2 * torch.randn(2, 3, M, d, generator=generator),
                v=torch.randn(2, 3, M, d, generator=generator))


def _attention_wrong(scale: str = "sqrt_d", softmax_dim: int | None = -1, weights_only: bool = False):
    def fn(q, k, v):
        d, M = q.shape[-1], k.shape[-2]
        scores = q @ k.transpose(-1, -2)  # (B, heads, N, M)
        scores = scores / {"sqrt_d": math.sqrt(d), "none": 1.0, "d": d, "sqrt_m": math.sqrt(M)}[scale]
        weights = scores if softmax_dim is None else torch.softmax(scores, dim=softmax_dim)
        return weights if weights_only else weights @ v
    return fn


ATTENTION_MISTAKES = [
    Mistake("the 1/√d scaling left out", "divide the scores by √d (d = q.shape[-1]) before the softmax: without it "
            "the dot products of long vectors grow large and the softmax saturates on one key.", _attention_wrong(scale="none")),
    Mistake("scores divided by d instead of √d", "the scale is 1/√d: a dot product of d unit-variance terms has "
            "standard deviation √d.", _attention_wrong(scale="d")),
    Mistake("scores divided by √(number of keys)", "d is the length of each query/key vector, q.shape[-1], not the "
            "number of keys.", _attention_wrong(scale="sqrt_m")),
    Mistake("the softmax over the queries", "each query distributes its attention over the keys: softmax(..., dim=-1), "
            "so every row of the (N, M) weights sums to 1.", _attention_wrong(softmax_dim=-2)),
    Mistake("the softmax left out", "the scores become weights through a softmax over the keys (dim=-1).",
            _attention_wrong(softmax_dim=None)),
    Mistake("the weights returned instead of weights·V", "the output mixes the values: return weights @ v, "
            "shaped like q, (B, heads, N, d).", _attention_wrong(weights_only=True)),
]


def check_attention(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: attention(q, k, v) → softmax(Q Kᵀ/√d) V, (B, heads, N, d)."""
    return _check_written(student_fn, attention_reference, _attention_inputs, ATTENTION_MISTAKES,
                          name="attention", **kwargs)


__all__ += ["check_timestep_embedding", "check_level_shapes", "check_attention", "timestep_embedding_reference",
            "level_shapes_reference", "attention_reference", "TIMESTEP_EMBEDDING_MISTAKES", "LEVEL_SHAPES_MISTAKES",
            "ATTENTION_MISTAKES"]


# --- lesson 06: latent diffusion ---


def latent_shape_reference(width: int, height: int, batch: int, channels: int, factor: int) -> tuple[int, ...]:
    """ComfyUI's Empty Latent Image for a width × height picture: (batch, c, height/f, width/f).

    PyTorch puts the height before the width, although ComfyUI asks for the width first."""
    return (batch, channels, height // factor, width // factor)


def _latent_shape_inputs(generator: torch.Generator) -> dict:
    """A VAE geometry (f, c), a picture that f divides, never square (so a swap shows), a batch."""
    factor, channels = [(8, 4), (4, 3), (16, 16), (8, 16)][int(torch.randint(4, (1,), generator=generator))]
    width = factor * int(torch.randint(4, 64, (1,), generator=generator))
    height = factor * int(torch.randint(4, 64, (1,), generator=generator))
    height = height + factor if height == width else height
    return dict(width=width, height=height, batch=int(torch.randint(1, 5, (1,), generator=generator)),
                channels=channels, factor=factor)


LATENT_SHAPE_MISTAKES = [
    Mistake("width and height swapped", "PyTorch tensors are (B, C, H, W): the height comes before the width, "
            "even though ComfyUI's Empty Latent Image asks for the width first.",
            lambda width, height, batch, channels, factor: (batch, channels, width // factor, height // factor)),
    Mistake("the factor f left out", "the VAE shrinks each side f times: the latent is (H/f) × (W/f).",
            lambda width, height, batch, channels, factor: (batch, channels, height, width)),
    Mistake("each side divided by f²", "f is per side: H/f and W/f. The number of positions falls f² times "
            "because both sides shrink.",
            lambda width, height, batch, channels, factor: (batch, channels, height // factor**2, width // factor**2)),
    Mistake("3 colour channels instead of the latent's c", "a latent has the VAE's c channels (4 for SD v1 and "
            "vae-f8c4), not RGB's 3.",
            lambda width, height, batch, channels, factor: (batch, 3, height // factor, width // factor)),
    Mistake("the batch dimension left out", "the sampler works on a batch: the latent is 4-D, "
            "(batch, c, H/f, W/f).",
            lambda width, height, batch, channels, factor: (channels, height // factor, width // factor)),
]


def check_latent_shape(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: latent_shape(width, height, batch, channels, factor) → the 4 integers of the latent's shape."""
    quiet = kwargs.pop("quiet", False)
    result = _check_written(student_fn, latent_shape_reference, _latent_shape_inputs, LATENT_SHAPE_MISTAKES,
                            name="latent_shape", atol=0, rtol=0, quiet=True, **kwargs)
    if result.passed:
        got = student_fn(**_latent_shape_inputs(torch.Generator().manual_seed(0)))
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in got):
            return _report(f"❌ latent_shape: the right sizes, but not all integers ({tuple(got)}). Hint: use // "
                           "(integer division): torch.zeros refuses a shape of floats.", False,
                           "floats in the shape", quiet)
    return _report(result.message, result.passed, result.mistake, quiet)


def img2img_steps_reference(steps: int, denoise: float) -> tuple[int, int]:
    """ComfyUI's KSampler at `denoise` < 1 → (steps the sampler is set up for, steps that run):
    the schedule has int(steps / denoise) steps and only its last `steps` run."""
    return int(steps / denoise), steps


def _img2img_steps_inputs(generator: torch.Generator) -> dict:
    return dict(steps=int(torch.randint(4, 51, (1,), generator=generator)),
                denoise=round(0.1 + 0.85 * torch.rand(1, generator=generator).item(), 2))


IMG2IMG_STEPS_MISTAKES = [
    Mistake("diffusers' and AUTOMATIC1111's convention", "those set the sampler up for `steps` and run "
            "int(steps · strength) of them. ComfyUI's KSampler sets it up for int(steps / denoise) and runs all "
            "`steps`: you get the number of steps you ask for.",
            lambda steps, denoise: (steps, int(steps * denoise))),
    Mistake("the two numbers swapped", "return (steps the sampler is set up for, steps that run): the schedule is "
            "the longer one, int(steps / denoise).", lambda steps, denoise: (steps, int(steps / denoise))),
    Mistake("rounding instead of truncating", "ComfyUI uses int(), which truncates: int(20 / 0.3) = 66, "
            "not 67.", lambda steps, denoise: (round(steps / denoise), steps)),
    Mistake("a schedule of steps · denoise", "the schedule is *longer* than the steps that run: the first "
            "(1 − denoise) of it is skipped, so it has int(steps / denoise) steps.",
            lambda steps, denoise: (int(steps * denoise), steps)),
]


def check_img2img_steps(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: img2img_steps(steps, denoise) → (steps of the schedule, steps that run), two ints."""
    return _check_written(student_fn, img2img_steps_reference, _img2img_steps_inputs, IMG2IMG_STEPS_MISTAKES,
                          name="img2img_steps", atol=0, rtol=0, trials=5, **kwargs)


def slerp_reference(a: torch.Tensor, b: torch.Tensor, weight: float) -> torch.Tensor:
    """The package's `pipeline.slerp`: (sin((1−w)θ)·a + sin(wθ)·b) / sin θ, cos θ = a·b / (‖a‖‖b‖)."""
    from .pipeline import slerp

    return slerp(a, b, weight)


def _slerp_inputs(generator: torch.Generator) -> dict:
    """Two noises of one latent's shape (norms a little apart) and a weight strictly inside (0, 1)."""
    scale = 0.8 + 0.45 * torch.rand(1, generator=generator).item()
    return dict(a=torch.randn(1, 4, 8, 8, generator=generator), b=torch.randn(1, 4, 8, 8, generator=generator) * scale,
                weight=0.1 + 0.8 * torch.rand(1, generator=generator).item())


def _angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.arccos((a.flatten() @ b.flatten() / (a.norm() * b.norm())).clamp(-1, 1))


def _nlerp(a: torch.Tensor, b: torch.Tensor, weight: float) -> torch.Tensor:
    line = torch.lerp(a, b, weight)
    return line * ((1 - weight) * a.norm() + weight * b.norm()) / line.norm()


SLERP_MISTAKES = [
    Mistake("a straight line (lerp)", "(1−w)·a + w·b cuts through the inside of the sphere. slerp weights a and b "
            "by sin((1−w)θ)/sin θ and sin(wθ)/sin θ, with cos θ = a·b / (‖a‖·‖b‖).",
            lambda a, b, weight: torch.lerp(a, b, weight)),
    Mistake("the weight measured from b", "weight 0 must give a and weight 1 must give b: a is multiplied by "
            "sin((1−w)θ), b by sin(wθ).", lambda a, b, weight: slerp_reference(a, b, 1 - weight)),
    Mistake("the division by sin θ left out", "without it the two weights do not add up to the arc: divide "
            "(sin((1−w)θ)·a + sin(wθ)·b) by sin θ.",
            lambda a, b, weight: torch.sin((1 - weight) * _angle(a, b)) * a + torch.sin(weight * _angle(a, b)) * b),
    Mistake("a normalised lerp (nlerp)", "rescaling the straight line fixes its norm but not its speed: the "
            "points bunch up in the middle. slerp's weights come from angles: sin((1−w)θ) and sin(wθ).", _nlerp),
]


def check_slerp(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: my_slerp(a, b, weight) → the point at `weight` on the arc from a to b (same shape as a)."""
    quiet = kwargs.pop("quiet", False)
    result = _check_written(student_fn, slerp_reference, _slerp_inputs, SLERP_MISTAKES, name="slerp",
                            quiet=True, **kwargs)
    message = result.message
    if "NaN" in message:
        message += (" Hint: cos θ = a·b / (‖a‖·‖b‖); without dividing by the norms the dot product is far outside "
                    "[−1, 1] and arccos returns NaN.")
    return _report(message, result.passed, result.mistake, quiet)


# "Recognisable": the result keeps at least this fraction of the SSIM that the VAE's own round trip
# (denoise 0) keeps. The round trip is the best any denoise can do, so the bar adapts to the VAE.
RECOGNISABLE_FRACTION = 0.5


def check_recognisable_denoise(choice, strip, quiet: bool = False) -> CheckResult:
    """Exercise: from the img2img strip, pick the largest denoise that keeps the photo recognisable.

    choice: a denoise value of the strip. strip: `Img2ImgApp.render()["strip"]`, a list of
    {"denoise", "ssim", ...} whose denoise-0 entry is the VAE's round trip."""
    name = "recognisable denoise"
    if choice is None:
        return _report(f"❌ {name}: not answered yet — set the variable to one of the strip's denoise values.",
                       False, None, quiet)
    try:
        ssim = {float(entry["denoise"]): float(entry["ssim"]) for entry in strip}
        round_trip = ssim[0.0]
    except (TypeError, KeyError, ValueError):
        return _report(f"❌ {name}: pass the app's numbers as the second argument: app.render()['strip'].",
                       False, None, quiet)
    values = sorted(d for d in ssim if d > 0)
    picked = [d for d in values if isinstance(choice, (int, float)) and abs(d - choice) < 1e-9]
    if choice == 0:
        return _report(f"❌ {name}: denoise 0 re-does nothing — that is the photo itself, through the VAE. Pick "
                       "the largest denoise that changes it but keeps it recognisable.", False, "denoise 0", quiet)
    if not picked:
        return _report(f"❌ {name}: pick one of the strip's values: {', '.join(f'{d:g}' for d in values)} "
                       f"(got {choice!r}).", False, None, quiet)
    bar = RECOGNISABLE_FRACTION * round_trip
    kept = [d for d in values if ssim[d] >= bar]
    d = picked[0]
    numbers = (f"at denoise {d:g} the result's SSIM with the photo is {ssim[d]:.2f}, {ssim[d] / round_trip:.0%} of "
               f"the VAE round trip's {round_trip:.2f}")
    if ssim[d] < bar:
        nothing = "" if kept else " (With this model and prompt even the smallest denoise loses it: try another seed.)"
        return _report(f"❌ {name}: {numbers} — below our bar of {RECOGNISABLE_FRACTION:.0%}: the model has re-drawn "
                       "it. Hint: a lower denoise starts from a less noisy latent, so more of the photo survives."
                       + nothing, False, "too much denoise", quiet)
    if d < max(kept):
        return _report(f"✅ {name}: recognisable — {numbers}. You could go further: up to {max(kept):g} it stays "
                       f"above {RECOGNISABLE_FRACTION:.0%}.", True, None, quiet)
    return _report(f"✅ {name}: {numbers}, the largest of the strip above {RECOGNISABLE_FRACTION:.0%}. Beyond it, "
                   "the model pulls the latent toward what it knows.", True, None, quiet)


__all__ += ["check_latent_shape", "check_img2img_steps", "check_slerp", "check_recognisable_denoise",
            "latent_shape_reference", "img2img_steps_reference", "slerp_reference", "LATENT_SHAPE_MISTAKES",
            "IMG2IMG_STEPS_MISTAKES", "SLERP_MISTAKES", "RECOGNISABLE_FRACTION"]


# =============================================================================================
# --- lesson 05: samplers on the trained model ---
# =============================================================================================


def _cfg_inputs(generator: torch.Generator) -> dict:
    shape = (2, 4, 8, 8)
    return dict(eps_cond=torch.randn(shape, generator=generator), eps_uncond=torch.randn(shape, generator=generator),
                scale=1.5 + 8.0 * torch.rand(1, generator=generator).item())


def cfg_mix_reference(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022) in Stable Diffusion's convention:
    ε̂ = ε_uncond + s·(ε_cond − ε_uncond). s = 1 is ε_cond itself. eps_* (B, c, h, w) → (B, c, h, w)"""
    return eps_uncond + scale * (eps_cond - eps_uncond)


CFG_MIX_MISTAKES = [
    Mistake("the conditional and unconditional predictions swapped", "start from the *unconditional* prediction "
            "and go towards (and past) the conditional one: ε_uncond + s·(ε_cond − ε_uncond).",
            lambda eps_cond, eps_uncond, scale: eps_cond + scale * (eps_uncond - eps_cond)),
    Mistake("the conditional prediction scaled on its own", "guidance pushes along the *difference* "
            "ε_cond − ε_uncond; s·ε_cond only makes the predicted noise larger.",
            lambda eps_cond, eps_uncond, scale: scale * eps_cond),
    Mistake("the push added to ε_cond (Imagen's w = s − 1 convention)", "with SD's scale, s = 1 must give ε_cond "
            "exactly, so the push starts from ε_uncond: ε_uncond + s·(ε_cond − ε_uncond).",
            lambda eps_cond, eps_uncond, scale: eps_cond + scale * (eps_cond - eps_uncond)),
    Mistake("the push without its starting point", "s·(ε_cond − ε_uncond) is only the push: add it to ε_uncond.",
            lambda eps_cond, eps_uncond, scale: scale * (eps_cond - eps_uncond)),
]


def check_cfg_mix(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: cfg_mix(eps_cond, eps_uncond, scale) → the guided prediction, shaped like eps_cond."""
    return _check_written(student_fn, cfg_mix_reference, _cfg_inputs, CFG_MIX_MISTAKES, name="cfg_mix", **kwargs)


def _expected_norm_inputs(generator: torch.Generator) -> dict:
    """A latent of N values, a picture quieter or louder than noise, and the ᾱ of a few steps."""
    numel = (256, 1024, 4096)[int(torch.randint(3, (1,), generator=generator))]
    x0_norm = numel**0.5 * (0.3 + 2.0 * torch.rand(1, generator=generator).item())
    alpha_bar = torch.rand(6, generator=generator).mul(0.98).add(0.01).sort(descending=True).values.double()
    return dict(x0_norm=x0_norm, alpha_bar=alpha_bar, numel=numel)


def expected_norm_reference(x0_norm: float, alpha_bar: torch.Tensor, numel: int) -> torch.Tensor:
    """‖x_t‖ for x_t = √ᾱ·x0 + √(1−ᾱ)·ε, ε ~ N(0, I) of N = numel values. In N dimensions the noise is
    almost orthogonal to x0, so squared norms add (Pythagoras) and ‖ε‖² ≈ N:
    ‖x_t‖ ≈ √(ᾱ·‖x0‖² + (1−ᾱ)·N). alpha_bar (n,) → (n,)"""
    return (alpha_bar * x0_norm**2 + (1 - alpha_bar) * numel).sqrt()


EXPECTED_NORM_MISTAKES = [
    Mistake("the two norms added", "x0 and the noise point in (almost) perpendicular directions, so their "
            "*squared* norms add, as in Pythagoras: √(ᾱ·‖x0‖² + (1−ᾱ)·N), not √ᾱ·‖x0‖ + √(1−ᾱ)·√N.",
            lambda x0_norm, alpha_bar, numel: alpha_bar.sqrt() * x0_norm + (1 - alpha_bar).sqrt() * numel**0.5),
    Mistake("a missing square root", "ᾱ·‖x0‖² + (1−ᾱ)·N is the *squared* norm: take its square root.",
            lambda x0_norm, alpha_bar, numel: alpha_bar * x0_norm**2 + (1 - alpha_bar) * numel),
    Mistake("the noise's squared norm taken as 1", "ε has N values of variance 1, so ‖ε‖² ≈ N (‖ε‖ ≈ √N), "
            "not 1.", lambda x0_norm, alpha_bar, numel: (alpha_bar * x0_norm**2 + (1 - alpha_bar)).sqrt()),
    Mistake("the noise's norm taken as N", "‖ε‖² ≈ N, so ‖ε‖ ≈ √N: the term is (1−ᾱ)·N, not (1−ᾱ)·N².",
            lambda x0_norm, alpha_bar, numel: (alpha_bar * x0_norm**2 + (1 - alpha_bar) * numel**2).sqrt()),
    Mistake("ᾱ and 1−ᾱ used as the scales (x_t = ᾱ·x0 + (1−ᾱ)·ε)", "the scales are √ᾱ and √(1−ᾱ); squared, "
            "they give ᾱ and 1−ᾱ.",
            lambda x0_norm, alpha_bar, numel: (alpha_bar**2 * x0_norm**2 + (1 - alpha_bar) ** 2 * numel).sqrt()),
]


def check_expected_norm(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: expected_norm(x0_norm, alpha_bar, numel) → ‖x_t‖ at each ᾱ, a tensor shaped like alpha_bar."""
    return _check_written(student_fn, expected_norm_reference, _expected_norm_inputs, EXPECTED_NORM_MISTAKES,
                          name="expected_norm", atol=1e-6, rtol=1e-6, **kwargs)


def _pca_inputs(generator: torch.Generator) -> dict:
    """40 points in 12-D: two clear long axes in a random rotation, far from the origin."""
    N, D = 40, 12
    scales = torch.tensor([6.0, 3.0] + [0.6] * (D - 2)) * (1 + 0.2 * torch.rand(D, generator=generator))
    rotation, _ = torch.linalg.qr(torch.randn(D, D, generator=generator))  # (D, D) orthogonal
    # the mean sits 3 to 6 units off the origin along every axis, so an uncentred answer is far off
    away = (3.0 + 3.0 * torch.rand(D, generator=generator)) * torch.randn(D, generator=generator).sign()
    return dict(points=(torch.randn(N, D, generator=generator) * scales + away) @ rotation.T)


def _fixed_signs(projected):
    """Each column flipped so that its largest-magnitude entry is positive: a principal axis has no
    sign of its own, so answers that differ only in sign are the same answer."""
    if not isinstance(projected, torch.Tensor) or projected.ndim != 2 or projected.shape[0] == 0:
        return projected
    largest = projected.gather(0, projected.abs().argmax(0, keepdim=True))  # (1, k)
    return projected * torch.where(largest < 0, -1.0, 1.0).to(projected.dtype)


def pca_project_reference(points: torch.Tensor) -> torch.Tensor:
    """points (N, D) → their coordinates (N, 2) on the first two principal axes: centre the points,
    take the SVD of the centred points, project on the first two rows of Vh."""
    centred = points - points.mean(0)
    _, _, Vh = torch.linalg.svd(centred, full_matrices=False)  # rows of Vh: the axes, by decreasing variance
    return centred @ Vh[:2].T


def _pca_wrong(centre_svd=True, centre_projection=True, axes="rows", standardise=False, unit=False):
    def fn(points):
        centred = points - points.mean(0)
        if standardise:
            centred = centred / points.std(0)
        U, _, Vh = torch.linalg.svd(centred if centre_svd else points, full_matrices=False)
        if unit:
            return U[:, :2]
        chosen = {"rows": Vh[:2].T, "columns": Vh[:, :2], "last": Vh[-2:].T}[axes]
        return (centred if centre_projection else points) @ chosen
    return fn


PCA_PROJECT_MISTAKES = [
    Mistake("the points not centred", "PCA measures variance around the mean: subtract points.mean(0) before "
            "the SVD (otherwise the first axis points at the mean).", _pca_wrong(centre_svd=False, centre_projection=False)),
    Mistake("the raw points projected", "the axes are right, but project the *centred* points: "
            "(points − mean) @ Vh[:2].T, so the cloud is centred on 0.", _pca_wrong(centre_projection=False)),
    Mistake("columns of Vh used as the axes", "torch.linalg.svd returns Vh = Vᵀ: the axes are its *rows*, "
            "so project on Vh[:2].T (or V[:, :2]).", _pca_wrong(axes="columns")),
    Mistake("the last two axes", "singular values come sorted from largest to smallest: the first two rows of Vh "
            "hold the most variance.", _pca_wrong(axes="last")),
    Mistake("U[:, :2] returned", "U's columns have length 1; the coordinates are U[:, :2]·S[:2], the same as "
            "centred @ Vh[:2].T.", _pca_wrong(unit=True)),
    Mistake("each coordinate divided by its std first", "that is PCA of the correlation matrix; here all "
            "coordinates share units, so keep them: only subtract the mean.", _pca_wrong(standardise=True)),
]


def check_pca_project(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: pca_project(points) → (N, 2) coordinates on the first two principal axes, any signs."""

    def pca_project(points):  # the student's answer, each axis' sign fixed the same way as the reference's
        return _fixed_signs(student_fn(points))

    def signs_fixed(fn):
        return lambda points: _fixed_signs(fn(points))

    mistakes = [Mistake(m.name, m.hint, signs_fixed(m.fn)) for m in PCA_PROJECT_MISTAKES]
    # atol 0.01: torch.pca_lowrank's randomised answer (default q) lands within 0.002 of the SVD's on
    # these points; every mistake above is off by 3 or more.
    return _check_written(pca_project, signs_fixed(pca_project_reference), _pca_inputs, mistakes,
                          name="pca_project", atol=0.01, rtol=1e-3, **kwargs)


__all__ += ["check_cfg_mix", "check_expected_norm", "check_pca_project", "cfg_mix_reference",
            "expected_norm_reference", "pca_project_reference", "CFG_MIX_MISTAKES", "EXPECTED_NORM_MISTAKES",
            "PCA_PROJECT_MISTAKES"]


# =============================================================================================
# --- lesson 07: why latent? ---
# =============================================================================================


def _cost_ratio_inputs(generator: torch.Generator) -> dict:
    size = 64 * int(torch.randint(1, 9, (1,), generator=generator))
    f, c = [(8, 4), (16, 16)][int(torch.randint(0, 2, (1,), generator=generator))]  # c ≠ 3: channels visible
    return dict(pixel_shape=(3, size, size), latent_shape=(c, size // f, size // f))


def cost_ratios_reference(pixel_shape: tuple[int, int, int], latent_shape: tuple[int, int, int]) -> tuple[float, float]:
    """(how many times cheaper the convolutions are, how many times cheaper self-attention is) when
    the same UNet runs on `latent_shape` (c, h, w) instead of `pixel_shape` (3, H, W).

    Inside the UNet every level has the same channels in both spaces: only the first and last
    convolution see c. So a convolution's cost follows the positions, H·W; self-attention compares
    every position with every other one, so its cost follows (H·W)²."""
    positions = (pixel_shape[1] * pixel_shape[2]) / (latent_shape[1] * latent_shape[2])
    return positions, positions ** 2


COST_RATIO_MISTAKES = [
    Mistake("the channels counted", "the UNet's inner channels (64, 128, …) are the same in every space; the "
            "latent's c only changes the first and last convolution. Compare positions H·W, not values c·H·W.",
            lambda pixel_shape, latent_shape: (math.prod(pixel_shape) / math.prod(latent_shape),
                                               (math.prod(pixel_shape) / math.prod(latent_shape)) ** 2)),
    Mistake("attention as cheap as a convolution", "a convolution looks at 9 neighbours per position: cost ∝ H·W. "
            "Self-attention compares every position with every other: (H·W)² pairs.",
            lambda pixel_shape, latent_shape: ((pixel_shape[1] * pixel_shape[2]) / (latent_shape[1] * latent_shape[2]),) * 2),
    Mistake("only one side of the picture", "the picture shrinks f times in height *and* in width: f² fewer positions.",
            lambda pixel_shape, latent_shape: (pixel_shape[1] / latent_shape[1], (pixel_shape[1] / latent_shape[1]) ** 2)),
    Mistake("upside down", "how many times *cheaper* the latent is: pixel cost / latent cost, a number above 1.",
            lambda pixel_shape, latent_shape: ((latent_shape[1] * latent_shape[2]) / (pixel_shape[1] * pixel_shape[2]),
                                               ((latent_shape[1] * latent_shape[2]) / (pixel_shape[1] * pixel_shape[2])) ** 2)),
]


def check_cost_ratios(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: cost_ratios(pixel_shape, latent_shape) → (convolution ratio, attention ratio)."""
    return _check_written(student_fn, cost_ratios_reference, _cost_ratio_inputs, COST_RATIO_MISTAKES,
                          name="cost_ratios", atol=1e-6, rtol=1e-6, **kwargs)


# What explains each gap in `latentlab bench why-latent`'s numbers: the student picks a letter, the
# checker works out the right one from the measurement itself (another machine may need another).
FLOP_GAP_CHOICES = {
    "A": "self-attention: its cost grows with the square of the positions",
    "B": "the channels: the latent has more channels than a picture",
    "C": "nothing: the FLOPs shrink exactly with the positions",
}
TIME_GAP_CHOICES = {
    "A": "small tensors leave the cores idle: fixed costs per layer (dispatch, memory traffic) do not shrink with them",
    "B": "big tensors fall out of the caches, so pixel space computes at fewer FLOPs per second",
    "C": "nothing to explain: the time shrinks like the FLOPs",
}


def _gap_answers(row_pixel: dict, row_latent: dict) -> tuple[str, str, dict]:
    positions = (row_pixel["latent_shape"][1] * row_pixel["latent_shape"][2]) / (
        row_latent["latent_shape"][1] * row_latent["latent_shape"][2])
    flop_ratio = row_pixel["gflops"] / row_latent["gflops"]
    speedup = row_pixel["ms"] / row_latent["ms"]
    flop_answer = "A" if flop_ratio > 1.2 * positions else ("B" if flop_ratio < positions / 1.2 else "C")
    time_answer = "A" if speedup < flop_ratio / 1.25 else ("B" if speedup > 1.25 * flop_ratio else "C")
    return flop_answer, time_answer, {"positions": positions, "flop_ratio": flop_ratio, "speedup": speedup}


def check_why_latent_gaps(flop_answer, time_answer, bench: dict, space: str = "f8c4",
                          quiet: bool = False) -> CheckResult:
    """Exercise: from a `bench_why_latent` result, say why the FLOP ratio differs from the positions
    ratio (FLOP_GAP_CHOICES) and why the measured speed-up differs from the FLOP ratio (TIME_GAP_CHOICES)."""
    name = "why the gaps"
    if flop_answer is None or time_answer is None:
        return _report(f"❌ {name}: not answered yet — set both answers to a letter.", False, None, quiet)
    try:
        rows = {row["space"]: row for row in bench["rows"]}
        expected_flops, expected_time, n = _gap_answers(rows["pixel"], rows[space])
    except (TypeError, KeyError, ZeroDivisionError):
        return _report(f"❌ {name}: pass the benchmark's result (with a 'pixel' and a {space!r} row) as `bench`.",
                       False, None, quiet)
    numbers = (f"{n['positions']:.0f}× fewer positions, {n['flop_ratio']:.0f}× fewer FLOPs, "
               f"{n['speedup']:.0f}× faster measured")
    flop_answer, time_answer = str(flop_answer).strip().upper(), str(time_answer).strip().upper()
    for answer, choices in ((flop_answer, FLOP_GAP_CHOICES), (time_answer, TIME_GAP_CHOICES)):
        if answer not in choices:
            return _report(f"❌ {name}: answer with one of the letters {', '.join(choices)} (got {answer!r}).",
                           False, None, quiet)
    if flop_answer != expected_flops:
        return _report(f"❌ {name}: your measurement says {numbers}. Compare the first two numbers again: "
                       f"which of the FLOP choices makes them differ (or not)? Hint: count the operations of "
                       f"QKᵀ for N positions.", False, "flop gap", quiet)
    if time_answer != expected_time:
        return _report(f"❌ {name}: the FLOPs part is right; for the time, your measurement says {numbers}. Is the "
                       f"speed-up above, below or near the FLOP ratio?", False, "time gap", quiet)
    return _report(f"✅ {name}: {numbers} — FLOPs: {FLOP_GAP_CHOICES[flop_answer]}; time: "
                   f"{TIME_GAP_CHOICES[time_answer]}.", True, None, quiet)


__all__ += ["check_cost_ratios", "check_why_latent_gaps", "cost_ratios_reference", "COST_RATIO_MISTAKES",
            "FLOP_GAP_CHOICES", "TIME_GAP_CHOICES"]
