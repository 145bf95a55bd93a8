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
