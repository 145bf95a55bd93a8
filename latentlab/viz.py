"""Matplotlib figures as pure functions: data in, a `Figure` out (testable without a display),
and the small analyses they plot (the PCA of denoising trajectories).

Each function builds a `matplotlib.figure.Figure` directly (no pyplot, so no global figure list
that fills up and no double display); a notebook shows it with `display(fig)`, a test checks its axes.
Other lessons add their figures here.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from latentlab.pipeline import Trajectory, interpolate_noise, make_generator
from latentlab.schedules import NoiseSchedule

SCHEDULE_COLOURS = {"linear": "tab:blue", "scaled_linear": "tab:orange", "cosine": "tab:green"}


def schedule_curves(schedules: dict[str, NoiseSchedule], t: int | None = None, figsize=(9, 3.2)) -> Figure:
    """ᾱ_t (left) and SNR in dB (right) against t for each named schedule; a marker line at `t`."""
    fig = Figure(figsize=figsize)
    ax_alpha, ax_snr = fig.subplots(1, 2)
    for name, schedule in schedules.items():
        steps = torch.arange(schedule.num_train_timesteps)
        colour = SCHEDULE_COLOURS.get(name)
        ax_alpha.plot(steps, schedule.alpha_bar, label=name, color=colour)
        ax_snr.plot(steps, schedule.snr_db, label=name, color=colour)
    ax_alpha.set(title="ᾱ_t: signal variance left", xlabel="t", ylabel="ᾱ_t", ylim=(0, 1.02))
    ax_snr.set(title="SNR_t = ᾱ/(1−ᾱ) in dB", xlabel="t", ylabel="dB")
    ax_snr.axhline(0, color="grey", lw=0.8, ls=":")  # SNR = 1
    if t is not None:
        for ax in (ax_alpha, ax_snr):
            ax.axvline(t, color="black", lw=1, ls="--")
    ax_alpha.legend(frameon=False)
    fig.tight_layout()
    return fig


def image_row(images: list, titles: list[str], figsize_per_image: float = 2.6) -> Figure:
    """PIL images or (H, W, 3) arrays side by side, each with its title."""
    fig = Figure(figsize=(figsize_per_image * len(images), figsize_per_image + 0.4))
    axes = fig.subplots(1, len(images), squeeze=False)
    for ax, image, title in zip(axes[0], images, titles):
        ax.imshow(image)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig


def trajectory_grid(trajectories: dict, frames: list[int], lim: float = 3.5, figsize_per_panel: float = 2.0) -> Figure:
    """2-D particle clouds: one row per sampler (name → Trajectory of (n, 2) latents), one column per frame.

    A frame k < len(trajectory) shows the model input x_t of step k; k = len(trajectory) the final sample.
    """
    rows, cols = len(trajectories), len(frames)
    fig = Figure(figsize=(figsize_per_panel * cols, figsize_per_panel * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for r, (name, trajectory) in enumerate(trajectories.items()):
        for c, k in enumerate(frames):
            points = trajectory.x_t[k] if k < len(trajectory) else trajectory.sample
            ax = axes[r][c]
            ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.5, color="tab:blue")
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xticks=[], yticks=[], aspect="equal")
            if r == 0:
                ax.set_title(f"t = {trajectory.timesteps[k]:.0f}" if k < len(trajectory) else "final", fontsize=9)
            if c == 0:
                ax.set_ylabel(name)
    fig.tight_layout()
    return fig


SPACE_COLOURS = {"pixel": "tab:red", "f4c3": "tab:orange", "f8c4": "tab:blue", "f16c16": "tab:purple"}


def _plain_log_axis(axis) -> None:
    """Ticks at 1, 2, 5 × 10^k written as plain numbers (0.05, 20), not 5×10⁻² in overlapping minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def study_figure(study: dict, figsize=(13, 3.8)) -> Figure:
    """The mini LDM-f study (`latentlab study ldm-f`): joint adherence and Fréchet distance against
    training time, adherence against training compute, and final adherence against sampling speed."""
    fig = Figure(figsize=figsize)
    ax_time, ax_fd, ax_flops, ax_speed = fig.subplots(1, 4)
    for run in study["runs"]:
        colour, label = SPACE_COLOURS.get(run["space"]), run["space"]
        minutes = [0.0] + [p["train_minutes"] for p in run["curve"]]
        ax_time.plot(minutes, [0.0] + [p["joint"] for p in run["curve"]], "o-", color=colour, label=label)
        ax_fd.plot([p["train_minutes"] for p in run["curve"]], [p["frechet"] for p in run["curve"]], "o-",
                   color=colour, label=label)
        ax_flops.plot([p["train_pflops"] for p in run["curve"]], [p["joint"] for p in run["curve"]], "o-",
                      color=colour, label=label)
        ax_speed.scatter(run["images_per_second"], run["final"]["joint"], color=colour, s=40)
        ax_speed.annotate(label, (run["images_per_second"], run["final"]["joint"]), fontsize=8,
                          xytext=(4, 4), textcoords="offset points")
    # Dashed: the space's round trip (real pictures through its autoencoder and back), what it keeps before training.
    for run in study["runs"]:
        trip = study.get("round_trip", {}).get(run["space"])
        if trip is None:
            continue
        colour = SPACE_COLOURS.get(run["space"])
        ax_time.axhline(trip["joint"], color=colour, ls="--", lw=0.9, alpha=0.7)
        if trip["frechet"] > 0.01:  # pixel space's round trip *is* the reference: 0, off a log axis
            ax_fd.axhline(trip["frechet"], color=colour, ls="--", lw=0.9, alpha=0.7)
    floor = study.get("frechet_real_vs_real")
    if floor is not None:
        ax_fd.axhline(floor, color="grey", ls=":", lw=1)
        ax_fd.text(0.02, floor, "real vs real", transform=ax_fd.get_yaxis_transform(), va="bottom", fontsize=7,
                   color="grey")
    ax_time.set(title="adherence while training", xlabel="training minutes", ylabel="joint shape+colour",
                ylim=(0, 1.03))
    ax_fd.set(title="Fréchet distance (lower: closer to real)", xlabel="training minutes", yscale="log")
    ax_flops.set(title="adherence per training compute", xlabel="PFLOPs of training", xscale="log", ylim=(0, 1))
    ax_speed.set(title="quality vs sampling speed", xlabel="pictures per second", xscale="log", ylim=(0, 1))
    for axis in (ax_fd.yaxis, ax_flops.xaxis, ax_speed.xaxis):
        _plain_log_axis(axis)
    handles, _ = ax_time.get_legend_handles_labels()
    if study.get("round_trip"):
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="grey", ls="--", lw=0.9, label="round trip (dashed)"))
    ax_time.legend(handles=handles, frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(0.0, 0.93))
    settings = study["settings"]
    fig.suptitle(f"{settings['minutes_per_run']:g} minutes per space · {settings['image_size']} px · "
                 f"{study['hardware']}", fontsize=9)
    fig.tight_layout()
    return fig


def why_latent_bars(bench: dict, figsize=(11, 3.4)) -> Figure:
    """`latentlab bench why-latent`: one UNet step's time, FLOPs and peak memory per space (log scale)."""
    rows = bench["rows"]
    names = [r["space"] for r in rows]
    colours = [SPACE_COLOURS.get(n, "grey") for n in names]
    fig = Figure(figsize=figsize)
    axes = fig.subplots(1, 3)
    for ax, key, title in zip(axes, ("ms", "gflops", "peak_mb"),
                              ("one UNet step (ms)", "GFLOPs per step", "peak memory (MB)")):
        values = [r[key] for r in rows]
        # A CPU's resident-memory counter moves in pages: a small step can read 0 MB. Draw those at 0.5 ("< 1").
        heights = [0.5 if v is None or v < 1 else v for v in values]
        bars = ax.bar(names, heights, color=colours)
        ax.set(title=title, yscale="log")
        for bar, value, height in zip(bars, values, heights):
            label = "n/a" if value is None else ("< 1" if value < 1 else f"{value:.3g}")
            ax.annotate(label, (bar.get_x() + bar.get_width() / 2, height), ha="center", va="bottom", fontsize=8)
    fig.suptitle(f"{bench['size']} px pictures · {bench['device']}", fontsize=9)
    fig.tight_layout()
    return fig


# --- norms along a path: the denoising run (lesson 05) and between two noises (lesson 06) ---------


def norm_figure(trajectory: Trajectory, expected: torch.Tensor | None = None, figsize=(6.5, 3.2)) -> Figure:
    """‖x_t‖ and ‖x̂0‖ of the first picture at each step, with √N (the norm of pure noise) and the final
    latent's norm as lines; `expected` (steps,), a prediction of ‖x_t‖, is drawn over them if given."""
    x_t = torch.stack([x[0] for x in trajectory.x_t]).flatten(1)  # (steps, N)
    pred_x0 = torch.stack([x[0] for x in trajectory.pred_x0]).flatten(1)  # (steps, N)
    steps = range(1, len(trajectory) + 1)
    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    ax.plot(steps, x_t.norm(dim=1), "o-", ms=3, color="tab:blue", label="‖x_t‖ (the model's input)")
    ax.plot(steps, pred_x0.norm(dim=1), "s-", ms=3, color="tab:orange", label="‖x̂0‖ (its guess)")
    if expected is not None:
        ax.plot(steps, expected, "--", color="tab:green", lw=2, label="your prediction of ‖x_t‖")
    ax.axhline(x_t.shape[1] ** 0.5, color="grey", ls="--", lw=1, label="√N: pure noise")
    ax.axhline(float(trajectory.sample[0].norm()), color="black", ls=":", lw=1, label="‖final latent‖")
    ax.set(xlabel="step", ylabel="norm", ylim=(0, None))
    ax.legend(frameon=False, fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def path_norm_figure(shape: tuple[int, ...], seeds: tuple[int, int] = (0, 1), samples: int = 2000,
                     points: int = 41) -> Figure:
    """Why slerp: the norm along lerp and slerp between two noises of `shape` (left), and where the
    midpoints fall among the norms of `samples` fresh noises (right)."""
    a = torch.randn(shape, generator=make_generator(seeds[0]))
    b = torch.randn(shape, generator=make_generator(seeds[1]))
    weights = np.linspace(0.0, 1.0, points)
    paths = ("slerp", "lerp")
    norms = {path: [float(interpolate_noise(a, b, float(w), path).norm()) for w in weights] for path in paths}
    n = math.prod(shape)
    fresh = torch.randn((samples, n), generator=make_generator(max(seeds) + 1)).norm(dim=1).numpy()  # (samples,)

    fig = Figure(figsize=(10, 3.4))
    left, right = fig.subplots(1, 2)
    colours = {"slerp": "tab:blue", "lerp": "tab:red"}
    for path in paths:
        left.plot(weights, norms[path], color=colours[path], label=f"{path}(a, b, w)")
    left.axhspan(fresh.min(), fresh.max(), color="grey", alpha=0.25, label=f"range of {samples} fresh noises")
    left.axhline(math.sqrt(n), color="black", lw=0.8, ls=":", label=f"√n = {math.sqrt(n):.1f}")
    left.set(title=f"‖noise‖ along the path (n = {n} values)", xlabel="weight w", ylabel="norm")
    left.legend(frameon=False, fontsize=8)
    right.hist(fresh, bins=40, color="grey", alpha=0.6, label="fresh noises")
    for path in paths:
        mid = norms[path][points // 2]
        right.axvline(mid, color=colours[path], lw=2, label=f"{path} at w = {weights[points // 2]:.2f}: {mid:.1f}")
    right.set(title="what the model has seen, and the midpoints", xlabel="norm", ylabel="count")
    right.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


# --- trajectories on their two principal axes (lesson 05) ------------------------------------------


def trajectory_points(trajectories: list[Trajectory], what: str = "x_t") -> torch.Tensor:
    """The latents of every step of every path, flattened: (paths, steps, D) with D = c·h·w.

    Each trajectory adds one path per picture of its batch; all must have the same steps and shape."""
    if not trajectories:
        raise ValueError("trajectory_points needs at least one trajectory")
    stacks = [trajectory.stacked(what) for trajectory in trajectories]  # (steps, b, c, h, w) each
    shapes = {tuple(stack.shape[:1]) + tuple(stack.shape[2:]) for stack in stacks}
    if len(shapes) > 1:
        raise ValueError(f"the trajectories differ in steps or latent shape: {sorted(shapes)}; sample them "
                         "with the same steps and image size")
    return torch.cat([stack.transpose(0, 1).flatten(2) for stack in stacks]).float()  # (paths, steps, D)


def principal_components(points: torch.Tensor, k: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of points (N, D): their mean (D,), the first k principal axes as orthonormal rows (k, D),
    and the fraction of the variance along each axis (k,).

    The axes are the right singular vectors of the centred points (Pearson 1901 via the SVD). An
    axis' sign is arbitrary; each is flipped so that its largest entry is positive (a fixed choice,
    so two runs draw the same picture)."""
    if points.ndim != 2 or points.shape[0] < 2:
        raise ValueError(f"principal_components expects at least 2 points as (N, D), got {tuple(points.shape)}")
    N, D = points.shape
    if not 1 <= k <= min(N, D):
        raise ValueError(f"k must be between 1 and min(N, D) = {min(N, D)}, got {k}")
    mean = points.double().mean(0)
    _, singular_values, Vh = torch.linalg.svd(points.double() - mean, full_matrices=False)  # Vh: (min(N, D), D)
    axes = Vh[:k]
    largest = axes.gather(1, axes.abs().argmax(1, keepdim=True))  # (k, 1)
    axes = axes * torch.where(largest < 0, -1.0, 1.0)
    variance = singular_values**2
    return mean.float(), axes.float(), (variance[:k] / variance.sum()).float()


def trajectory_pca(trajectories: list[Trajectory], what: str = "x_t") -> torch.Tensor:
    """Every step's x_t (or x̂0) of every path, projected on the first 2 principal axes of all of them.

    → (paths, steps, 2), centred: the mean over all paths and steps is 0."""
    points = trajectory_points(trajectories, what)  # (P, steps, D)
    P, steps, D = points.shape
    mean, axes, _ = principal_components(points.reshape(P * steps, D), k=2)
    return ((points.reshape(P * steps, D) - mean) @ axes.T).reshape(P, steps, 2)


def pca_figure(paths: torch.Tensor, labels: list[str], explained: torch.Tensor | None = None,
               figsize=(5.5, 4.5)) -> Figure:
    """Paths (P, steps, 2) as lines: ○ at the first step (noise), ★ at the last; one colour per label."""
    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    for path, label in zip(paths.numpy(), labels):
        line, = ax.plot(path[:, 0], path[:, 1], lw=1.2, marker=".", ms=3, label=label)
        ax.plot(*path[0], "o", color=line.get_color(), mfc="white", ms=7)
        ax.plot(*path[-1], "*", color=line.get_color(), ms=12)
    names = ["PC 1", "PC 2"] if explained is None else [f"PC {i + 1} ({100 * float(e):.0f} % of the variance)"
                                                        for i, e in enumerate(explained[:2])]
    ax.set(xlabel=names[0], ylabel=names[1], title="x_t of every step, projected (○ noise → ★ picture)")
    ax.axhline(0, color="grey", lw=0.6, ls=":")
    ax.axvline(0, color="grey", lw=0.6, ls=":")
    ax.legend(frameon=False, fontsize=8, loc="best")
    fig.tight_layout()
    return fig


__all__ = ["schedule_curves", "image_row", "trajectory_grid", "study_figure", "why_latent_bars", "norm_figure",
           "path_norm_figure", "trajectory_points", "principal_components", "trajectory_pca", "pca_figure",
           "SCHEDULE_COLOURS", "SPACE_COLOURS"]
