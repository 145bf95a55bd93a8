"""Lesson 06 — latent diffusion: ComfyUI's Empty Latent Image, img2img's step count, slerp, and how
much denoise a photo survives.

The references are the package's: `pipeline.empty_latent`, `pipeline.start_timesteps` (ComfyUI's
KSampler rule) and `pipeline.slerp`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..i18n import N_, tr
from ..pipeline import empty_latent, slerp, start_timesteps
from ..samplers import make_sampler
from .core import CheckResult, Mistake, check_written, random_float, random_int, report


def latent_shape_reference(width: int, height: int, batch: int, channels: int, factor: int) -> tuple[int, ...]:
    """ComfyUI's Empty Latent Image for a width × height picture (`pipeline.empty_latent`):
    (batch, c, height/f, width/f).

    PyTorch puts the height before the width, although ComfyUI asks for the width first."""
    return tuple(empty_latent(width, height, batch, channels, factor).shape)


def _latent_shape_inputs(generator: torch.Generator) -> dict:
    """A VAE geometry (f, c), a picture that f divides, never square (so a swap shows), a batch."""
    factor, channels = [(8, 4), (4, 3), (16, 16), (8, 16)][random_int(generator, 0, 4)]
    width = factor * random_int(generator, 4, 64)
    height = factor * random_int(generator, 4, 64)
    height = height + factor if height == width else height
    return dict(width=width, height=height, batch=random_int(generator, 1, 5),
                channels=channels, factor=factor)


LATENT_SHAPE_MISTAKES = [
    Mistake(N_("width and height swapped"), N_("PyTorch tensors are (B, C, H, W): the height comes before the width, "
            "even though ComfyUI's Empty Latent Image asks for the width first."),
            lambda width, height, batch, channels, factor: (batch, channels, width // factor, height // factor)),
    Mistake(N_("the factor f left out"), N_("the VAE shrinks each side f times: the latent is (H/f) × (W/f)."),
            lambda width, height, batch, channels, factor: (batch, channels, height, width)),
    Mistake(N_("each side divided by f²"), N_("f is per side: H/f and W/f. The number of positions falls f² times "
            "because both sides shrink."),
            lambda width, height, batch, channels, factor: (batch, channels, height // factor**2, width // factor**2)),
    Mistake(N_("3 colour channels instead of the latent's c"), N_("a latent has the VAE's c channels (4 for SD v1 and "
            "vae-f8c4), not RGB's 3."),
            lambda width, height, batch, channels, factor: (batch, 3, height // factor, width // factor)),
    Mistake(N_("the batch dimension left out"), N_("the sampler works on a batch: the latent is 4-D, "
            "(batch, c, H/f, W/f)."),
            lambda width, height, batch, channels, factor: (channels, height // factor, width // factor)),
]


def check_latent_shape(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: latent_shape(width, height, batch, channels, factor) → the 4 integers of the latent's shape."""
    quiet = kwargs.pop("quiet", False)
    result = check_written(student_fn, latent_shape_reference, _latent_shape_inputs, LATENT_SHAPE_MISTAKES,
                           name="latent_shape", atol=0, rtol=0, quiet=True, **kwargs)
    if result.passed:
        got = student_fn(**_latent_shape_inputs(torch.Generator().manual_seed(0)))
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in got):
            return report(tr("❌ latent_shape: the right sizes, but not all integers ({got}). Hint: use // (integer "
                             "division): torch.zeros refuses a shape of floats.").format(got=tuple(got)), False,
                          "floats in the shape", quiet)
    return report(result.message, result.passed, result.mistake, quiet)


def img2img_steps_reference(steps: int, denoise: float) -> tuple[int, int]:
    """ComfyUI's KSampler at `denoise` < 1 (`pipeline.start_timesteps`) → (steps the sampler is set up
    for, steps that run): the schedule has int(steps / denoise) steps and only its last `steps` run."""
    sampler = make_sampler("ddim")
    run = start_timesteps(sampler, steps, denoise)
    return len(sampler.timesteps), len(run)


def _img2img_steps_inputs(generator: torch.Generator) -> dict:
    return dict(steps=random_int(generator, 4, 51),
                denoise=round(random_float(generator, 0.1, 0.95), 2))


IMG2IMG_STEPS_MISTAKES = [
    Mistake(N_("diffusers' and AUTOMATIC1111's convention"), N_("those set the sampler up for `steps` and run "
            "int(steps · strength) of them. ComfyUI's KSampler sets it up for int(steps / denoise) and runs all "
            "`steps`: you get the number of steps you ask for."),
            lambda steps, denoise: (steps, int(steps * denoise))),
    Mistake(N_("the two numbers swapped"), N_("return (steps the sampler is set up for, steps that run): the schedule is "
            "the longer one, int(steps / denoise)."), lambda steps, denoise: (steps, int(steps / denoise))),
    Mistake(N_("rounding instead of truncating"), N_("ComfyUI uses int(), which truncates: int(20 / 0.3) = 66, "
            "not 67."), lambda steps, denoise: (round(steps / denoise), steps)),
    Mistake(N_("a schedule of steps · denoise"), N_("the schedule is *longer* than the steps that run: the first "
            "(1 − denoise) of it is skipped, so it has int(steps / denoise) steps."),
            lambda steps, denoise: (int(steps * denoise), steps)),
]


def check_img2img_steps(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: img2img_steps(steps, denoise) → (steps of the schedule, steps that run), two ints."""
    return check_written(student_fn, img2img_steps_reference, _img2img_steps_inputs, IMG2IMG_STEPS_MISTAKES,
                         name="img2img_steps", atol=0, rtol=0, trials=5, **kwargs)


def slerp_reference(a: torch.Tensor, b: torch.Tensor, weight: float) -> torch.Tensor:
    """The package's `pipeline.slerp`: (sin((1−w)θ)·a + sin(wθ)·b) / sin θ, cos θ = a·b / (‖a‖‖b‖)."""
    return slerp(a, b, weight)


def _slerp_inputs(generator: torch.Generator) -> dict:
    """Two noises of one latent's shape (norms a little apart) and a weight strictly inside (0, 1)."""
    scale = random_float(generator, 0.8, 1.25)
    return dict(a=torch.randn(1, 4, 6, 8, generator=generator), b=torch.randn(1, 4, 6, 8, generator=generator) * scale,
                weight=random_float(generator, 0.1, 0.9))


def _angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.arccos((a.flatten() @ b.flatten() / (a.norm() * b.norm())).clamp(-1, 1))


def _nlerp(a: torch.Tensor, b: torch.Tensor, weight: float) -> torch.Tensor:
    line = torch.lerp(a, b, weight)
    return line * ((1 - weight) * a.norm() + weight * b.norm()) / line.norm()


SLERP_MISTAKES = [
    Mistake(N_("a straight line (lerp)"), N_("(1−w)·a + w·b cuts through the inside of the sphere. slerp weights a and b "
            "by sin((1−w)θ)/sin θ and sin(wθ)/sin θ, with cos θ = a·b / (‖a‖·‖b‖)."),
            lambda a, b, weight: torch.lerp(a, b, weight)),
    Mistake(N_("the weight measured from b"), N_("weight 0 must give a and weight 1 must give b: a is multiplied by "
            "sin((1−w)θ), b by sin(wθ)."), lambda a, b, weight: slerp_reference(a, b, 1 - weight)),
    Mistake(N_("the division by sin θ left out"), N_("without it the two weights do not add up to the arc: divide "
            "(sin((1−w)θ)·a + sin(wθ)·b) by sin θ."),
            lambda a, b, weight: torch.sin((1 - weight) * _angle(a, b)) * a + torch.sin(weight * _angle(a, b)) * b),
    Mistake(N_("a normalised lerp (nlerp)"), N_("rescaling the straight line fixes its norm but not its speed: the "
            "points bunch up in the middle. slerp's weights come from angles: sin((1−w)θ) and sin(wθ)."), _nlerp),
]


def check_slerp(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: my_slerp(a, b, weight) → the point at `weight` on the arc from a to b (same shape as a)."""
    quiet = kwargs.pop("quiet", False)
    result = check_written(student_fn, slerp_reference, _slerp_inputs, SLERP_MISTAKES, name="slerp",
                           quiet=True, **kwargs)
    message = result.message
    if "NaN" in message:  # core's "your output holds NaN or inf values": its translations keep the word NaN
        message += " " + tr("Hint: cos θ = a·b / (‖a‖·‖b‖); without dividing by the norms the dot product is far "
                            "outside [−1, 1] and arccos returns NaN.")
    return report(message, result.passed, result.mistake, quiet)


# "Recognisable": the result keeps at least this fraction of the SSIM that the VAE's own round trip
# (denoise 0) keeps. The round trip is the best any denoise can do, so the bar adapts to the VAE.
RECOGNISABLE_FRACTION = 0.5


def check_recognisable_denoise(choice, strip, quiet: bool = False) -> CheckResult:
    """Exercise: from the img2img strip, pick the largest denoise that keeps the photo recognisable.

    choice: a denoise value of the strip. strip: `Img2ImgApp.render()["strip"]`, a list of
    {"denoise", "ssim", ...} whose denoise-0 entry is the VAE's round trip."""
    name = tr("recognisable denoise")
    if choice is None:
        return report(tr("❌ {name}: not answered yet — set the variable to one of the strip's denoise values.").format(
            name=name), False, None, quiet)
    try:
        ssim = {float(entry["denoise"]): float(entry["ssim"]) for entry in strip}
        round_trip = ssim[0.0]
    except (TypeError, KeyError, ValueError):
        return report(tr("❌ {name}: pass the app's numbers as the second argument: app.render()['strip'].").format(
            name=name), False, None, quiet)
    values = sorted(d for d in ssim if d > 0)
    picked = [d for d in values if isinstance(choice, (int, float)) and abs(d - choice) < 1e-9]
    if choice == 0:
        return report(tr("❌ {name}: denoise 0 re-does nothing — that is the photo itself, through the VAE. Pick "
                         "the largest denoise that changes it but keeps it recognisable.").format(name=name),
                      False, "denoise 0", quiet)
    if not picked:
        return report(tr("❌ {name}: pick one of the strip's values: {values} (got {choice!r}).").format(
            name=name, values=", ".join(f"{d:g}" for d in values), choice=choice), False, None, quiet)
    bar = RECOGNISABLE_FRACTION * round_trip
    kept = [d for d in values if ssim[d] >= bar]
    d = picked[0]
    numbers = tr("at denoise {denoise:g} the result's SSIM with the photo is {ssim:.2f}, {fraction:.0%} of the VAE "
                 "round trip's {round_trip:.2f}").format(denoise=d, ssim=ssim[d], fraction=ssim[d] / round_trip,
                                                         round_trip=round_trip)
    if ssim[d] < bar:
        nothing = "" if kept else " " + tr("(With this model and prompt even the smallest denoise loses it: try "
                                           "another seed.)")
        return report(tr("❌ {name}: {numbers} — below our bar of {bar:.0%}: the model has re-drawn it. Hint: a lower "
                         "denoise starts from a less noisy latent, so more of the photo survives.").format(
            name=name, numbers=numbers, bar=RECOGNISABLE_FRACTION) + nothing, False, "too much denoise", quiet)
    if d < max(kept):
        return report(tr("✅ {name}: recognisable — {numbers}. You could go further: up to {best:g} it stays above "
                         "{bar:.0%}.").format(name=name, numbers=numbers, best=max(kept), bar=RECOGNISABLE_FRACTION),
                      True, None, quiet)
    return report(tr("✅ {name}: {numbers}, the largest of the strip above {bar:.0%}. Beyond it, the model pulls the "
                     "latent toward what it knows.").format(name=name, numbers=numbers, bar=RECOGNISABLE_FRACTION),
                  True, None, quiet)


CHECKERS = [
    (check_latent_shape, latent_shape_reference, LATENT_SHAPE_MISTAKES),
    (check_img2img_steps, img2img_steps_reference, IMG2IMG_STEPS_MISTAKES),
    (check_slerp, slerp_reference, SLERP_MISTAKES),
]
# Checkers that grade a choice read off the img2img app, not a function: the standard tests cannot
# drive them, their own tests (tests/test_widgets_ldm.py) do.
OTHER_CHECKERS = [check_recognisable_denoise]
