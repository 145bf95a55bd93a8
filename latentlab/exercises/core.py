"""The self-check framework every lesson's checkers are written with: compare a student's function
with the reference on random inputs, and when it is wrong say *which* common mistake it made.

    result = check(student_fn, reference_fn, make_inputs, mistakes=[Mistake(...), ...])

- `make_inputs(generator) -> dict` builds one random set of keyword arguments; `check` tries
  `trials` of them, so a function that is right by accident on one input is still caught. Tensors
  get distinct sizes on every axis (B ≠ C ≠ H ≠ W), so a broadcasting bug cannot pass by luck.
- A `Mistake(name, hint, fn)` is a deliberately wrong version of the reference. If the student's
  output matches a mistake's output (and not the reference's), or the student's function raises the
  very error the mistake raises (a missing reshape), the mistake is named with its hint.
- Otherwise the message says how far off the output is (or that its shape/type is wrong).
- `check` prints ✅ or ❌ plus a hint, returns a `CheckResult` (tests assert on it), and never raises:
  a student never sees a traceback from the course's machinery, only their own function's error.

A lesson's checker is a one-liner over `check_written` (which first tells a stub that still
returns None that it is not written yet), e.g. `check_q_sample(q_sample)` in `lesson03.py`.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..i18n import tr


@dataclass
class Mistake:
    """A named common mistake: `fn` takes the same arguments as the reference and makes the mistake.

    `name` and `hint` are English, marked `N_("…")` for the checkers' catalogue; `check` shows them in the
    learner's language, while `CheckResult.mistake` keeps the English name (tests and code compare it)."""

    name: str
    hint: str
    fn: Callable

    def __post_init__(self):
        if not (isinstance(self.name, str) and isinstance(self.hint, str) and callable(self.fn)):
            raise TypeError(f"Mistake(name, hint, fn) takes two strings and a function, got "
                            f"({type(self.name).__name__}, {type(self.hint).__name__}, {type(self.fn).__name__}) "
                            f"for {self.name!r}: are the hint and the function swapped?")


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


def random_int(generator: torch.Generator, low: int, high: int) -> int:
    """One integer drawn uniformly from [low, high)."""
    return int(torch.randint(low, high, (1,), generator=generator))


def random_float(generator: torch.Generator, low: float, high: float) -> float:
    """One float drawn uniformly from [low, high)."""
    return low + (high - low) * torch.rand(1, generator=generator).item()


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
            return tr("expected a tensor of shape {shape}, your function returned {type}").format(
                shape=tuple(expected.shape), type=type(got).__name__)
        if got.shape != expected.shape:
            return tr("expected shape {expected}, got {got}").format(expected=tuple(expected.shape),
                                                                     got=tuple(got.shape))
        if not torch.isfinite(got).all():
            return tr("your output holds NaN or inf values")
        return tr("values are off by up to {error:.3g}").format(
            error=(got.double() - expected.double()).abs().max().item())
    return tr("expected {expected!r}, got {got!r}").format(expected=expected, got=got)


def report(message: str, passed: bool, mistake: str | None, quiet: bool) -> CheckResult:
    """Print `message` (unless quiet) and wrap it in a CheckResult: the one way a checker answers."""
    if not quiet:
        print(message)
    return CheckResult(passed=passed, message=message, mistake=mistake)


def _copy(value):
    """Give the student a copy, so an in-place edit cannot change the reference's inputs."""
    return value.clone() if isinstance(value, torch.Tensor) else value


def _short(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"{value.item():.4g}" if value.numel() == 1 else f"tensor{tuple(value.shape)}"
    return repr(value)


def _matching_output(got, expected, mistakes, inputs: dict, atol: float, rtol: float) -> Mistake | None:
    """The first mistake whose output the student's matches (and the reference's does not)."""
    for mistake in mistakes:
        try:
            wrong = mistake.fn(**inputs)
        except Exception:  # noqa: BLE001 - a mistake that cannot happen on these inputs
            continue
        if not _close(wrong, expected, atol, rtol) and _close(got, wrong, atol, rtol):
            return mistake
    return None


def _matching_error(error: Exception, mistakes, inputs: dict) -> Mistake | None:
    """The first mistake that raises the student's very error (same type, same message): e.g. ᾱ_t of
    shape (B,) multiplied into (B, C, H, W) without a reshape fails the same way in both."""
    for mistake in mistakes:
        try:
            mistake.fn(**inputs)
        except Exception as err:  # noqa: BLE001 - the error is what we compare
            if type(err) is type(error) and str(err) == str(error):
                return mistake
    return None


def check(student_fn: Callable, reference_fn: Callable, make_inputs: Callable[[torch.Generator], dict],
          mistakes: list[Mistake] | tuple[Mistake, ...] = (), trials: int = 3, atol: float = 1e-4,
          rtol: float = 1e-4, name: str | None = None, seed: int = 0, quiet: bool = False) -> CheckResult:
    """Compare `student_fn(**inputs)` with `reference_fn(**inputs)` on `trials` random inputs.

    Prints ✅ when every trial matches, otherwise ❌ with the recognised mistake's hint or a
    description of the difference. Never raises. Returns a CheckResult.
    """
    name = name or getattr(student_fn, "__name__", None) or tr("your function")
    generator = torch.Generator().manual_seed(seed)
    for trial in range(trials):
        inputs = make_inputs(generator)
        expected = reference_fn(**inputs)
        try:
            got = student_fn(**{k: _copy(v) for k, v in inputs.items()})
        except NotImplementedError:
            return report(tr("❌ {name}: not written yet — replace the `raise NotImplementedError` with your "
                             "code.").format(name=name), False, None, quiet)
        except Exception as err:  # noqa: BLE001 - the student's own error, shown without our frames
            where = traceback.extract_tb(err.__traceback__)[-1]
            raised = tr("raised {error}: {message} (line {line}: {code})").format(
                error=type(err).__name__, message=err, line=where.lineno, code=where.line)
            mistake = _matching_error(err, mistakes, inputs)
            if mistake is not None:
                return report(tr("❌ {name}: looks like {mistake} (your function {raised}). Hint: {hint}").format(
                    name=name, mistake=tr(mistake.name), raised=raised, hint=tr(mistake.hint)),
                    False, mistake.name, quiet)
            return report(f"❌ {name} {raised}", False, None, quiet)
        if _close(got, expected, atol, rtol):
            continue
        mistake = _matching_output(got, expected, mistakes, inputs, atol, rtol)
        if mistake is not None:
            return report(tr("❌ {name}: looks like {mistake}. Hint: {hint}").format(
                name=name, mistake=tr(mistake.name), hint=tr(mistake.hint)), False, mistake.name, quiet)
        shown = ", ".join(f"{k}={_short(v)}" for k, v in inputs.items())
        return report(tr("❌ {name}: wrong on trial {trial} ({inputs}): {difference}.").format(
            name=name, trial=trial + 1, inputs=shown, difference=_describe_difference(got, expected)),
            False, None, quiet)
    return report(tr("✅ {name}: matches the reference on {trials} random inputs.").format(name=name, trials=trials),
                  True, None, quiet)


def check_written(student_fn: Callable, reference_fn: Callable, make_inputs: Callable[[torch.Generator], dict],
                  mistakes: list[Mistake], name: str, **kwargs) -> CheckResult:
    """`check`, after making sure the function returns something: an exercise stub that still ends in
    `return None` (or has no return yet) is told so kindly instead of being compared with the reference."""
    inputs = make_inputs(torch.Generator().manual_seed(kwargs.get("seed", 0)))
    try:
        got = student_fn(**{k: _copy(v) for k, v in inputs.items()})
    except Exception:  # noqa: BLE001 - check() below reports the student's own error
        got = NotImplemented
    if got is None:
        return report(tr("❌ {name}: not written yet — your function returns None. Write its body and `return` "
                         "the answer.").format(name=name), False, None, kwargs.get("quiet", False))
    return check(student_fn, reference_fn, make_inputs, mistakes, name=name, **kwargs)


__all__ = ["Mistake", "CheckResult", "check", "check_written", "report", "random_int", "random_float"]
