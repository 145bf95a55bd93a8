"""What each `latentlab` sub-command does: check its arguments, call the module that owns the work,
print the result (`cli.py` holds the parser). Each command imports its module when it runs, so
`latentlab lab` and `--help` start without loading torch."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from .i18n import tr
from .strict_json import dumps


def print_json(result: dict, indent: int | None = 2) -> None:
    """Strict JSON on stdout: NaN/Infinity become null with a reason (other programs read this)."""
    print(dumps(result, indent=indent))


def given(args, *names: str) -> dict:
    """The options the user gave (their argparse default is None), so the called function's own
    defaults or its settings dataclass's apply to the rest: one place holds each default."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def cmd_lab(args) -> int:
    import subprocess

    from .i18n import DEFAULT, ENV, LANGUAGES, UnknownLanguage, normalise
    from .lessons import LESSONS, NOTEBOOKS

    code = args.lang or os.environ.get(ENV) or DEFAULT
    try:
        lang = normalise(code)
    except UnknownLanguage:
        available = ", ".join(f"{k} ({v})" for k, v in LANGUAGES.items())
        print(tr("latentlab lab: no translation for the language {code!r}; the course speaks {available}").format(
            code=code, available=available), file=sys.stderr)
        return 2
    # From here on the messages are in the course's language, even when only --lang chose it.
    folder = NOTEBOOKS if lang == DEFAULT else NOTEBOOKS / lang
    notebook = Path(args.notebook) if args.notebook else folder / f"{LESSONS[0].stem}.ipynb"
    if not notebook.is_file():
        print(tr("latentlab lab: no notebook at {notebook}; run it from a clone of the latentlab repository",
                 lang).format(notebook=notebook), file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "jupyter", "lab", str(notebook), *args.jupyter_args]
    # Jupyter refuses to start as root unless told; containers and course machines often are root.
    if getattr(os, "geteuid", lambda: 1)() == 0 and "--allow-root" not in command:
        command.append("--allow-root")
    extra = {}
    if args.lang or lang != DEFAULT:  # the kernels speak it (without either, they keep i18n's own rules)
        extra["env"] = env = dict(os.environ, **{ENV: lang})
        settings = lab_language_settings(lang)
        if settings is not None:
            env["JUPYTERLAB_SETTINGS_DIR"] = str(settings)
        elif lang != DEFAULT:
            print(tr("latentlab lab: the lessons and widgets are in {lang}; for JupyterLab's own menus in it too, "
                     "`pip install {package}`", lang).format(
                lang=lang, package=f"jupyterlab-language-pack-{lang}-{lang.upper()}"), file=sys.stderr)
    print(tr("starting: {command}", lang).format(command=" ".join(command)), file=sys.stderr)
    return subprocess.call(command, cwd=notebook.parent, **extra)


def lab_language_settings(lang: str) -> Path | None:
    """A JupyterLab user-settings folder that selects `lang` for JupyterLab's menus, when its
    language pack is installed (None otherwise, and for English). It copies the user's own settings
    folder, so nothing of theirs is changed."""
    import importlib.util
    import json
    import shutil
    import tempfile

    from .i18n import DEFAULT

    if lang == DEFAULT or importlib.util.find_spec(f"jupyterlab_language_pack_{lang}_{lang.upper()}") is None:
        return None
    mine = Path(os.environ.get("JUPYTERLAB_SETTINGS_DIR", Path.home() / ".jupyter" / "lab" / "user-settings"))
    folder = Path(tempfile.mkdtemp(prefix=f"latentlab-lab-{lang}-"))
    if mine.is_dir():
        shutil.copytree(mine, folder, dirs_exist_ok=True)
    target = folder / "@jupyterlab" / "translation-extension" / "plugin.jupyterlab-settings"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"locale": f"{lang}_{lang.upper()}"}), encoding="utf-8")
    return folder


def cmd_classroom(args) -> int:
    from .classroom import run

    return run(args)


def cmd_translations_extract(args) -> int:
    from .translations import extract

    written = extract(args.lang, tuple(args.only) if args.only else None)
    print(tr("wrote {count} catalogue(s)").format(count=len(written)) + "".join(f"\n  {path}" for path in written))
    return 0


def cmd_translations_check(args) -> int:
    from .translations import problems

    found = problems(args.lang)
    for line in found:
        print(line)
    print(tr("{count} problem(s) in the {lang} catalogues").format(count=len(found), lang=args.lang), file=sys.stderr)
    return 1 if found else 0


def cmd_lessons_build(args) -> int:
    from .lessons.build import LessonSourceError, build

    try:
        changed = build(check=args.check)
    except LessonSourceError as err:
        print(f"latentlab lessons build: {err}", file=sys.stderr)
        return 2
    if args.check:
        for path in changed:
            print(tr("stale: {path} (run `latentlab lessons build`)").format(path=path), file=sys.stderr)
        return 1 if changed else 0
    print(tr("wrote {count} file(s)").format(count=len(changed)) + "".join(f"\n  {path}" for path in changed))
    return 0


def cmd_lessons_time(args) -> int:
    from .lessons.timing import TIMES, LessonTimingError, select_lessons, time_lessons

    try:
        lessons = select_lessons(args.lessons)
        result = time_lessons(lessons, progress=lambda line: print(line, file=sys.stderr))
    except (ValueError, LessonTimingError) as err:
        print(f"latentlab lessons time: {err}", file=sys.stderr)
        return 2
    if args.json:
        print_json(result)
    print(tr("wrote {path}; run `latentlab lessons build` to put the times in the lessons' headers").format(path=TIMES),
          file=sys.stderr)
    return 0


def cmd_train_vae(args) -> int:
    from .harness import cli_report
    from .train import VAETrainSettings, train_vae
    from .vae import VAEConfig

    config = VAEConfig.preset(args.preset)
    command = " ".join(["latentlab", *args.argv])  # recorded in the model card
    # steps and minutes always as given: the one not given means "no such limit" here.
    settings = VAETrainSettings(steps=args.steps, minutes=args.minutes, decoder_only=args.decoder_only,
                                **given(args, "batch_size", "patch_size", "lr", "seed", "shapes"),
                                extra_metrics={"command": command})
    out = Path(args.out) if args.out else Path("runs") / f"vae-{args.preset}.safetensors"
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / f"vae-{args.preset}"
    return cli_report(lambda: train_vae(config, out, settings, run_dir=run_dir, resume=args.resume,
                                        init_from=args.init, overwrite=args.overwrite), out)


def cmd_train_ldm(args) -> int:
    from .harness import cli_report
    from .ldm import LDMConfig
    from .train import LDMTrainSettings, train_ldm

    config = LDMConfig.tiny() if args.preset == "tiny" else LDMConfig()
    if args.objective == "flow":  # the same network and text encoder; SD3/FLUX's objective
        config = dataclasses.replace(config, schedule="flow", prediction_type="velocity")
    command = " ".join(["latentlab", *args.argv])  # recorded in the model card
    minutes = 60.0 if args.minutes is None and args.steps is None else args.minutes
    settings = LDMTrainSettings(steps=args.steps, minutes=minutes,
                                **given(args, "batch_size", "lr", "dataset_size", "seed", "offset_noise"),
                                extra_metrics={"command": command})
    name = "ldm-shapes-flow" if args.objective == "flow" else "ldm-shapes"
    out = Path(args.out) if args.out else Path("runs") / f"{name}.safetensors"
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / name
    return cli_report(lambda: train_ldm(out, settings, config=None if args.init else config, run_dir=run_dir,
                                        resume=args.resume, init_from=args.init, overwrite=args.overwrite), out)


def cmd_train_evaluator(args) -> int:
    from .shapes_eval import EvaluatorTrainSettings, save_shapes_evaluator, train_and_measure_evaluator
    from .train import hardware

    settings = EvaluatorTrainSettings(**given(args, "steps", "pool", "seed"))
    out = Path(args.out) if args.out else Path("runs") / "shapes-evaluator.safetensors"
    model, metrics = train_and_measure_evaluator(settings, hardware=hardware(),
                                                 command=" ".join(["latentlab", *args.argv]))
    save_shapes_evaluator(out, model, metrics)
    print_json({"out": str(out), **metrics})
    return 0


def cmd_bench_why_latent(args) -> int:
    from .device import pick_device
    from .why_latent import bench_why_latent, default_sizes

    device = pick_device() if args.device is None else args.device
    options = given(args, "repeats", "threads")
    results = [bench_why_latent(size=size, device=device, **options) for size in args.size or default_sizes(device)]
    result = results[0] if len(results) == 1 else {**results[0], "by_size": {str(r["size"]): r for r in results}}
    print_json(result, indent=None if args.json else 2)
    return 0


def cmd_study_ldm_f(args) -> int:
    from .study import StudySettings, run_study, summary

    settings = StudySettings(**given(args, "minutes_per_run", "image_size", "batch_size", "dataset_size",
                                      "samples", "evals", "spaces"))
    result = run_study(args.out, settings, progress=not args.json)
    if args.json:
        print_json(result, indent=None)
        return 0
    print(summary(result))
    print(tr("written: {json} and study-ldm-f.png").format(json=Path(args.out) / "study-ldm-f.json"))
    return 0


def cmd_study_flow(args) -> int:
    from .atomic import check_writable
    from .checkpoints import load_ldm, load_pretrained, shipped_models
    from .evaluate_vae import resolve_vae
    from .flow_study import RESULT_FILE, FlowStudySettings, run_flow_study, summary, write_result
    from .ldm import check_latent_space
    from .shapes_eval import load_shapes_evaluator

    settings = FlowStudySettings(**given(args, "samples", "steps"))  # refused before loading anything
    out = Path(args.out) if args.out else RESULT_FILE
    check_writable(out.parent)
    models, cards = {}, {}
    for source in (args.ddpm_model, args.flow_model):
        model = load_pretrained(source, kind="ldm") if source in shipped_models() else load_ldm(source)
        name = source if source in shipped_models() else Path(source).stem
        models[name], cards[name] = model, {"source": source, "prediction_type": model.config.prediction_type,
                                            "metrics": model.metrics}
    kinds = [model.config.prediction_type for model in models.values()]
    if kinds != ["epsilon", "velocity"]:
        raise ValueError(f"--ddpm-model must predict ε and --flow-model the velocity; they predict {kinds}")
    vae_name = models[next(iter(models))].config.vae
    _, vae = resolve_vae(vae_name)
    for model in models.values():
        check_latent_space(model, vae, vae_name)
    result = run_flow_study(models, vae, load_shapes_evaluator(), settings, progress=not args.json, cards=cards)
    result["command"] = " ".join(["latentlab", *args.argv])
    write_result(out, result)
    if args.json:
        print_json(result, indent=None)
        return 0
    print(summary(result))
    print(tr("written: {json}").format(json=out))
    return 0


def cmd_bench_vs_diffusers(args) -> int:
    from .vs_diffusers import bench_vs_diffusers

    result = bench_vs_diffusers(**given(args, "size", "repeats", "threads"))
    print_json(result, indent=None if args.json else 2)
    return 0


def cmd_bench_sample(args) -> int:
    from .bench import bench_sample

    result = bench_sample(**given(args, "images", "steps", "repeats", "threads"))
    print_json(result, indent=None if args.json else 2)
    return 0


def cmd_eval_ldm(args) -> int:
    from .checkpoints import load_ldm, load_pretrained, shipped_models
    from .evaluate_vae import resolve_vae
    from .ldm import check_latent_space
    from .shapes_eval import LDMEvalSettings, evaluate_ldm, load_shapes_evaluator

    # Settings first: a bad sampler or step count is refused before seconds of loading.
    settings = LDMEvalSettings(**given(args, "samples", "table_samples", "sampler", "steps", "cfg", "seed", "lang"))
    model = load_pretrained(args.model, kind="ldm") if args.model in shipped_models() else load_ldm(args.model)
    vae_name = args.vae or model.config.vae
    _, vae = resolve_vae(vae_name)
    check_latent_space(model, vae, vae_name)
    result = evaluate_ldm(model, vae, load_shapes_evaluator(), settings, progress=not args.json)
    print_json({"model": args.model, "vae": vae_name, **result}, indent=None if args.json else 2)
    return 0


def load_model(args):
    """(name, vae) from --sd-vae (a diffusers-layout SD VAE) or --model (shipped name or latentlab file)."""
    from .checkpoints import load_diffusers_vae
    from .evaluate_vae import resolve_vae

    if getattr(args, "sd_vae", None):
        return f"sd-vae:{Path(args.sd_vae).name}", load_diffusers_vae(args.sd_vae)
    return resolve_vae(args.model)


def cmd_eval_vae(args) -> int:
    from .evaluate_vae import evaluate_vae, summary

    name, vae = load_model(args)
    result = evaluate_vae(vae, args.images, name=name, progress=not args.no_progress)
    if not args.per_image:
        result.pop("per_image")
    if args.json:
        print_json(result)
        return 0
    print(summary(result, args.images))
    return 0


def cmd_encode(args) -> int:
    import torch

    from .checkpoints import save_checkpoint
    from .images import to_tensor
    from .metrics import compression_figures, latent_stats
    from .runfiles import check_out

    if args.out is not None:  # before any work: never replace the photo itself, nor a file that is not a latent
        check_out(Path(args.out), "latent", [(Path(args.image), "the image being encoded")], what="latent")
    name, vae = load_model(args)
    f = vae.downsample_factor
    x = to_tensor(args.image, multiple=f)  # (1, 3, H, W) in [-1, 1]
    with torch.no_grad():
        # The scaled latent (LDM §4.3.2): what a diffusion model would see; mode() = deterministic.
        latent = vae.to_latent(x)  # (1, c, H/f, W/f)
    figures = compression_figures(tuple(x.shape[2:]), tuple(latent.shape))
    result = {"model": name, "image": str(args.image), "image_size": list(x.shape[2:]),
              "latent_shape": list(latent.shape), "scaling_factor": vae.scaling_factor,
              "stats": latent_stats(latent), "sizes": figures.as_dict()}
    if args.out is not None:
        save_checkpoint(args.out, {"latent": latent}, kind="latent", config_json=vae.config.to_json(),
                        extra={"model": name, "image": str(args.image)}, dtype=torch.float16)
        result["out"] = str(args.out)
    if args.json:
        print_json(result)
        return 0
    c, h, w = figures.latent_shape
    print(tr("{image}: {width}×{height} px → latent {c}×{h}×{w} with {model} (× scaling factor {scaling_factor:.4g})")
          .format(image=args.image, width=x.shape[3], height=x.shape[2], c=c, h=h, w=w, model=name,
                  scaling_factor=vae.scaling_factor))
    print(tr("  values: {pixels} → {latent} ({ratio:.1f}× fewer)").format(
        pixels=figures.pixel_values, latent=figures.latent_values, ratio=figures.value_ratio))
    sizes = ", ".join(f"{k} {b} ({figures.ratio[k]:.0f}×, {figures.latent_bpp[k]:.2f} bpp)"
                      for k, b in figures.latent_bytes.items())
    print(tr("  bytes:  raw {raw}, latent {sizes}").format(raw=figures.raw_bytes, sizes=sizes))
    stats = result["stats"]
    print(tr("  latent: mean {mean:+.3f}, std {std:.3f}, range [{min:.3f}, {max:.3f}]").format(**stats))
    if args.out is not None:
        print(tr("  saved to {path}").format(path=args.out))
    return 0


def cmd_bench_widgets(args) -> int:
    from .bench import bench_widgets

    keys = args.keys.split(",") if args.keys else None
    result = bench_widgets(keys=keys, **given(args, "repeats", "size", "threads"))
    if args.json:
        print_json(result)
        return 0
    print(tr("widget update latency, median of {repeats} updates at {size} px ({device}):").format(
        repeats=result["repeats"], size=result["size"], device=result["device"]))
    for key, ms in result["median_ms"].items():
        print(f"  {key:<16}{ms:8.1f} ms")
    for key, note in result.get("notes", {}).items():
        print(f"  {key:<16}{note}")
    return 0
