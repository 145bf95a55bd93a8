"""Lesson 07 — why latent? What the same UNet costs in pixel and in latent space, and what explains the
gaps between the positions ratio, the counted FLOP ratio and the measured speed-up.

The second exercise's right letters follow from counting, not from timing: the FLOP ratio exceeds the
positions ratio because self-attention's cost grows with the square of the positions (true of the
course's UNet at every picture size, a test counts it), and the question about the measured speed-up
asks what a time ratio measures besides the FLOPs, whose answer is the same on every machine and at
every size. The student's own measurement is shown beside the answer, never used to grade it.

The third exercise is a VRAM budget (what fits in 8 GB in pixel and in latent space): the weights,
the same in both spaces, plus attention's maps, which grow with the square of the positions.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..i18n import N_, tr
from .core import CheckResult, Mistake, check_written, random_int, report


def _cost_ratio_inputs(generator: torch.Generator) -> dict:
    """A picture whose sides (multiples of 64) differ, and an f8c4 or f16c16 latent of it."""
    H = 64 * random_int(generator, 1, 9)
    W = 64 * random_int(generator, 1, 9)
    W = W + 64 if W == H else W  # H ≠ W: a formula that uses one side twice cannot pass
    f, c = [(8, 4), (16, 16)][random_int(generator, 0, 2)]  # c ≠ 3: channels visible
    return dict(pixel_shape=(3, H, W), latent_shape=(c, H // f, W // f))


def cost_ratios_reference(pixel_shape: tuple[int, int, int], latent_shape: tuple[int, int, int]) -> tuple[float, float]:
    """(how many times cheaper the convolutions are, how many times cheaper self-attention is) when
    the same UNet runs on `latent_shape` (c, h, w) instead of `pixel_shape` (3, H, W).

    Inside the UNet every level has the same channels in both spaces: only the first and last
    convolution see c. So a convolution's cost follows the positions, H·W; self-attention compares
    every position with every other one, so its cost follows (H·W)²."""
    positions = (pixel_shape[1] * pixel_shape[2]) / (latent_shape[1] * latent_shape[2])
    return positions, positions ** 2


COST_RATIO_MISTAKES = [
    Mistake(N_("the channels counted"), N_("the UNet's inner channels (64, 128, …) are the same in every space; the "
            "latent's c only changes the first and last convolution. Compare positions H·W, not values c·H·W."),
            lambda pixel_shape, latent_shape: (math.prod(pixel_shape) / math.prod(latent_shape),
                                               (math.prod(pixel_shape) / math.prod(latent_shape)) ** 2)),
    Mistake(N_("attention as cheap as a convolution"), N_("a convolution looks at 9 neighbours per position: cost ∝ H·W. "
            "Self-attention compares every position with every other: (H·W)² pairs."),
            lambda pixel_shape, latent_shape: ((pixel_shape[1] * pixel_shape[2]) / (latent_shape[1] * latent_shape[2]),) * 2),
    Mistake(N_("only one side of the picture"), N_("the picture shrinks f times in height *and* in width: f² fewer positions."),
            lambda pixel_shape, latent_shape: (pixel_shape[1] / latent_shape[1], (pixel_shape[1] / latent_shape[1]) ** 2)),
    Mistake(N_("upside down"), N_("how many times *cheaper* the latent is: pixel cost / latent cost, a number above 1."),
            lambda pixel_shape, latent_shape: ((latent_shape[1] * latent_shape[2]) / (pixel_shape[1] * pixel_shape[2]),
                                               ((latent_shape[1] * latent_shape[2]) / (pixel_shape[1] * pixel_shape[2])) ** 2)),
]


def check_cost_ratios(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: cost_ratios(pixel_shape, latent_shape) → (convolution ratio, attention ratio)."""
    return check_written(student_fn, cost_ratios_reference, _cost_ratio_inputs, COST_RATIO_MISTAKES,
                         name="cost_ratios", atol=1e-6, rtol=1e-6, **kwargs)


class Choices(dict):
    """A letter → English text (marked N_) dict that reads out in the learner's language: `choices[letter]`,
    `.get`, `.values()` and `.items()` translate when called, so the lesson's `for letter, text in
    FLOP_GAP_CHOICES.items()` prints Spanish in a Spanish notebook."""

    def __getitem__(self, key):
        return tr(super().__getitem__(key))

    def get(self, key, default=None):
        return self[key] if key in self else default

    def values(self):
        return [self[key] for key in self]

    def items(self):
        return [(key, self[key]) for key in self]


# Exercise 2, part 1: why the counted FLOP ratio differs from the positions ratio.
FLOP_GAP_CHOICES = Choices({
    "A": N_("self-attention: its cost grows with the square of the positions"),
    "B": N_("the channels: the latent has more channels than a picture"),
    "C": N_("nothing: the FLOPs shrink exactly with the positions"),
})
FLOP_GAP_ANSWER = "A"
# Part 2: why the measured speed-up differs from the FLOP ratio, and moves with the machine and the
# size while the FLOP ratio does not. (Which way it moves on *this* machine is shown, not graded.)
TIME_GAP_CHOICES = Choices({
    "A": N_("measurement noise: with enough repeats the speed-up would settle on the FLOP ratio"),
    "B": N_("the hardware: a time ratio also measures how well each tensor size suits this machine (small tensors "
            "leave cores idle and pay fixed costs per layer, big ones spill out of the caches) and how busy it is; "
            "the FLOP ratio, counted from the shapes, is the same everywhere"),
    "C": N_("the FLOP counter misses operations: the time ratio is the true cost ratio and the FLOPs an estimate"),
})
TIME_GAP_ANSWER = "B"


def _measured(bench: dict, space: str, pixel: str) -> dict:
    """The student's positions ratio, FLOP ratio and speed-up between the `pixel` and `space` rows."""
    rows = {row["space"]: row for row in bench["rows"]}
    pixel_row, latent_row = rows[pixel], rows[space]
    pixel_positions = pixel_row["latent_shape"][1] * pixel_row["latent_shape"][2]
    latent_positions = latent_row["latent_shape"][1] * latent_row["latent_shape"][2]
    return {"positions": pixel_positions / latent_positions, "flop_ratio": pixel_row["gflops"] / latent_row["gflops"],
            "speedup": pixel_row["ms"] / latent_row["ms"]}


def _this_machine(n: dict) -> str:
    """Which way the time gap went here: an observation for the student, not part of the grade."""
    if n["speedup"] < n["flop_ratio"] / 1.25:
        return tr("here the speed-up fell below the FLOP ratio: the latent's small tensors left the cores idle")
    if n["speedup"] > 1.25 * n["flop_ratio"]:
        return tr("here the speed-up rose above the FLOP ratio: pixel space's big tensors spilled out of the caches")
    return tr("here the two effects roughly cancelled out: the speed-up is near the FLOP ratio")


def check_why_latent_gaps(flop_answer, time_answer, bench: dict | None = None, space: str = "f8c4",
                          quiet: bool = False, pixel: str = "pixel") -> CheckResult:
    """Exercise: say why the FLOP ratio differs from the positions ratio (FLOP_GAP_CHOICES) and why the
    measured speed-up differs from the FLOP ratio (TIME_GAP_CHOICES). `bench`, a `bench_why_latent`
    result, only supplies the numbers shown beside the verdict: the right letters do not depend on it."""
    name = tr("why the gaps")
    if flop_answer is None or time_answer is None:
        return report(tr("❌ {name}: not answered yet — set both answers to a letter.").format(name=name),
                      False, None, quiet)
    numbers = ""
    if bench is not None:
        try:
            n = _measured(bench, space, pixel)
        except (TypeError, KeyError, IndexError, ZeroDivisionError):
            return report(tr("❌ {name}: pass the benchmark's result (with a {pixel!r} and a {space!r} row) as "
                             "`bench`.").format(name=name, pixel=pixel, space=space), False, None, quiet)
        numbers = tr("Your measurement: {positions:.0f}× fewer positions, {flops:.0f}× fewer FLOPs, {speedup:.0f}× "
                     "faster; {this_machine}.").format(positions=n["positions"], flops=n["flop_ratio"],
                                                       speedup=n["speedup"], this_machine=_this_machine(n)) + " "
    flop_answer, time_answer = str(flop_answer).strip().upper(), str(time_answer).strip().upper()
    for answer, choices in ((flop_answer, FLOP_GAP_CHOICES), (time_answer, TIME_GAP_CHOICES)):
        if answer not in choices:
            return report(tr("❌ {name}: answer with one of the letters {letters} (got {answer!r}).").format(
                name=name, letters=", ".join(choices), answer=answer), False, None, quiet)
    if flop_answer != FLOP_GAP_ANSWER:
        return report(tr("❌ {name}: {numbers}Compare the positions ratio with the FLOP ratio: which layer's cost does "
                         "not follow the positions? Hint: count the operations of QKᵀ for N positions.").format(
            name=name, numbers=numbers), False, "flop gap", quiet)
    if time_answer != TIME_GAP_ANSWER:
        return report(tr("❌ {name}: the FLOPs part is right. {numbers}For the time: the FLOP count is the same on "
                         "every machine, the time ratio is not — what else does a stopwatch measure? Hint: run the "
                         "benchmark at another SIZE, or on a GPU, and watch which number moves.").format(
            name=name, numbers=numbers), False, "time gap", quiet)
    return report(tr("✅ {name}: {numbers}FLOPs: {flops}; time: {time}.").format(
        name=name, numbers=numbers, flops=FLOP_GAP_CHOICES[flop_answer], time=TIME_GAP_CHOICES[time_answer]),
        True, None, quiet)


# Exercise 3: a VRAM budget. The two terms that decide whether a step fits: the weights, and one
# self-attention's map of weights at the latent's full resolution when it is materialised.
GB = 1e9  # as parameter counts and "1.7 GB of weights" are quoted


def _budget_inputs(generator: torch.Generator) -> dict:
    """A picture side, an f that divides it, and a model: every number distinct, so a forgotten factor shows."""
    f = [1, 4, 8, 16][random_int(generator, 0, 4)]
    return dict(side=64 * random_int(generator, 2, 17), f=f, params=1_000_000 * random_int(generator, 50, 2000),
                batch=random_int(generator, 2, 5), heads=random_int(generator, 5, 17),
                bytes_per_value=[2, 4][random_int(generator, 0, 2)])


def vram_gb_reference(side: int, f: int, params: int, batch: int, heads: int, bytes_per_value: int) -> float:
    """GB (10⁹ bytes) one UNet step needs on a GPU for side × side pictures in a space of factor f:

        weights   = params · bytes                          (once: the batch shares them)
        attention = batch · heads · N² · bytes,  N = (side / f)²   (every head's N × N map of weights)

    the two terms that decide whether Stable Diffusion fits (`memory.sd_v1_budget` adds the feature maps)."""
    positions = (side // f) ** 2
    return (params + batch * heads * positions ** 2) * bytes_per_value / GB


def _vram(side, f, params, batch, heads, bytes_per_value, positions=None, weights_per_picture=False,
          attention=True, square=True) -> float:
    """The reference with one thing done wrong, for the mistakes below."""
    positions = (side // f) ** 2 if positions is None else positions
    pairs = positions ** 2 if square else positions
    weights = params * (batch if weights_per_picture else 1)
    return (weights + (batch * heads * pairs if attention else 0)) * bytes_per_value / GB


VRAM_MISTAKES = [
    Mistake(N_("attention as linear in the positions"), N_("every position attends to every other: the map of weights "
            "is N × N per head, so it grows with N², not N."),
            lambda side, f, params, batch, heads, bytes_per_value: _vram(side, f, params, batch, heads,
                                                                        bytes_per_value, square=False)),
    Mistake(N_("f applied to one side only"), N_("the latent is f times smaller in height *and* in width: "
            "N = (side / f)² positions."),
            lambda side, f, params, batch, heads, bytes_per_value: _vram(side, f, params, batch, heads, bytes_per_value,
                                                                        positions=side * side // f)),
    Mistake(N_("the batch forgotten"), N_("classifier-free guidance runs two pictures (the prompt and the empty prompt) "
            "in one batch: each has its own attention maps."),
            lambda side, f, params, batch, heads, bytes_per_value: _vram(side, f, params, 1, heads, bytes_per_value)),
    Mistake(N_("the weights counted per picture"), N_("the batch shares one copy of the weights: only the activations "
            "grow with the batch."),
            lambda side, f, params, batch, heads, bytes_per_value: _vram(side, f, params, batch, heads, bytes_per_value,
                                                                        weights_per_picture=True)),
    Mistake(N_("the weights forgotten"), N_("the network's parameters sit on the GPU too, the same in every space: "
            "params · bytes_per_value."),
            lambda side, f, params, batch, heads, bytes_per_value: _vram(side, f, 0, batch, heads, bytes_per_value)),
]


def check_vram_budget(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: vram_gb(side, f, params, batch, heads, bytes_per_value) → GB of one step (weights + attention maps)."""
    return check_written(student_fn, vram_gb_reference, _budget_inputs, VRAM_MISTAKES, name="vram_gb",
                         atol=1e-9, rtol=1e-6, **kwargs)


CHECKERS = [(check_cost_ratios, cost_ratios_reference, COST_RATIO_MISTAKES),
            (check_vram_budget, vram_gb_reference, VRAM_MISTAKES)]
# Checkers that grade letters, not a function: the standard tests cannot drive them, their own tests
# (tests/test_exercises_lesson07.py) do.
OTHER_CHECKERS = [check_why_latent_gaps]
