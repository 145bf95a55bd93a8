"""The training harness: the one loop every latentlab model trains in.

A model's training hands the harness a `TrainingTask` (its modules, optimiser, random generators
and a loss step); the harness owns everything around the loss:

    progress bar       tqdm on stderr, with the task's numbers every 25 steps
    learning rate      `lr_at`: warm-up, then cosine decay over the steps (or minutes)
    run checkpoints    `<run_dir>/last.safetensors` every `checkpoint_every` seconds and at the end:
                       weights, optimiser moments, RNG states, step, elapsed time, settings.
                       `resume=True` continues from it bit for bit
    Ctrl-C             deferred to the end of the step in progress (a second Ctrl-C quits at once,
                       without saving), then the run checkpoint and the model are saved
    files              `RunFiles`: every output checked before the first step, stale temporary
                       files of killed runs cleaned, atomic writes, a fallback place if a save fails

Run checkpoint layout (kept readable across versions: runs resume after an upgrade)
    tensors   model.<name> (and ema.<name> …, one prefix per module), optim.<param index>.<state>,
              rng.<generator name>
    metadata  step, elapsed, settings (JSON), <name>_rng (numpy generator state, JSON)
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from . import checkpoints, strict_json
from .runfiles import RunFiles, settings_json

LOG_EVERY = 25  # steps between progress-bar updates of the task's numbers


def lr_at(progress: float, base_lr: float, warmup: float = 0.02) -> float:
    """Linear warm-up for the first 2 % of training, then cosine decay to 10 % of base_lr."""
    if progress < warmup:
        return base_lr * max(progress / warmup, 0.01)
    t = min((progress - warmup) / (1 - warmup), 1.0)
    return base_lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


@dataclass
class TrainingTask:
    """What the harness needs from one model's training."""

    name: str                                   # progress-bar label, e.g. 'train vae-f8c4'
    modules: dict[str, torch.nn.Module]         # saved under these prefixes: {'model': vae}, + 'ema'
    optimizer: torch.optim.Optimizer
    params: list[torch.nn.Parameter]            # what the optimiser trains (gradients clipped to norm 1)
    # One batch's loss (a scalar tensor, not yet backpropagated) and the numbers to log for it.
    loss_step: Callable[[], tuple[torch.Tensor, dict[str, float]]]
    # The logs of recent steps → the numbers shown on the bar and given to the callback.
    summarize: Callable[[list[dict[str, float]]], dict[str, float]]
    after_step: Callable[[int], None] | None = None      # e.g. the EMA update, given the new step count
    callback_model: torch.nn.Module | None = None        # what `callback` receives (the VAE, the EMA)
    # Every random generator the loss step draws from, saved in the run checkpoint so that a
    # resumed run draws the same batches and noise as an uninterrupted one.
    generators: dict[str, torch.Generator] = field(default_factory=dict)      # → tensor rng.<name>
    numpy_rngs: dict[str, np.random.Generator] = field(default_factory=dict)  # → metadata <name>_rng


@dataclass
class RunResult:
    step: int                          # optimiser steps done, in all sessions of the run
    elapsed: float                     # training seconds, in all sessions (callbacks excluded)
    interrupted: bool                  # stopped by Ctrl-C before the steps or minutes were done
    recent: list[dict[str, float]]     # the logs of the last (up to) 100 steps of this session


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite: nothing after that step is worth saving."""


def progress_of(step: int, elapsed: float, settings) -> float:
    """How far training is, 0 → 1: by steps or by minutes, whichever is further."""
    parts = []
    if settings.steps is not None:
        parts.append(step / settings.steps)
    if settings.minutes is not None:
        parts.append(elapsed / (60 * settings.minutes))
    return max(parts)


class DeferredInterrupt:
    """Ctrl-C (SIGINT) during training: the first press only asks the loop to stop, so the step in
    progress finishes and what is saved is a consistent state; a second press quits at once.

    Signal handlers can only be set in the main thread; elsewhere this does nothing."""

    def __init__(self):
        self.requested = False
        self._installed = False
        self._previous = None

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt  # the second Ctrl-C: the user wants out now
        self.requested = True
        try:  # said at once: a step can take seconds, and a user who sees nothing presses again
            sys.stderr.write("\nCtrl-C: finishing this step, then saving (Ctrl-C again quits at once, unsaved)\n")
        except (RuntimeError, OSError, ValueError):
            pass  # the signal arrived in the middle of another write to stderr (a reentrant call)

    def __exit__(self, *exc) -> None:
        if self._installed:  # getsignal gives None for a handler set outside Python: Python's own then
            signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Adam's moments and step counts as flat tensors 'optim.<param index>.<name>' (for safetensors)."""
    return {f"optim.{index}.{key}": torch.as_tensor(value)
            for index, state in opt.state_dict()["state"].items() for key, value in state.items()}


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    """The inverse of `optimizer_tensors`: put the saved moments back into `opt`."""
    state = opt.state_dict()
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state["state"].setdefault(int(index), {})[name] = value
    opt.load_state_dict(state)


def save_run_checkpoint(files: RunFiles, task: TrainingTask, step: int, elapsed: float, settings,
                        final: bool = False) -> None:
    """Everything a resume needs, in the layout of the module docstring."""
    tensors = {f"{prefix}.{k}": v for prefix, module in task.modules.items() for k, v in module.state_dict().items()}
    tensors.update(optimizer_tensors(task.optimizer))
    tensors.update({f"rng.{name}": g.get_state() for name, g in task.generators.items()})
    extra = {"step": str(step), "elapsed": repr(elapsed), "settings": settings_json(settings)}
    extra.update({f"{name}_rng": json.dumps(rng.bit_generator.state) for name, rng in task.numpy_rngs.items()})
    files.save_run(tensors, extra, final=final)


def load_run_checkpoint(files: RunFiles, task: TrainingTask) -> tuple[int, float]:
    """Put a run checkpoint back into the task's modules, optimiser and generators; (step, elapsed).

    The file's kind, config and settings were checked when `files` was prepared."""
    path = files.run_path
    tensors, meta = checkpoints.load_checkpoint(path, kind=files.run_kind)
    for prefix, module in task.modules.items():
        start = len(prefix) + 1
        checkpoints.load_state_into(module, {k[start:]: v for k, v in tensors.items()
                                             if k.startswith(prefix + ".")}, str(path))
    restore_optimizer(task.optimizer, tensors)
    for name, generator in task.generators.items():
        generator.set_state(tensors[f"rng.{name}"])
    for name, rng in task.numpy_rngs.items():
        rng.bit_generator.state = json.loads(meta[f"{name}_rng"])
    return int(meta["step"]), float(meta["elapsed"])


def _optimizer_step(task: TrainingTask, lr: float, step: int, files: RunFiles) -> dict[str, float]:
    for group in task.optimizer.param_groups:
        group["lr"] = lr
    loss, logs = task.loss_step()
    if not torch.isfinite(loss):
        kept = f"the run checkpoint {files.run_path} holds the last good state; " if files.run_path else ""
        raise TrainingDiverged(f"the loss became {loss.item()} at step {step + 1}: training diverged; "
                               f"{kept}try a lower --lr")
    task.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(task.params, 1.0)
    task.optimizer.step()
    return logs


def run_training(task: TrainingTask, settings, files: RunFiles, progress: bool = True, callback=None,
                 callback_every: int = 25) -> RunResult:
    """Train `task` until `settings.steps` or `settings.minutes` is reached, or Ctrl-C.

    callback(step, numbers, task.callback_model) is called every `callback_every` steps with the
    task's summary numbers and 'train_seconds'; its time does not count as training time, and a
    KeyboardInterrupt raised in it stops the run like Ctrl-C. Writes the final run checkpoint."""
    step, elapsed = load_run_checkpoint(files, task) if files.resume else (0, 0.0)
    bar = tqdm(total=settings.steps, initial=step, disable=not progress, desc=task.name, unit="step",
               file=sys.stderr)
    recent: deque[dict[str, float]] = deque(maxlen=100)
    start = time.perf_counter() - elapsed  # moved forward by the callbacks' time
    last_save = time.perf_counter()
    with DeferredInterrupt() as interrupt:
        try:
            while not interrupt.requested and progress_of(step, time.perf_counter() - start, settings) < 1.0:
                lr = lr_at(progress_of(step, time.perf_counter() - start, settings), settings.lr)
                recent.append(_optimizer_step(task, lr, step, files))
                step += 1
                if task.after_step is not None:
                    task.after_step(step)
                bar.update(1)
                if step % LOG_EVERY == 0:
                    bar.set_postfix({k: f"{v:.4g}" for k, v in task.summarize(list(recent)[-LOG_EVERY:]).items()})
                if callback is not None and step % callback_every == 0:
                    paused = time.perf_counter()
                    numbers = task.summarize(list(recent)[-LOG_EVERY:]) | {"train_seconds": paused - start}
                    try:
                        callback(step, numbers, task.callback_model)
                    except KeyboardInterrupt:
                        interrupt.requested = True
                    start += time.perf_counter() - paused  # the callback's time is not training time
                if files.run_path is not None and time.perf_counter() - last_save > settings.checkpoint_every:
                    save_run_checkpoint(files, task, step, time.perf_counter() - start, settings)
                    last_save = time.perf_counter()
        finally:
            bar.close()
        elapsed = time.perf_counter() - start
        interrupted = interrupt.requested and progress_of(step, elapsed, settings) < 1.0
        if interrupted:
            print(f"interrupted at step {step}: saving what was learned so far", file=sys.stderr)
        if files.run_path is not None:
            save_run_checkpoint(files, task, step, elapsed, settings, final=True)
    return RunResult(step, elapsed, interrupted, list(recent))


def cli_report(train: Callable[[], tuple[object, dict]], out) -> int:
    """Run `train()` for the command line: metrics as JSON on stdout, messages on stderr, and the
    exit status shells expect: 0 done, 130 interrupted (Ctrl-C)."""
    try:
        _, metrics = train()
    except KeyboardInterrupt:
        print("latentlab train: quit at once (Ctrl-C twice): nothing saved after the last run checkpoint",
              file=sys.stderr)
        return 130
    print(strict_json.dumps({"out": str(out), **metrics}, indent=2))
    return 130 if metrics["interrupted"] else 0


__all__ = ["DeferredInterrupt", "RunResult", "TrainingDiverged", "TrainingTask", "cli_report", "load_run_checkpoint",
           "lr_at", "progress_of", "run_training", "save_run_checkpoint"]
