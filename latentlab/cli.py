"""The `latentlab` command line (also `python -m latentlab`).

    latentlab lab                      open the course in JupyterLab (lesson 00)
    latentlab lessons build [--check]  lesson sources → student and solution notebooks, README's table
    latentlab lessons time [--lessons 01 02]   run each lesson's notebook on the CPU, record its time
    latentlab train vae --preset f8c4  train a VAE (resumable; the shipped ones' commands are in MODELS.md)
    latentlab encode IMAGE             an image's latent: shape, values, bytes; optionally save it
    latentlab eval vae --images DIR    PSNR/SSIM of a VAE on a folder, with codec baselines
    latentlab bench widgets            widget update latency
    latentlab study ldm-f --minutes-per-run N   the same UNet in pixel space and three latent spaces

Thin by design: this file is the parser; each command (`commands.py`) checks its arguments, calls
the module that owns the work and prints the result. Defaults live in that module (an option left out is not passed on), JSON goes through
`strict_json.dumps`, messages go to stderr, and bad usage exits with 2 before any work starts. A bug
exits with 1 and one paragraph, never a traceback (`LATENTLAB_DEBUG=1` shows it); Ctrl-C exits with 130.
Each command imports its module when it runs, so `latentlab lab` and `--help` start without
loading torch (seconds on a laptop).

Every message here and in `commands.py` is in the learner's language (`tr`, latentlab/locale/<lang>/cli.po,
`LATENTLAB_LANG=es`); the parser is built when `main` runs, so its help texts are too.
"""

# argparse's own fixed words ("usage:", "options:", "positional arguments:", "error:", "the following
# arguments are required", "invalid choice", "show this help message and exit") stay English on purpose:
# argparse looks them up with the stdlib's `gettext.gettext`, in the process-wide default gettext domain,
# for which Python ships no catalogue. Translating them would mean binding a catalogue of our own to that
# global domain (or patching argparse), which changes every library in the process, not just latentlab.

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings

from . import commands
from .i18n import ENV, UnknownLanguage, language, tr
from .spaces import SPACES


def _integer(low: int, multiple: int = 1):
    """An argparse type: an integer ≥ `low` and a multiple of `multiple`, or a usage error saying so."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(tr("expected an integer, got {text!r}").format(text=text)) from None
        if value < low or value % multiple:
            wanted = (tr("a multiple of {multiple}, at least {low}").format(multiple=multiple, low=low) if multiple > 1
                      else tr("at least {low}").format(low=low))
            raise argparse.ArgumentTypeError(tr("must be {wanted}; got {value}").format(wanted=wanted, value=value))
        return value
    return parse


def _number(low: float, strict: bool = False):
    """An argparse type: a finite number ≥ `low` (> `low` if `strict`); nan and inf are refused."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(tr("expected a number, got {text!r}").format(text=text)) from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(tr("must be a finite number {relation} {low:g}; got {text}").format(
                relation=">" if strict else "≥", low=low, text=text))
        return value
    return parse


POSITIVE, NATURAL = _integer(1), _integer(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latentlab", description=tr("latent diffusion, from scratch: the course's tools"))
    sub = parser.add_subparsers(dest="command", required=True)

    lab = sub.add_parser("lab", help=tr("open the course in JupyterLab"))
    lab.add_argument("--notebook", help=tr("notebook to open (default: lesson 00 in the chosen language)"))
    lab.add_argument("--lang", help=tr("the course's language: en (default) or es; sets LATENTLAB_LANG for the kernels"))
    lab.add_argument("jupyter_args", nargs=argparse.REMAINDER, help=tr("passed on to jupyter lab"))
    lab.set_defaults(func=commands.cmd_lab)

    lessons = sub.add_parser("lessons", help=tr("the lesson sources and the notebooks generated from them"))
    lessons_sub = lessons.add_subparsers(dest="what", required=True)
    lessons_build = lessons_sub.add_parser("build", help=tr("write the student and solution notebooks and README's table"))
    lessons_build.add_argument("--check", action="store_true", help=tr("write nothing; exit 1 if a generated file is stale"))
    lessons_build.set_defaults(func=commands.cmd_lessons_build)
    lessons_time = lessons_sub.add_parser("time", help=tr("run each lesson's notebook on the CPU and record its time"))
    lessons_time.add_argument("--lessons", nargs="+", metavar="NN", help=tr("only these lessons (default: all)"))
    lessons_time.add_argument("--json", action="store_true", help=tr("print the recorded times as JSON"))
    lessons_time.set_defaults(func=commands.cmd_lessons_time)

    from . import classroom

    classroom_parser = sub.add_parser("classroom", help=tr("assignments with nbgrader: init, release, collect, "
                                                           "autograde, grades (the classroom extra)"))
    classroom.configure(classroom_parser)
    classroom_parser.set_defaults(func=commands.cmd_classroom)

    translations = sub.add_parser("translations", help=tr("the gettext catalogues of the lessons and the package"))
    translations_sub = translations.add_subparsers(dest="what", required=True)
    tr_extract = translations_sub.add_parser("extract", help=tr("write or update the catalogues from the English"))
    tr_extract.add_argument("--lang", default="es", help=tr("language of the catalogues (default: es)"))
    tr_extract.add_argument("--only", nargs="+", metavar="PART",
                            help=tr("only these parts: lessons widgets checkers cli latentlab manifest"))
    tr_extract.set_defaults(func=commands.cmd_translations_extract)
    tr_check = translations_sub.add_parser("check", help=tr("list untranslated, fuzzy or broken entries; exit 1 if any"))
    tr_check.add_argument("--lang", default="es", help=tr("language to check (default: es)"))
    tr_check.set_defaults(func=commands.cmd_translations_check)

    train = sub.add_parser("train", help=tr("train a model"))
    train_sub = train.add_subparsers(dest="what", required=True)
    vae = train_sub.add_parser("vae", help=tr("train a VAE on the bundled photos"))
    vae.add_argument("--preset", default="f8c4", help=tr("f8c4 (default), f4c3, f16c16, tiny or sd_v1"))
    vae.add_argument("--steps", type=POSITIVE, help=tr("optimiser steps (reproducible)"))
    vae.add_argument("--minutes", type=_number(0, strict=True), help=tr("training time budget"))
    vae.add_argument("--batch-size", type=POSITIVE, help=tr("default 8"))
    vae.add_argument("--patch-size", type=POSITIVE, help=tr("a multiple of the preset's f (default 128)"))
    vae.add_argument("--lr", type=_number(0, strict=True), help=tr("default 2e-3"))
    vae.add_argument("--seed", type=NATURAL, help=tr("default 0"))
    vae.add_argument("--out", help=tr("where to write the fp16 model (default runs/vae-PRESET.safetensors)"))
    vae.add_argument("--run-dir", help=tr("resumable run checkpoints (default runs/vae-PRESET)"))
    vae.add_argument("--resume", action="store_true", help=tr("continue from RUN_DIR/last.safetensors"))
    vae.add_argument("--overwrite", action="store_true", help=tr("start over in a RUN_DIR that holds a run (replaces it)"))
    vae.add_argument("--init", help=tr("fine-tune: start from this VAE checkpoint (same preset), new schedule"))
    vae.add_argument("--decoder-only", action="store_true",
                     help=tr("with --init: fine-tune the decoder only; the latent space stays exactly the same"))
    vae.add_argument("--shapes", type=_number(0),
                     help=tr("share of each batch that is whole captioned-shapes pictures (default 0: photos only)"))
    vae.set_defaults(func=commands.cmd_train_vae)

    ldm = train_sub.add_parser("ldm", help=tr("train the text-to-image model on captioned shapes (vae-f8c4 latents)"))
    ldm.add_argument("--preset", default="shapes", choices=["shapes", "tiny"])
    ldm.add_argument("--minutes", type=_number(0, strict=True), help=tr("training time budget (default 60 if no --steps)"))
    ldm.add_argument("--steps", type=POSITIVE, help=tr("optimiser steps (reproducible)"))
    ldm.add_argument("--batch-size", type=POSITIVE, help=tr("default 64"))
    ldm.add_argument("--lr", type=_number(0, strict=True), help=tr("default 6e-4"))
    ldm.add_argument("--dataset-size", type=POSITIVE, help=tr("default 24000"))
    ldm.add_argument("--seed", type=NATURAL, help=tr("default 0"))
    ldm.add_argument("--out", help=tr("where to write the fp16 model (default runs/ldm-shapes.safetensors)"))
    ldm.add_argument("--run-dir", help=tr("resumable run checkpoints and the latent cache (default runs/ldm-shapes)"))
    ldm.add_argument("--resume", action="store_true", help=tr("continue from RUN_DIR/last.safetensors"))
    ldm.add_argument("--overwrite", action="store_true", help=tr("start over in a RUN_DIR that holds a run (replaces it)"))
    ldm.add_argument("--offset-noise", type=_number(0),
                     help=tr("per-channel noise offset (0.1 is common): stops the model reading colours from the noise's mean"))
    ldm.add_argument("--init", help=tr("fine-tune: start from this ldm checkpoint (its config), new schedule"))
    ldm.add_argument("--objective", default="epsilon", choices=["epsilon", "flow"],
                     help=tr("epsilon: DDPM's noise prediction (SD 1.x); flow: rectified flow's velocity (SD3, FLUX)"))
    ldm.set_defaults(func=commands.cmd_train_ldm)

    def add_ldm_eval(sub_parsers):
        p = sub_parsers.add_parser("ldm", help=tr("prompt adherence of a text-to-image model, read by the shapes evaluator"))
        p.add_argument("--model", default="ldm-shapes", help=tr("a shipped model name or a latentlab .safetensors file"))
        p.add_argument("--vae", default=None, help=tr("decode with this VAE (a shipped name or a file) instead of the "
                                                      "model's own; it must share the model's latent space"))
        # Defaults: shapes_eval.LDMEvalSettings (its sampling ones: pipeline.SamplingDefaults).
        p.add_argument("--samples", type=POSITIVE, help=tr("pictures at the sampling settings"))
        p.add_argument("--table-samples", type=NATURAL, help=tr("pictures per cell of the CFG × steps table (0: no table)"))
        p.add_argument("--sampler", help=tr("ddim, ddpm, euler, dpmpp_2m, … (latentlab.samplers.SAMPLERS)"))
        p.add_argument("--steps", type=POSITIVE, help=tr("sampling steps"))
        p.add_argument("--cfg", type=_number(0), help=tr("classifier-free guidance scale (1: none)"))
        p.add_argument("--seed", type=NATURAL)
        p.add_argument("--lang", choices=["en", "es"], help=tr("the captions' language (default en; es: the same "
                                                                "scenes with Spanish captions)"))
        p.add_argument("--json", action="store_true", help=tr("one JSON object on stdout, no progress bars"))
        p.set_defaults(func=commands.cmd_eval_ldm)

    evaluator = train_sub.add_parser("evaluator", help=tr("train the shapes evaluator (reads shape, colour, background)"))
    # Defaults: shapes_eval.EvaluatorTrainSettings.
    evaluator.add_argument("--steps", type=POSITIVE, help=tr("optimiser steps"))
    evaluator.add_argument("--pool", type=POSITIVE, help=tr("real pictures drawn once for training"))
    evaluator.add_argument("--seed", type=NATURAL)
    evaluator.add_argument("--out", help=tr("default runs/shapes-evaluator.safetensors"))
    evaluator.set_defaults(func=commands.cmd_train_evaluator)

    def add_model_options(p):
        p.add_argument("--model", default="vae-f8c4",
                       help=tr("a shipped VAE (vae-f8c4, vae-f4c3, vae-f16c16) or a latentlab .safetensors file"))
        p.add_argument("--sd-vae", metavar="PATH",
                       help=tr("a Stable Diffusion VAE in diffusers layout (.safetensors file or its folder); replaces --model"))

    study = sub.add_parser("study", help=tr("experiments whose results the lessons plot"))
    study_sub = study.add_subparsers(dest="what", required=True)
    ldm_f = study_sub.add_parser("ldm-f", help=tr("the same UNet trained in pixel space and three latent spaces, "
                                                  "equal time each (LDM §4.1 in miniature)"))
    # Defaults: study.StudySettings.
    ldm_f.add_argument("--minutes-per-run", type=_number(0, strict=True), required=True,
                       help=tr("training budget of each space"))
    ldm_f.add_argument("--out", default="runs/study-ldm-f", help=tr("folder for the runs, the JSON and the figure"))
    ldm_f.add_argument("--spaces", nargs="+", choices=list(SPACES), help=tr("default: all of them"))
    ldm_f.add_argument("--image-size", type=_integer(32, multiple=16), help=tr("picture side in pixels"))
    ldm_f.add_argument("--batch-size", type=POSITIVE)
    ldm_f.add_argument("--dataset-size", type=POSITIVE)
    ldm_f.add_argument("--samples", type=_integer(2), help=tr("held-out prompts per evaluation"))
    ldm_f.add_argument("--evals", type=POSITIVE, help=tr("evaluations per run, evenly spaced in its budget"))
    ldm_f.add_argument("--json", action="store_true", help=tr("print the whole result as one JSON line"))
    ldm_f.set_defaults(func=commands.cmd_study_ldm_f)
    flow_p = study_sub.add_parser("flow", help=tr("ldm-shapes (DDPM, ε) against ldm-shapes-flow (rectified flow, "
                                                  "velocity): adherence per step count, speed, straightness"))
    # Defaults: flow_study.FlowStudySettings.
    flow_p.add_argument("--ddpm-model", default="ldm-shapes", help=tr("the ε model: a shipped name or a .safetensors file"))
    flow_p.add_argument("--flow-model", default="ldm-shapes-flow",
                        help=tr("the velocity model: a shipped name or a .safetensors file"))
    flow_p.add_argument("--samples", type=POSITIVE, help=tr("held-out prompts per cell (default 256)"))
    flow_p.add_argument("--steps", type=POSITIVE, nargs="+", help=tr("step counts (default 2 4 8 20 50)"))
    flow_p.add_argument("--out", help=tr("where to write the JSON (default: the committed "
                                         "latentlab/results/flow-vs-ddpm.json)"))
    flow_p.add_argument("--json", action="store_true", help=tr("print the whole result as one JSON line"))
    flow_p.set_defaults(func=commands.cmd_study_flow)

    evaluate = sub.add_parser("eval", help=tr("evaluate a model"))
    eval_sub = evaluate.add_subparsers(dest="what", required=True)
    eval_vae = eval_sub.add_parser("vae", help=tr("PSNR/SSIM of a VAE on a folder of images, with codec baselines"))
    add_model_options(eval_vae)
    add_ldm_eval(eval_sub)
    eval_vae.add_argument("--images", required=True, help=tr("folder of images (used at full size)"))
    eval_vae.add_argument("--json", action="store_true", help=tr("print one JSON object"))
    eval_vae.add_argument("--per-image", action="store_true", help=tr("include every image's figures in the JSON"))
    eval_vae.add_argument("--no-progress", action="store_true", help=tr("no progress bar"))
    eval_vae.set_defaults(func=commands.cmd_eval_vae)

    encode = sub.add_parser("encode", help=tr("an image's latent: shape, values, sizes"))
    encode.add_argument("image", help=tr("an image file"))
    add_model_options(encode)
    encode.add_argument("--out", help=tr("save the (scaled, fp16) latent to this .safetensors file"))
    encode.add_argument("--json", action="store_true", help=tr("print one JSON object"))
    encode.set_defaults(func=commands.cmd_encode)

    bench = sub.add_parser("bench", help=tr("benchmarks"))
    bench_sub = bench.add_subparsers(dest="what", required=True)
    bench_widgets = bench_sub.add_parser("widgets", help=tr("median latency of one widget update"))
    bench_widgets.add_argument("--keys", help=tr("comma-separated apps to time (default: all available)"))
    # Defaults: the keyword defaults of bench.bench_widgets, bench_sample, why_latent.bench_why_latent
    # and vs_diffusers.bench_vs_diffusers (an option left out is not passed).
    bench_widgets.add_argument("--repeats", type=POSITIVE, help=tr("timed updates per app (after a warm-up)"))
    bench_widgets.add_argument("--size", type=_integer(64, multiple=16), help=tr("image side in pixels"))
    bench_widgets.add_argument("--threads", type=POSITIVE, help=tr("torch threads (default: torch's own choice)"))
    bench_widgets.add_argument("--json", action="store_true", help=tr("print one JSON object"))
    bench_widgets.set_defaults(func=commands.cmd_bench_widgets)
    bench_sample = bench_sub.add_parser("sample", help=tr("seconds for a batch of text-to-image pictures (DDIM, decode included)"))
    bench_sample.add_argument("--images", type=POSITIVE)
    bench_sample.add_argument("--steps", type=POSITIVE)
    bench_sample.add_argument("--repeats", type=POSITIVE)
    bench_sample.add_argument("--threads", type=POSITIVE, help=tr("torch threads (default: torch's own choice)"))
    bench_sample.add_argument("--json", action="store_true", help=tr("print one JSON object"))
    bench_sample.set_defaults(func=commands.cmd_bench_sample)
    why = bench_sub.add_parser("why-latent", help=tr("the same UNet in pixel space and in the f4c3/f8c4/f16c16 latent spaces"))
    why.add_argument("--size", type=_integer(64, multiple=64), nargs="+",
                     help=tr("picture side(s) (default: why_latent.default_sizes, more on a GPU)"))
    why.add_argument("--repeats", type=POSITIVE, help=tr("interleaved timed forwards per space"))
    why.add_argument("--device", default=None, help=tr("cpu or cuda (default: the best available)"))
    why.add_argument("--threads", type=POSITIVE, help=tr("torch threads (default: torch's own choice)"))
    why.add_argument("--json", action="store_true", help=tr("print one JSON object"))
    why.set_defaults(func=commands.cmd_bench_why_latent)
    vs = bench_sub.add_parser("vs-diffusers", help=tr("latentlab / diffusers time ratios, same config and weights"))
    vs.add_argument("--size", type=_integer(8, multiple=8), help=tr("picture side of the VAE timings"))
    vs.add_argument("--repeats", type=POSITIVE)
    vs.add_argument("--threads", type=POSITIVE, help=tr("torch threads (default: torch's own choice)"))
    vs.add_argument("--json", action="store_true", help=tr("print one JSON object"))
    vs.set_defaults(func=commands.cmd_bench_vs_diffusers)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(tr("latentlab: warning: {message}").format(message=message), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    try:  # the language of every message below, help included
        language()
    except UnknownLanguage as err:
        print(f"latentlab: {ENV}: {err}", file=sys.stderr)
        return 2
    parser = build_parser()
    # `lab` passes every option it does not know on to jupyter (e.g. --no-browser --port 8890).
    argv = list(sys.argv[1:] if argv is None else argv)
    args, unknown = parser.parse_known_args(argv)
    args.argv = argv
    if unknown:
        if args.command != "lab":
            parser.error(tr("unrecognized arguments: {arguments}").format(arguments=" ".join(unknown)))
        args.jupyter_args = unknown + list(args.jupyter_args)
    if args.command == "train" and args.what == "vae" and args.steps is None and args.minutes is None:
        parser.error(tr("train vae needs --steps N or --minutes M"))
    try:
        with warnings.catch_warnings():  # restores the usual warning display afterwards
            # A warning is a message to the user here, not a pointer into latentlab's source.
            warnings.showwarning = _show_warning
            return args.func(args)
    except (ValueError, OSError) as err:
        print(f"latentlab {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # (training defers Ctrl-C to a step boundary and reports it itself)
        print(tr("latentlab {command}: interrupted").format(command=args.command), file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - a student never meets a traceback from the course
        if os.environ.get("LATENTLAB_DEBUG"):
            raise
        print(tr("latentlab {command}: unexpected {kind}: {error}").format(
            command=args.command, kind=type(err).__name__, error=err), file=sys.stderr)
        print(tr("  this is a bug in latentlab: run again with LATENTLAB_DEBUG=1 for the traceback, and report it"),
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
