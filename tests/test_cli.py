"""The command line: eval, encode and bench print JSON with the documented keys; bad input → exit 2."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from latentlab.checkpoints import save_vae
from latentlab.cli import main
from latentlab.vae import AutoencoderKL, VAEConfig


@pytest.fixture
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    return save_vae(tmp_path / "tiny.safetensors", AutoencoderKL(VAEConfig.tiny()))


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


def test_eval_vae_json(tiny_checkpoint, image_folder, capsys):
    code = main(["eval", "vae", "--model", str(tiny_checkpoint), "--images", str(image_folder), "--json", "--no-progress"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert {"model", "images", "psnr", "ssim", "baselines"} <= set(result)
    assert result["model"] == "tiny" and result["images"] == 2
    assert set(result["baselines"]) == {"bicubic_equal_values", "jpeg_equal_bytes"}
    assert {"psnr", "ssim", "bpp"} <= set(result["baselines"]["jpeg_equal_bytes"])
    assert "per_image" not in result


def test_eval_vae_table(tiny_checkpoint, image_folder, capsys):
    assert main(["eval", "vae", "--model", str(tiny_checkpoint), "--images", str(image_folder), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "bicubic, equal values" in out and "JPEG, equal bytes" in out


def test_eval_with_a_bad_model_name_exits_2(image_folder, capsys):
    code = main(["eval", "vae", "--model", "vae-nonexistent", "--images", str(image_folder), "--json"])
    assert code == 2
    assert "vae-nonexistent" in capsys.readouterr().err


def test_eval_with_a_missing_folder_exits_2(tiny_checkpoint, tmp_path, capsys):
    assert main(["eval", "vae", "--model", str(tiny_checkpoint), "--images", str(tmp_path / "none")]) == 2
    assert "no folder" in capsys.readouterr().err


def test_eval_sd_vae_with_a_missing_file_exits_2(image_folder, tmp_path, capsys):
    code = main(["eval", "vae", "--sd-vae", str(tmp_path / "missing.safetensors"), "--images", str(image_folder)])
    assert code == 2
    assert "missing.safetensors" in capsys.readouterr().err


def test_encode_json_and_out(tiny_checkpoint, image_folder, tmp_path, capsys):
    out = tmp_path / "latent.safetensors"
    code = main(["encode", str(image_folder / "img0.png"), "--model", str(tiny_checkpoint), "--out", str(out), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["latent_shape"] == [1, 4, 4, 6]  # 32×48 px at f=8
    assert result["sizes"]["latent_values"] == 96 and result["sizes"]["pixel_values"] == 32 * 48 * 3
    assert {"mean", "std", "min", "max", "channel_mean"} <= set(result["stats"])
    from latentlab.checkpoints import load_checkpoint

    tensors, meta = load_checkpoint(out, kind="latent")
    assert tensors["latent"].shape == (1, 4, 4, 6) and meta["model"] == "tiny"


def test_encode_a_non_image_exits_2(tiny_checkpoint, tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    assert main(["encode", str(bad), "--model", str(tiny_checkpoint)]) == 2
    assert "not an image" in capsys.readouterr().err


def test_bench_widgets_json(capsys):
    code = main(["bench", "widgets", "--keys", "channels,trajectory2d", "--repeats", "1", "--size", "64", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert "channels" in result["median_ms"] and result["median_ms"]["channels"] > 0
    # trajectory2d is timed when its module exists, otherwise skipped with a note
    assert "trajectory2d" in result["median_ms"] or "trajectory2d" in result["notes"]


def test_bench_with_an_unknown_key_exits_2(capsys):
    assert main(["bench", "widgets", "--keys", "nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err


# --- issue 13: strict JSON, and bad usage refused before any work ---------------------------------

def _strict_loads(text: str):
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant} in the CLI's output")

    return json.loads(text, parse_constant=refuse)


def test_encode_json_of_a_one_pixel_image_is_strict(tiny_checkpoint, tmp_path, capsys):
    Image.new("RGB", (1, 1), (200, 10, 10)).save(tmp_path / "dot.png")
    assert main(["encode", str(tmp_path / "dot.png"), "--model", str(tiny_checkpoint), "--json"]) == 0
    result = _strict_loads(capsys.readouterr().out)
    # one latent position: the spread of a single value is undefined, said so rather than written as NaN
    assert result["stats"]["channel_std"] == [None] * 4
    assert result["null_reasons"]["stats.channel_std[0]"] == "was NaN"


def test_eval_vae_json_of_a_perfect_reconstruction_is_strict(image_folder, capsys, monkeypatch):
    from latentlab import evaluate_vae

    monkeypatch.setattr(evaluate_vae, "reconstruct", lambda vae, x: x)  # a lossless "VAE": PSNR = +inf
    torch.manual_seed(0)
    vae = AutoencoderKL(VAEConfig.tiny())
    monkeypatch.setattr(evaluate_vae, "resolve_vae", lambda model: ("lossless", vae))
    assert main(["eval", "vae", "--images", str(image_folder), "--json", "--no-progress"]) == 0
    result = _strict_loads(capsys.readouterr().out)
    assert result["psnr"] is None and result["null_reasons"]["psnr"] == "was +Infinity"


@pytest.fixture
def no_loading(monkeypatch):
    """Any model load fails the test: a bad argument must be refused before."""
    from latentlab import checkpoints

    def loaded(*args, **kwargs):
        raise AssertionError("a model was loaded before the arguments were checked")

    for name in ("load_pretrained", "load_ldm", "load_vae", "load_checkpoint"):
        monkeypatch.setattr(checkpoints, name, loaded)


def test_eval_ldm_with_an_unknown_sampler_is_refused_before_loading(no_loading, capsys):
    assert main(["eval", "ldm", "--sampler", "nope", "--json"]) == 2
    err = capsys.readouterr().err
    assert "unknown sampler 'nope'" in err and "ddim" in err


@pytest.mark.parametrize("argv, message", [
    (["eval", "ldm", "--steps", "0"], "argument --steps: must be at least 1; got 0"),
    (["eval", "ldm", "--cfg", "nan"], "argument --cfg: must be a finite number"),
    (["eval", "ldm", "--samples", "many"], "argument --samples: expected an integer, got 'many'"),
    (["bench", "widgets", "--size", "-5"], "argument --size: must be a multiple of 16, at least 64; got -5"),
    (["bench", "widgets", "--repeats", "0"], "argument --repeats: must be at least 1"),
    (["bench", "why-latent", "--size", "100"], "argument --size: must be a multiple of 64"),
    (["bench", "sample", "--images", "0"], "argument --images: must be at least 1"),
    (["bench", "vs-diffusers", "--threads", "0"], "argument --threads: must be at least 1"),
    (["train", "evaluator", "--pool", "0"], "argument --pool: must be at least 1"),
    (["study", "ldm-f", "--minutes-per-run", "nan"], "argument --minutes-per-run: must be a finite number > 0"),
    (["study", "ldm-f", "--minutes-per-run", "1", "--batch-size", "0"], "argument --batch-size: must be at least 1"),
])
def test_bad_usage_exits_2_with_the_reason_on_stderr(no_loading, argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
