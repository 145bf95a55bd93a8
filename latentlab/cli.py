"""The `latentlab` command line (also `python -m latentlab`).

    latentlab lab                      open the course in JupyterLab (lesson 00)
    latentlab train vae --preset f8c4  train a VAE (resumable; the shipped ones' commands are in MODELS.md)
    latentlab encode IMAGE             an image's latent: shape, values, bytes; optionally save it
    latentlab eval vae --images DIR    PSNR/SSIM of a VAE on a folder, with codec baselines
    latentlab bench widgets            widget update latency
    latentlab study ldm-f --minutes-per-run N   the same UNet in pixel space and three latent spaces
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

REPO_NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "00_welcome.ipynb"


def _cmd_lab(args) -> int:
    import subprocess

    notebook = Path(args.notebook) if args.notebook else REPO_NOTEBOOK
    if not notebook.is_file():
        print(f"latentlab lab: no notebook at {notebook}; run it from a clone of the latentlab repository", file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "jupyter", "lab", str(notebook), *args.jupyter_args]
    # Jupyter refuses to start as root unless told; containers and course machines often are root.
    if getattr(os, "geteuid", lambda: 1)() == 0 and "--allow-root" not in command:
        command.append("--allow-root")
    print("starting:", " ".join(command))
    return subprocess.call(command, cwd=notebook.parent)


def _cmd_train_vae(args) -> int:
    from .train import VAETrainSettings, train_vae
    from .vae import VAEConfig

    config = VAEConfig.preset(args.preset)
    command = " ".join(["latentlab", *args.argv])  # recorded in the model card
    settings = VAETrainSettings(steps=args.steps, minutes=args.minutes, batch_size=args.batch_size,
                                patch_size=args.patch_size, lr=args.lr, seed=args.seed,
                                decoder_only=args.decoder_only, shapes=args.shapes,
                                extra_metrics={"command": command})
    out = Path(args.out) if args.out else Path("runs") / f"vae-{args.preset}.safetensors"
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / f"vae-{args.preset}"
    _, metrics = train_vae(config, out, settings, run_dir=run_dir, resume=args.resume, init_from=args.init)
    print(json.dumps({"out": str(out), **metrics}, indent=2))
    return 0


def _cmd_train_ldm(args) -> int:
    from .ldm import LDMConfig
    from .train import LDMTrainSettings, train_ldm

    config = LDMConfig.tiny() if args.preset == "tiny" else LDMConfig()
    command = " ".join(["latentlab", *args.argv])  # recorded in the model card
    minutes = 60.0 if args.minutes is None and args.steps is None else args.minutes
    settings = LDMTrainSettings(steps=args.steps, minutes=minutes, batch_size=args.batch_size, lr=args.lr,
                                dataset_size=args.dataset_size, seed=args.seed, offset_noise=args.offset_noise,
                                extra_metrics={"command": command})
    out = Path(args.out) if args.out else Path("runs") / "ldm-shapes.safetensors"
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / "ldm-shapes"
    _, metrics = train_ldm(out, settings, config=None if args.init else config, run_dir=run_dir, resume=args.resume,
                           init_from=args.init)
    print(json.dumps({"out": str(out), **metrics}, indent=2))
    return 0


def _cmd_train_evaluator(args) -> int:
    import time

    from .evaluate import evaluator_accuracy, save_shapes_evaluator, train_shapes_evaluator
    from .train import hardware

    start = time.perf_counter()
    model = train_shapes_evaluator(steps=args.steps, pool=args.pool, seed=args.seed)
    minutes = (time.perf_counter() - start) / 60
    accuracy = evaluator_accuracy(model)
    metrics = {"steps": args.steps, "pool": args.pool, "seed": args.seed, "train_minutes": round(minutes, 2),
               "hardware": hardware(), "heldout_accuracy": accuracy, "heldout_seed": 10_001,
               "command": " ".join(["latentlab", *args.argv])}
    out = Path(args.out) if args.out else Path("runs") / "shapes-evaluator.safetensors"
    save_shapes_evaluator(out, model, metrics)
    print(json.dumps({"out": str(out), **metrics}, indent=2))
    return 0


def _cmd_bench_why_latent(args) -> int:
    from .device import pick_device
    from .why_latent import bench_why_latent

    device = pick_device() if args.device is None else args.device
    sizes = [args.size] if args.size else ([256, 512] if str(device).startswith("cuda") else [256])
    results = [bench_why_latent(size=size, repeats=args.repeats, device=device, threads=args.threads)
               for size in sizes]
    result = results[0] if len(results) == 1 else {**results[0], "by_size": {str(r["size"]): r for r in results}}
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


def _cmd_study_ldm_f(args) -> int:
    from .study import SPACES, StudySettings, run_study

    settings = StudySettings(minutes_per_run=args.minutes_per_run, image_size=args.image_size,
                             batch_size=args.batch_size, dataset_size=args.dataset_size, samples=args.samples,
                             evals=args.evals, spaces=tuple(args.spaces or SPACES))
    result = run_study(args.out, settings, progress=not args.json)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{'':>33} {'after training':>15}   {'round trip':>15}")
    print(f"{'space':>7} {'latent':>10} {'steps':>6} {'PFLOPs':>7} {'joint':>6} {'Fréchet':>8}   {'joint':>6} "
          f"{'Fréchet':>8} {'pictures/s':>10}")
    for run in result["runs"]:
        shape = "×".join(str(n) for n in run["latent_shape"])
        trip = result["round_trip"][run["space"]]
        print(f"{run['space']:>7} {shape:>10} {run['steps']:>6} {run['curve'][-1]['train_pflops']:>7.3g} "
              f"{run['final']['joint']:>6.2f} {run['final']['frechet']:>8.3g}   {trip['joint']:>6.2f} "
              f"{trip['frechet']:>8.3g} {run['images_per_second']:>10.3g}")
    print("round trip: the real pictures of the same prompts through the space's autoencoder and back")
    print(f"Fréchet distance between two sets of real pictures (the floor at this N): {result['frechet_real_vs_real']}")
    print(f"written: {Path(args.out) / 'study-ldm-f.json'} and study-ldm-f.png")
    return 0


def _cmd_bench_vs_diffusers(args) -> int:
    from .vs_diffusers import bench_vs_diffusers

    result = bench_vs_diffusers(size=args.size, repeats=args.repeats, threads=args.threads)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


def _cmd_bench_sample(args) -> int:
    from .bench import bench_sample

    result = bench_sample(images=args.images, steps=args.steps, repeats=args.repeats, threads=args.threads)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


def _cmd_eval_ldm(args) -> int:
    from .checkpoints import load_ldm, load_pretrained, shipped_models
    from .evaluate import evaluator_accuracy, load_shapes_evaluator, prompt_adherence, resolve_vae, round_trip_adherence
    from .pipeline import SamplingDefaults

    model = load_pretrained(args.model, kind="ldm") if args.model in shipped_models() else load_ldm(args.model)
    _, vae = resolve_vae(args.vae or model.config.vae)
    if vae.config.latent_channels != model.config.unet.in_channels:
        raise ValueError(f"{args.vae} has {vae.config.latent_channels} latent channels; the model denoises "
                         f"{model.config.unet.in_channels}")
    evaluator = load_shapes_evaluator()
    defaults = SamplingDefaults()
    settings = {"sampler": args.sampler or defaults.sampler, "steps": args.steps or defaults.steps,
                "cfg": defaults.cfg if args.cfg is None else args.cfg, "samples": args.samples, "seed": args.seed}
    accuracy = evaluator_accuracy(evaluator)
    ceiling = round_trip_adherence(vae, evaluator, n=args.samples, image_size=model.config.image_size)
    adherence = prompt_adherence(model, vae, evaluator, n=args.samples, sampler=settings["sampler"],
                                 steps=settings["steps"], cfg=settings["cfg"], seed=args.seed, progress=not args.json)
    result = {"model": args.model, "vae": args.vae or model.config.vae, "evaluator_accuracy": accuracy,
              "adherence": adherence, "vae_round_trip": ceiling, "settings": settings}
    if args.table_samples > 0:
        table = []
        for cfg in (1.0, 3.0, 5.0, 7.5):
            for steps in (10, 20, 50):
                row = prompt_adherence(model, vae, evaluator, n=args.table_samples, sampler=settings["sampler"],
                                       steps=steps, cfg=cfg, seed=args.seed, progress=not args.json)
                table.append({"cfg": cfg, "steps": steps, "joint": row["joint"], "shape": row["shape"],
                              "color": row["color"], "background": row["background"]})
        result["table"] = table
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


def _load_model(args):
    """(name, vae) from --sd-vae (a diffusers-layout SD VAE) or --model (shipped name or latentlab file)."""
    from .evaluate import resolve_vae

    if getattr(args, "sd_vae", None):
        from .checkpoints import load_diffusers_vae

        return f"sd-vae:{Path(args.sd_vae).name}", load_diffusers_vae(args.sd_vae)
    return resolve_vae(args.model)


def _cmd_eval_vae(args) -> int:
    from .evaluate import evaluate_vae

    name, vae = _load_model(args)
    result = evaluate_vae(vae, args.images, name=name, progress=not args.no_progress)
    if not args.per_image:
        result.pop("per_image")
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    jpeg, bicubic = result["baselines"]["jpeg_equal_bytes"], result["baselines"]["bicubic_equal_values"]
    print(f"{result['model']} ({result['config']}) on {result['images']} image(s) from {args.images}")
    print(f"  {'':<28}{'PSNR dB':>9}{'SSIM':>8}")
    print(f"  {'VAE':<28}{result['psnr']:>9.2f}{result['ssim']:>8.3f}")
    print(f"  {'bicubic, equal values':<28}{bicubic['psnr']:>9.2f}{bicubic['ssim']:>8.3f}")
    print(f"  {'JPEG, equal bytes (fp16)':<28}{jpeg['psnr']:>9.2f}{jpeg['ssim']:>8.3f}"
          f"   ({jpeg['bpp']:.2f} bpp, quality ≈ {jpeg['quality']:.0f})")
    return 0


def _cmd_encode(args) -> int:
    import torch

    from .checkpoints import save_checkpoint
    from .images import to_tensor
    from .metrics import compression_figures

    name, vae = _load_model(args)
    f = vae.downsample_factor
    x = to_tensor(args.image, multiple=f)  # (1, 3, H, W) in [-1, 1]
    with torch.no_grad():
        # The scaled latent (LDM §4.3.2): what a diffusion model would see; mode() = deterministic.
        latent = vae.to_latent(x)  # (1, c, H/f, W/f)
    figures = compression_figures(tuple(x.shape[2:]), tuple(latent.shape))
    per_channel = latent[0].flatten(1)  # (c, h·w)
    result = {
        "model": name, "image": str(args.image), "image_size": list(x.shape[2:]),
        "latent_shape": list(latent.shape), "scaling_factor": vae.scaling_factor,
        "stats": {"mean": latent.mean().item(), "std": latent.std().item(),
                  "min": latent.min().item(), "max": latent.max().item(),
                  "channel_mean": per_channel.mean(1).tolist(), "channel_std": per_channel.std(1).tolist()},
        "sizes": figures.as_dict(),
    }
    if args.out:
        save_checkpoint(args.out, {"latent": latent}, kind="latent", config_json=vae.config.to_json(),
                        extra={"model": name, "image": str(args.image)}, dtype=torch.float16)
        result["out"] = str(args.out)
    if args.json:
        print(json.dumps(result, indent=2))
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
    result = bench_widgets(keys=keys, repeats=args.repeats, size=args.size, threads=args.threads)
    if args.json:
        print(json.dumps(result, indent=2))
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

    train = sub.add_parser("train", help="train a model")
    train_sub = train.add_subparsers(dest="what", required=True)
    vae = train_sub.add_parser("vae", help="train a VAE on the bundled photos")
    vae.add_argument("--preset", default="f8c4", help="f8c4 (default), f4c3, f16c16, tiny or sd_v1")
    vae.add_argument("--steps", type=int, default=None, help="optimiser steps (reproducible)")
    vae.add_argument("--minutes", type=float, default=None, help="training time budget")
    vae.add_argument("--batch-size", type=int, default=8)
    vae.add_argument("--patch-size", type=int, default=128)
    vae.add_argument("--lr", type=float, default=2e-3)
    vae.add_argument("--seed", type=int, default=0)
    vae.add_argument("--out", help="where to write the fp16 model (default runs/vae-PRESET.safetensors)")
    vae.add_argument("--run-dir", help="resumable run checkpoints (default runs/vae-PRESET)")
    vae.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.safetensors")
    vae.add_argument("--init", help="fine-tune: start from this VAE checkpoint (same preset), new schedule")
    vae.add_argument("--decoder-only", action="store_true",
                     help="with --init: fine-tune the decoder only; the latent space stays exactly the same")
    vae.add_argument("--shapes", type=float, default=0.0,
                     help="share of each batch that is whole captioned-shapes pictures (default 0: photos only)")
    vae.set_defaults(func=_cmd_train_vae)

    ldm = train_sub.add_parser("ldm", help="train the text-to-image model on captioned shapes (vae-f8c4 latents)")
    ldm.add_argument("--preset", default="shapes", choices=["shapes", "tiny"])
    ldm.add_argument("--minutes", type=float, default=None, help="training time budget (default 60 if no --steps)")
    ldm.add_argument("--steps", type=int, default=None, help="optimiser steps (reproducible)")
    ldm.add_argument("--batch-size", type=int, default=64)
    ldm.add_argument("--lr", type=float, default=6e-4)
    ldm.add_argument("--dataset-size", type=int, default=24_000)
    ldm.add_argument("--seed", type=int, default=0)
    ldm.add_argument("--out", help="where to write the fp16 model (default runs/ldm-shapes.safetensors)")
    ldm.add_argument("--run-dir", help="resumable run checkpoints and the latent cache (default runs/ldm-shapes)")
    ldm.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.safetensors")
    ldm.add_argument("--offset-noise", type=float, default=0.0,
                     help="per-channel noise offset (0.1 is common): stops the model reading colours from the noise's mean")
    ldm.add_argument("--init", help="fine-tune: start from this ldm checkpoint (its config), new schedule")
    ldm.set_defaults(func=_cmd_train_ldm)

    def add_ldm_eval(sub_parsers):
        p = sub_parsers.add_parser("ldm", help="prompt adherence of a text-to-image model, read by the shapes evaluator")
        p.add_argument("--model", default="ldm-shapes", help="a shipped model name or a latentlab .safetensors file")
        p.add_argument("--vae", default=None, help="decode with this VAE (a shipped name or a file) instead of the "
                                                   "model's own; it must share the model's latent space")
        p.add_argument("--samples", type=int, default=256, help="pictures at the default settings")
        p.add_argument("--table-samples", type=int, default=128,
                       help="pictures per cell of the CFG × steps table (0: no table)")
        p.add_argument("--sampler", default=None)
        p.add_argument("--steps", type=int, default=None)
        p.add_argument("--cfg", type=float, default=None)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--json", action="store_true", help="one JSON object on stdout, no progress bars")
        p.set_defaults(func=_cmd_eval_ldm)

    evaluator = train_sub.add_parser("evaluator", help="train the shapes evaluator (reads shape, colour, background)")
    evaluator.add_argument("--steps", type=int, default=1000)
    evaluator.add_argument("--pool", type=int, default=8000, help="real pictures drawn once for training")
    evaluator.add_argument("--seed", type=int, default=1)
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
    ldm_f.add_argument("--minutes-per-run", type=float, required=True, help="training budget of each space")
    ldm_f.add_argument("--out", default="runs/study-ldm-f", help="folder for the runs, the JSON and the figure")
    ldm_f.add_argument("--spaces", nargs="+", choices=["pixel", "f4c3", "f8c4", "f16c16"], help="default: all four")
    ldm_f.add_argument("--image-size", type=int, default=64)
    ldm_f.add_argument("--batch-size", type=int, default=32)
    ldm_f.add_argument("--dataset-size", type=int, default=8000)
    ldm_f.add_argument("--samples", type=int, default=64, help="held-out prompts per evaluation")
    ldm_f.add_argument("--evals", type=int, default=3, help="evaluations per run, evenly spaced in its budget")
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
    bench_widgets.add_argument("--repeats", type=int, default=10, help="timed updates per app (after a warm-up)")
    bench_widgets.add_argument("--size", type=int, default=256, help="image side in pixels")
    bench_widgets.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    bench_widgets.add_argument("--json", action="store_true", help="print one JSON object")
    bench_widgets.set_defaults(func=_cmd_bench_widgets)
    bench_sample = bench_sub.add_parser("sample", help="seconds for 16 text-to-image pictures (20 DDIM steps, decode included)")
    bench_sample.add_argument("--images", type=int, default=16)
    bench_sample.add_argument("--steps", type=int, default=20)
    bench_sample.add_argument("--repeats", type=int, default=3)
    bench_sample.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    bench_sample.add_argument("--json", action="store_true", help="print one JSON object")
    bench_sample.set_defaults(func=_cmd_bench_sample)
    why = bench_sub.add_parser("why-latent", help="the same UNet in pixel space and in the f4c3/f8c4/f16c16 latent spaces")
    why.add_argument("--size", type=int, default=None, help="picture side (default 256; 256 and 512 on a GPU)")
    why.add_argument("--repeats", type=int, default=3, help="interleaved timed forwards per space")
    why.add_argument("--device", default=None, help="cpu or cuda (default: the best available)")
    why.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    why.add_argument("--json", action="store_true", help="print one JSON object")
    why.set_defaults(func=_cmd_bench_why_latent)
    vs = bench_sub.add_parser("vs-diffusers", help="latentlab / diffusers time ratios, same config and weights")
    vs.add_argument("--size", type=int, default=256)
    vs.add_argument("--repeats", type=int, default=20)
    vs.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
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
