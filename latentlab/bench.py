"""Benchmarks: speed measured side by side in one run, printed, never asserted in tests.

    latentlab bench widgets --json   →  {"median_ms": {"compression": …, "channels": …}, ...}

Widget latency is the time of one typical student change (`app.bench_step(i)`: a slider moved, a
photo picked) including the re-render it triggers, median over `repeats` changes after a warm-up
(the first renders load photos, fill caches and let torch pick its kernels). The apps come from
the registry `latentlab.widgets.APPS`; each says how it is built for the benchmark
(`App.for_bench(size)`) and what one change is (`bench_step`).
"""

from __future__ import annotations

import statistics
import time

import torch


def time_app(app, repeats: int = 10, warmup: int = 3) -> list[float]:
    """Milliseconds of each of `repeats` calls of app.bench_step(i), after `warmup` untimed ones."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    app.render()
    for i in range(warmup):
        app.bench_step(i)
    times = []
    for i in range(warmup, warmup + repeats):
        start = time.perf_counter()
        app.bench_step(i)
        times.append((time.perf_counter() - start) * 1000.0)
    # safe_render turns errors into a status line; a benchmark of an error path would mislead.
    error = app.last_error
    if error:
        raise RuntimeError(f"{type(app).__name__}.bench_step failed while timing:\n{error}")
    return times


def bench_widgets(keys: list[str] | None = None, repeats: int = 10, size: int = 256, warmup: int = 3,
                  threads: int | None = None) -> dict:
    """Median update latency of each widget app, in one run.

    keys: which apps (default: every key of `latentlab.widgets.APPS`). size: the photo side of the
    apps that show photos. threads: torch threads to use (default: leave torch's setting). Returns
        {"median_ms": {key: ms}, "all_ms": {key: [ms, ...]}, "repeats", "size", "device", "threads"}
    """
    from .device import describe_device
    from .widgets import APPS, app_class

    unknown = [k for k in keys or [] if k not in APPS]
    if unknown:
        raise ValueError(f"unknown widget app(s) {', '.join(unknown)}; known: {', '.join(APPS)}")
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels (a multiple of the VAEs' factor), got {size}")
    if threads is not None:
        torch.set_num_threads(threads)
    result = {"median_ms": {}, "all_ms": {}, "repeats": repeats, "size": size,
              "device": describe_device(torch.device("cpu")), "threads": torch.get_num_threads()}
    for key in keys or list(APPS):
        times = time_app(app_class(key).for_bench(size), repeats=repeats, warmup=warmup)
        result["median_ms"][key] = round(statistics.median(times), 2)
        result["all_ms"][key] = [round(t, 2) for t in times]
    return result


def bench_sample(images: int = 16, steps: int = 20, repeats: int = 3, model=None, vae=None,
                 threads: int | None = None) -> dict:
    """Seconds to make `images` pictures with the shipped text-to-image model (DDIM, `steps` steps,
    the default CFG, decode included), median of `repeats` runs after a warm-up; and the seconds
    of one new picture (what a student waits for after changing the prompt)."""
    from .checkpoints import load_pretrained
    from .device import describe_device
    from .pipeline import SamplingDefaults, text_to_image

    if threads is not None:
        torch.set_num_threads(threads)
    model = model if model is not None else load_pretrained("ldm-shapes", kind="ldm")
    vae = vae if vae is not None else load_pretrained(model.config.vae, kind="vae")
    device = next(model.parameters()).device
    prompts = [f"a {c} circle on a white background" for c in ("red", "blue", "green", "black")] * (images // 4 + 1)
    text_to_image(model, vae, prompts[:images], steps=2)  # warm-up: kernels, allocations

    def timed(batch_prompts) -> float:
        start = time.perf_counter()
        text_to_image(model, vae, batch_prompts, seed=1, steps=steps, sampler="ddim")
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    batch = [timed(prompts[:images]) for _ in range(repeats)]
    single = [timed(["a small red star on a blue background, top left"]) for _ in range(repeats)]
    return {"images": images, "steps": steps, "seconds": round(statistics.median(batch), 3),
            "one_image_seconds": round(statistics.median(single), 3), "sampler": "ddim",
            "cfg": SamplingDefaults().cfg, "size": model.config.image_size,
            "device": describe_device(device), "threads": torch.get_num_threads()}


def interleaved_medians(fns: dict, repeats: int = 20, warmup: int = 2) -> dict[str, float]:
    """Median milliseconds of each zero-argument callable in `fns`, timed side by side: every repeat
    calls them all once, in the given order on even repeats and reversed on odd ones, so a busy
    machine or a warm cache favours none of them. The first `warmup` repeats are not timed."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats ≥ 1 and warmup ≥ 0, got {repeats} and {warmup}")
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(warmup + repeats):
        for name in names if i % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            fns[name]()
            if i >= warmup:
                times[name].append(1000.0 * (time.perf_counter() - start))
    return {name: statistics.median(t) for name, t in times.items()}
