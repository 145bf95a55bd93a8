"""The `latentlab` command line (also `python -m latentlab`).

    latentlab lab                      open the course in JupyterLab (lesson 00)
    latentlab lessons build [--check]  lesson sources → student and solution notebooks, README's table
    latentlab lessons time [--lessons 01 02]   run each lesson's notebook on the CPU, record its time
    latentlab train vae --preset f8c4  train a VAE (resumable; the shipped ones' commands are in MODELS.md)
    latentlab encode IMAGE             an image's latent: shape, values, bytes; optionally save it
    latentlab eval vae --images DIR    PSNR/SSIM of a VAE on a folder, with codec baselines
    latentlab bench widgets            widget update latency
    latentlab study ldm-f --minutes-per-run N   the same UNet in pixel space and three latent spaces

Thin by design: a command checks its arguments, calls the module that owns the work and prints
the result. Defaults live in that module (an option left out is not passed on), JSON goes through
`strict_json.dumps`, messages go to stderr, and bad usage exits with 2 before any work starts.
Each command imports its module when it runs, so `latentlab lab` and `--help` start without
loading torch (seconds on a laptop).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from pathlib import Path

from .spaces import SPACES
from .strict_json import dumps


def _print_json(result: dict, indent: int | None = 2) -> None:
    """Strict JSON on stdout: NaN/Infinity become null with a reason (other programs read this)."""
    print(dumps(result, indent=indent))


def _given(args, *names: str) -> dict:
    """The options the user gave (their argparse default is None), so the called function's own
    defaults or its settings dataclass's apply to the rest: one place holds each default."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _integer(low: int, multiple: int = 1):
    """An argparse type: an integer ≥ `low` and a multiple of `multiple`, or a usage error saying so."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or value % multiple:
            wanted = f"a multiple of {multiple}, at least {low}" if multiple > 1 else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {wanted}; got {value}")
        return value
    return parse


def _number(low: float, strict: bool = False):
    """An argparse type: a finite number ≥ `low` (> `low` if `strict`); nan and inf are refused."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"must be a finite number {'>' if strict else '≥'} {low:g}; got {text}")
        return value
    return parse


POSITIVE, NATURAL = _integer(1), _integer(0)


def _cmd_lab(args) -> int:
    import subprocess

    from .lessons import LESSONS, NOTEBOOKS

    notebook = Path(args.notebook) if args.notebook else NOTEBOOKS / f"{LESSONS[0].stem}.ipynb"
    if not notebook.is_file():
        print(f"latentlab lab: no notebook at {notebook}; run it from a clone of the latentlab repository", file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "jupyter", "lab", str(notebook), *args.jupyter_args]
    # Jupyter refuses to start as root unless told; containers and course machines often are root.
    if getattr(os, "geteuid", lambda: 1)() == 0 and "--allow-root" not in command:
        command.append("--allow-root")
    print("starting:", " ".join(command), file=sys.stderr)
    return subprocess.call(command, cwd=notebook.parent)


def _cmd_lessons_build(args) -> int:
    from .lessons.build import LessonSourceError, build

    try:
        changed = build(check=args.check)
    except LessonSourceError as err:
        print(f"latentlab lessons build: {err}", file=sys.stderr)
        return 2
    if args.check:
        for path in changed:
            print(f"stale: {path} (run `latentlab lessons build`)", file=sys.stderr)
        return 1 if changed else 0
    print(f"wrote {len(changed)} file(s)" + "".join(f"\n  {path}" for path in changed))
    return 0


def _cmd_lessons_time(args) -> int:
    from .lessons.timing import TIMES, LessonTimingError, select_lessons, time_lessons

    try:
        lessons = select_lessons(args.lessons)
        result = time_lessons(lessons, progress=lambda line: print(line, file=sys.stderr))
    except (ValueError, LessonTimingError) as err:
        print(f"latentlab lessons time: {err}", file=sys.stderr)
        return 2
    if args.json:
        _print_json(result)
    print(f"wrote {TIMES}; run `latentlab lessons build` to put the times in the lessons' headers", file=sys.stderr)
    return 0


def _cmd_train_vae(args) -> int:
    from .harness import cli_report
    from .train import VAETrainSettings, train_vae
    from .vae import VAEConfig

    config = VAEConfig.preset(args.preset)
    command = " ".join(["latentlab", *args.argv])  # recorded in the model card
    # steps and minutes always as given: the one not given means "no such limit" here.
    settings = VAETrainSettings(steps=args.steps, minutes=args.minutes, decoder_only=args.decoder_only,
                                **_given(args, "batch_size", "patch_size", "lr", "seed", "shapes"),
                                extra_metrics={"command": command})
    out = Path(args.out) if args.out else Path("runs") / f"vae-{args.preset}.safetensors"
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / f"vae-{args.preset}"
    return cli_report(lambda: train_vae(config, out, settings, run_dir=run_dir, resume=args.resume,
                                        init_from=args.init, overwrite=args.overwrite), out)


def _cmd_train_ldm(args) -> int:
    from .harness import cli_report
    from .ldm import LDMConfig
    from .train import LDMTrainSettings, train_ldm

    config = LDMConfig.tiny() if args.preset == "tiny" else LDMConfig()
    command = " ".join(["latentlab", *args.argv])  # recorded in the model card
    minutes = 60.0 if args.minutes is None and args.steps is None else args.minutes
    settings = LDMTrainSettings(steps=args.steps, minutes=minutes,
                                **_given(args, "batch_size", "lr", "dataset_size", "seed", "offset_noise"),
                                extra_metrics={"command": command})
    out = Path(args.out) if args.out else Path("runs") / "ldm-shapes.safetensors"
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / "ldm-shapes"
    return cli_report(lambda: train_ldm(out, settings, config=None if args.init else config, run_dir=run_dir,
                                        resume=args.resume, init_from=args.init, overwrite=args.overwrite), out)


def _cmd_train_evaluator(args) -> int:
    from .shapes_eval import EvaluatorTrainSettings, save_shapes_evaluator, train_and_measure_evaluator
    from .train import hardware

    settings = EvaluatorTrainSettings(**_given(args, "steps", "pool", "seed"))
    out = Path(args.out) if args.out else Path("runs") / "shapes-evaluator.safetensors"
    model, metrics = train_and_measure_evaluator(settings, hardware=hardware(),
                                                 command=" ".join(["latentlab", *args.argv]))
    save_shapes_evaluator(out, model, metrics)
    _print_json({"out": str(out), **metrics})
    return 0


def _cmd_bench_why_latent(args) -> int:
    from .device import pick_device
    from .why_latent import bench_why_latent, default_sizes

    device = pick_device() if args.device is None else args.device
    options = _given(args, "repeats", "threads")
    results = [bench_why_latent(size=size, device=device, **options) for size in args.size or default_sizes(device)]
    result = results[0] if len(results) == 1 else {**results[0], "by_size": {str(r["size"]): r for r in results}}
    _print_json(result, indent=None if args.json else 2)
    return 0


def _cmd_study_ldm_f(args) -> int:
    from .study import StudySettings, run_study, summary

    settings = StudySettings(**_given(args, "minutes_per_run", "image_size", "batch_size", "dataset_size",
                                      "samples", "evals", "spaces"))
    result = run_study(args.out, settings, progress=not args.json)
    if args.json:
        _print_json(result, indent=None)
        return 0
    print(summary(result))
    print(f"written: {Path(args.out) / 'study-ldm-f.json'} and study-ldm-f.png")
    return 0


def _cmd_bench_vs_diffusers(args) -> int:
    from .vs_diffusers import bench_vs_diffusers

    result = bench_vs_diffusers(**_given(args, "size", "repeats", "threads"))
    _print_json(result, indent=None if args.json else 2)
    return 0


def _cmd_bench_sample(args) -> int:
    from .bench import bench_sample

    result = bench_sample(**_given(args, "images", "steps", "repeats", "threads"))
    _print_json(result, indent=None if args.json else 2)
    return 0


def _cmd_eval_ldm(args) -> int:
    from .checkpoints import load_ldm, load_pretrained, shipped_models
    from .evaluate_vae import resolve_vae
    from .shapes_eval import LDMEvalSettings, check_same_latent_space, evaluate_ldm, load_shapes_evaluator

    # Settings first: a bad sampler or step count is refused before seconds of loading.
    settings = LDMEvalSettings(**_given(args, "samples", "table_samples", "sampler", "steps", "cfg", "seed"))
    model = load_pretrained(args.model, kind="ldm") if args.model in shipped_models() else load_ldm(args.model)
    vae_name = args.vae or model.config.vae
    _, vae = resolve_vae(vae_name)
    check_same_latent_space(model, vae, vae_name)
    result = evaluate_ldm(model, vae, load_shapes_evaluator(), settings, progress=not args.json)
    _print_json({"model": args.model, "vae": vae_name, **result}, indent=None if args.json else 2)
    return 0


def _load_model(args):
    """(name, vae) from --sd-vae (a diffusers-layout SD VAE) or --model (shipped name or latentlab file)."""
    from .checkpoints import load_diffusers_vae
    from .evaluate_vae import resolve_vae

    if getattr(args, "sd_vae", None):
        return f"sd-vae:{Path(args.sd_vae).name}", load_diffusers_vae(args.sd_vae)
    return resolve_vae(args.model)


def _cmd_eval_vae(args) -> int:
    from .evaluate_vae import evaluate_vae, summary

    name, vae = _load_model(args)
    result = evaluate_vae(vae, args.images, name=name, progress=not args.no_progress)
    if not args.per_image:
        result.pop("per_image")
    if args.json:
        _print_json(result)
        return 0
    print(summary(result, args.images))
    return 0


def _cmd_encode(args) -> int:
    import torch

    from .checkpoints import save_checkpoint
    from .images import to_tensor
    from .metrics import compression_figures, latent_stats

    name, vae = _load_model(args)
    f = vae.downsample_factor
    x = to_tensor(args.image, multiple=f)  # (1, 3, H, W) in [-1, 1]
    with torch.no_grad():
        # The scaled latent (LDM §4.3.2): what a diffusion model would see; mode() = deterministic.
        latent = vae.to_latent(x)  # (1, c, H/f, W/f)
    figures = compression_figures(tuple(x.shape[2:]), tuple(latent.shape))
    result = {"model": name, "image": str(args.image), "image_size": list(x.shape[2:]),
              "latent_shape": list(latent.shape), "scaling_factor": vae.scaling_factor,
              "stats": latent_stats(latent), "sizes": figures.as_dict()}
    if args.out:
        save_checkpoint(args.out, {"latent": latent}, kind="latent", config_json=vae.config.to_json(),
                        extra={"model": name, "image": str(args.image)}, dtype=torch.float16)
        result["out"] = str(args.out)
    if args.json:
        _print_json(result)
        return 0
    c, h, w = figures.latent_shape
    print(f"{args.image}: {x.shape[3]}×{x.shape[2]} px → latent {c}×{h}×{w} with {name} (× scaling factor {vae.scaling_factor:.4g})")
    print(f"  values: {figures.pixel_values} → {figures.latent_values} ({figures.value_ratio:.1f}× fewer)")
    print("  bytes:  raw " + f"{figures.raw_bytes}, latent " +
          ", ".join(f"{k} {b} ({figures.ratio[k]:.0f}×, {figures.latent_bpp[k]:.2f} bpp)" for k, b in figures.latent_bytes.items()))
    stats = result["stats"]
    print(f"  latent: mean {stats['mean']:+.3f}, std {stats['std']:.3f}, range [{stats['min']:.3f}, {stats['max']:.3f}]")
    if args.out:
        print(f"  saved to {args.out}")
    return 0


def _cmd_bench_widgets(args) -> int:
    from .bench import bench_widgets

    keys = args.keys.split(",") if args.keys else None
    result = bench_widgets(keys=keys, **_given(args, "repeats", "size", "threads"))
    if args.json:
        _print_json(result)
        return 0
    print(f"widget update latency, median of {result['repeats']} updates at {result['size']} px "
          f"({result['device']}):")
    for key, ms in result["median_ms"].items():
        print(f"  {key:<16}{ms:8.1f} ms")
    for key, note in result.get("notes", {}).items():
        print(f"  {key:<16}{note}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latentlab", description="latent diffusion, from scratch: the course's tools")
    sub = parser.add_subparsers(dest="command", required=True)

    lab = sub.add_parser("lab", help="open the course in JupyterLab")
    lab.add_argument("--notebook", help="notebook to open (default: notebooks/00_welcome.ipynb)")
    lab.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed on to jupyter lab")
    lab.set_defaults(func=_cmd_lab)

    lessons = sub.add_parser("lessons", help="the lesson sources and the notebooks generated from them")
    lessons_sub = lessons.add_subparsers(dest="what", required=True)
    lessons_build = lessons_sub.add_parser("build", help="write the student and solution notebooks and README's table")
    lessons_build.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated file is stale")
    lessons_build.set_defaults(func=_cmd_lessons_build)
    lessons_time = lessons_sub.add_parser("time", help="run each lesson's notebook on the CPU and record its time")
    lessons_time.add_argument("--lessons", nargs="+", metavar="NN", help="only these lessons (default: all)")
    lessons_time.add_argument("--json", action="store_true", help="print the recorded times as JSON")
    lessons_time.set_defaults(func=_cmd_lessons_time)

    train = sub.add_parser("train", help="train a model")
    train_sub = train.add_subparsers(dest="what", required=True)
    vae = train_sub.add_parser("vae", help="train a VAE on the bundled photos")
    vae.add_argument("--preset", default="f8c4", help="f8c4 (default), f4c3, f16c16, tiny or sd_v1")
    vae.add_argument("--steps", type=POSITIVE, help="optimiser steps (reproducible)")
    vae.add_argument("--minutes", type=_number(0, strict=True), help="training time budget")
    vae.add_argument("--batch-size", type=POSITIVE, help="default 8")
    vae.add_argument("--patch-size", type=POSITIVE, help="a multiple of the preset's f (default 128)")
    vae.add_argument("--lr", type=_number(0, strict=True), help="default 2e-3")
    vae.add_argument("--seed", type=NATURAL, help="default 0")
    vae.add_argument("--out", help="where to write the fp16 model (default runs/vae-PRESET.safetensors)")
    vae.add_argument("--run-dir", help="resumable run checkpoints (default runs/vae-PRESET)")
    vae.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.safetensors")
    vae.add_argument("--overwrite", action="store_true", help="start over in a RUN_DIR that holds a run (replaces it)")
    vae.add_argument("--init", help="fine-tune: start from this VAE checkpoint (same preset), new schedule")
    vae.add_argument("--decoder-only", action="store_true",
                     help="with --init: fine-tune the decoder only; the latent space stays exactly the same")
    vae.add_argument("--shapes", type=_number(0),
                     help="share of each batch that is whole captioned-shapes pictures (default 0: photos only)")
    vae.set_defaults(func=_cmd_train_vae)

    ldm = train_sub.add_parser("ldm", help="train the text-to-image model on captioned shapes (vae-f8c4 latents)")
    ldm.add_argument("--preset", default="shapes", choices=["shapes", "tiny"])
    ldm.add_argument("--minutes", type=_number(0, strict=True), help="training time budget (default 60 if no --steps)")
    ldm.add_argument("--steps", type=POSITIVE, help="optimiser steps (reproducible)")
    ldm.add_argument("--batch-size", type=POSITIVE, help="default 64")
    ldm.add_argument("--lr", type=_number(0, strict=True), help="default 6e-4")
    ldm.add_argument("--dataset-size", type=POSITIVE, help="default 24000")
    ldm.add_argument("--seed", type=NATURAL, help="default 0")
    ldm.add_argument("--out", help="where to write the fp16 model (default runs/ldm-shapes.safetensors)")
    ldm.add_argument("--run-dir", help="resumable run checkpoints and the latent cache (default runs/ldm-shapes)")
    ldm.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.safetensors")
    ldm.add_argument("--overwrite", action="store_true", help="start over in a RUN_DIR that holds a run (replaces it)")
    ldm.add_argument("--offset-noise", type=_number(0),
                     help="per-channel noise offset (0.1 is common): stops the model reading colours from the noise's mean")
    ldm.add_argument("--init", help="fine-tune: start from this ldm checkpoint (its config), new schedule")
    ldm.set_defaults(func=_cmd_train_ldm)

    def add_ldm_eval(sub_parsers):
        p = sub_parsers.add_parser("ldm", help="prompt adherence of a text-to-image model, read by the shapes evaluator")
        p.add_argument("--model", default="ldm-shapes", help="a shipped model name or a latentlab .safetensors file")
        p.add_argument("--vae", default=None, help="decode with this VAE (a shipped name or a file) instead of the "
                                                   "model's own; it must share the model's latent space")
        # Defaults: shapes_eval.LDMEvalSettings (its sampling ones: pipeline.SamplingDefaults).
        p.add_argument("--samples", type=POSITIVE, help="pictures at the sampling settings")
        p.add_argument("--table-samples", type=NATURAL, help="pictures per cell of the CFG × steps table (0: no table)")
        p.add_argument("--sampler", help="ddim, ddpm, euler, dpmpp_2m, … (latentlab.samplers.SAMPLERS)")
        p.add_argument("--steps", type=POSITIVE, help="sampling steps")
        p.add_argument("--cfg", type=_number(0), help="classifier-free guidance scale (1: none)")
        p.add_argument("--seed", type=NATURAL)
        p.add_argument("--json", action="store_true", help="one JSON object on stdout, no progress bars")
        p.set_defaults(func=_cmd_eval_ldm)

    evaluator = train_sub.add_parser("evaluator", help="train the shapes evaluator (reads shape, colour, background)")
    # Defaults: shapes_eval.EvaluatorTrainSettings.
    evaluator.add_argument("--steps", type=POSITIVE, help="optimiser steps")
    evaluator.add_argument("--pool", type=POSITIVE, help="real pictures drawn once for training")
    evaluator.add_argument("--seed", type=NATURAL)
    evaluator.add_argument("--out", help="default runs/shapes-evaluator.safetensors")
    evaluator.set_defaults(func=_cmd_train_evaluator)

    def add_model_options(p):
        p.add_argument("--model", default="vae-f8c4",
                       help="a shipped VAE (vae-f8c4, vae-f4c3, vae-f16c16) or a latentlab .safetensors file")
        p.add_argument("--sd-vae", metavar="PATH",
                       help="a Stable Diffusion VAE in diffusers layout (.safetensors file or its folder); replaces --model")

    study = sub.add_parser("study", help="experiments whose results the lessons plot")
    study_sub = study.add_subparsers(dest="what", required=True)
    ldm_f = study_sub.add_parser("ldm-f", help="the same UNet trained in pixel space and three latent spaces, "
                                               "equal time each (LDM §4.1 in miniature)")
    # Defaults: study.StudySettings.
    ldm_f.add_argument("--minutes-per-run", type=_number(0, strict=True), required=True,
                       help="training budget of each space")
    ldm_f.add_argument("--out", default="runs/study-ldm-f", help="folder for the runs, the JSON and the figure")
    ldm_f.add_argument("--spaces", nargs="+", choices=list(SPACES), help="default: all of them")
    ldm_f.add_argument("--image-size", type=_integer(32, multiple=16), help="picture side in pixels")
    ldm_f.add_argument("--batch-size", type=POSITIVE)
    ldm_f.add_argument("--dataset-size", type=POSITIVE)
    ldm_f.add_argument("--samples", type=_integer(2), help="held-out prompts per evaluation")
    ldm_f.add_argument("--evals", type=POSITIVE, help="evaluations per run, evenly spaced in its budget")
    ldm_f.add_argument("--json", action="store_true", help="print the whole result as one JSON line")
    ldm_f.set_defaults(func=_cmd_study_ldm_f)

    evaluate = sub.add_parser("eval", help="evaluate a model")
    eval_sub = evaluate.add_subparsers(dest="what", required=True)
    eval_vae = eval_sub.add_parser("vae", help="PSNR/SSIM of a VAE on a folder of images, with codec baselines")
    add_model_options(eval_vae)
    add_ldm_eval(eval_sub)
    eval_vae.add_argument("--images", required=True, help="folder of images (used at full size)")
    eval_vae.add_argument("--json", action="store_true", help="print one JSON object")
    eval_vae.add_argument("--per-image", action="store_true", help="include every image's figures in the JSON")
    eval_vae.add_argument("--no-progress", action="store_true", help="no progress bar")
    eval_vae.set_defaults(func=_cmd_eval_vae)

    encode = sub.add_parser("encode", help="an image's latent: shape, values, sizes")
    encode.add_argument("image", help="an image file")
    add_model_options(encode)
    encode.add_argument("--out", help="save the (scaled, fp16) latent to this .safetensors file")
    encode.add_argument("--json", action="store_true", help="print one JSON object")
    encode.set_defaults(func=_cmd_encode)

    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="what", required=True)
    bench_widgets = bench_sub.add_parser("widgets", help="median latency of one widget update")
    bench_widgets.add_argument("--keys", help="comma-separated apps to time (default: all available)")
    # Defaults: the keyword defaults of bench.bench_widgets, bench_sample, why_latent.bench_why_latent
    # and vs_diffusers.bench_vs_diffusers (an option left out is not passed).
    bench_widgets.add_argument("--repeats", type=POSITIVE, help="timed updates per app (after a warm-up)")
    bench_widgets.add_argument("--size", type=_integer(64, multiple=16), help="image side in pixels")
    bench_widgets.add_argument("--threads", type=POSITIVE, help="torch threads (default: torch's own choice)")
    bench_widgets.add_argument("--json", action="store_true", help="print one JSON object")
    bench_widgets.set_defaults(func=_cmd_bench_widgets)
    bench_sample = bench_sub.add_parser("sample", help="seconds for a batch of text-to-image pictures (DDIM, decode included)")
    bench_sample.add_argument("--images", type=POSITIVE)
    bench_sample.add_argument("--steps", type=POSITIVE)
    bench_sample.add_argument("--repeats", type=POSITIVE)
    bench_sample.add_argument("--threads", type=POSITIVE, help="torch threads (default: torch's own choice)")
    bench_sample.add_argument("--json", action="store_true", help="print one JSON object")
    bench_sample.set_defaults(func=_cmd_bench_sample)
    why = bench_sub.add_parser("why-latent", help="the same UNet in pixel space and in the f4c3/f8c4/f16c16 latent spaces")
    why.add_argument("--size", type=_integer(64, multiple=64), nargs="+",
                     help="picture side(s) (default: why_latent.default_sizes, more on a GPU)")
    why.add_argument("--repeats", type=POSITIVE, help="interleaved timed forwards per space")
    why.add_argument("--device", default=None, help="cpu or cuda (default: the best available)")
    why.add_argument("--threads", type=POSITIVE, help="torch threads (default: torch's own choice)")
    why.add_argument("--json", action="store_true", help="print one JSON object")
    why.set_defaults(func=_cmd_bench_why_latent)
    vs = bench_sub.add_parser("vs-diffusers", help="latentlab / diffusers time ratios, same config and weights")
    vs.add_argument("--size", type=_integer(8, multiple=8), help="picture side of the VAE timings")
    vs.add_argument("--repeats", type=POSITIVE)
    vs.add_argument("--threads", type=POSITIVE, help="torch threads (default: torch's own choice)")
    vs.add_argument("--json", action="store_true", help="print one JSON object")
    vs.set_defaults(func=_cmd_bench_vs_diffusers)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"latentlab: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # `lab` passes every option it does not know on to jupyter (e.g. --no-browser --port 8890).
    argv = list(sys.argv[1:] if argv is None else argv)
    args, unknown = parser.parse_known_args(argv)
    args.argv = argv
    if unknown:
        if args.command != "lab":
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.jupyter_args = unknown + list(args.jupyter_args)
    if args.command == "train" and args.what == "vae" and args.steps is None and args.minutes is None:
        parser.error("train vae needs --steps N or --minutes M")
    try:
        with warnings.catch_warnings():  # restores the usual warning display afterwards
            # A warning is a message to the user here, not a pointer into latentlab's source.
            warnings.showwarning = _show_warning
            return args.func(args)
    except (ValueError, OSError) as err:
        print(f"latentlab {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
