"""Bad-input battery: the command line (issue 13). Every bad input gets exit code 2 and a message on
stderr that names the problem, before any work; a bug gets exit 1 and a one-paragraph message; never
a traceback, never a replaced input, never exit 0 with a wrong result. Most cases run `main` in this
process; a few run the real `latentlab` in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hostile import png_header, run_cli
from PIL import Image
from safetensors.torch import save_file

from latentlab import cli, commands
from latentlab.checkpoints import load_checkpoint, save_checkpoint, save_vae
from latentlab.vae import AutoencoderKL, VAEConfig

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def place(tmp_path):
    """A tiny VAE checkpoint and a 32×32 photo in tmp_path."""
    torch.manual_seed(0)
    save_vae(tmp_path / "tiny.safetensors", AutoencoderKL(VAEConfig.tiny()))
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    return tmp_path


# --- encode --out: never replaces the photo or a file that is not a latent (issue 13 item 2) -------


def _foreign(path: Path) -> Path:
    save_file({"w": torch.zeros(2)}, str(path))
    return path


def _vae_file(path: Path) -> Path:
    return save_vae(path, AutoencoderKL(VAEConfig.tiny()))


@pytest.mark.parametrize("out, make, words", [
    ("photo.png", None, ["--out", "photo.png", "ending in .safetensors"]),
    ("latent", None, ["ending in .safetensors", "latent.safetensors"]),
    ("", None, ["ending in .safetensors"]),  # an empty --out is not "no --out"
    ("folder.safetensors", Path.mkdir, ["is a folder"]),
    ("weights.safetensors", _foreign, ["not a latentlab checkpoint", "refusing to replace it"]),
    ("tiny.safetensors", None, ["'vae' checkpoint", "writes a 'latent' one", "refusing to replace it"]),
])
def test_encode_out_never_replaces_a_file_that_is_not_a_latent(place, capsys, out, make, words):
    if make is not None:
        make(place / out)
    before = {p.name: p.read_bytes() for p in place.iterdir() if p.is_file()}
    code, stdout, err = run_cli(["encode", place / "photo.png", "--model", place / "tiny.safetensors",
                                 "--out", place / out if out else ""], capsys)
    assert code == 2 and stdout == ""
    assert all(word in err for word in words), err
    assert {p.name: p.read_bytes() for p in place.iterdir() if p.is_file()} == before


def test_encode_out_is_checked_before_the_model_is_loaded(place, capsys):
    code, _, err = run_cli(["encode", place / "photo.png", "--model", place / "missing.safetensors",
                            "--out", place / "photo.png"], capsys)
    assert code == 2 and "ending in .safetensors" in err and "missing.safetensors" not in err


def test_encode_out_never_replaces_the_picture_it_encodes_whatever_its_name(place, capsys):
    disguised = place / "photo.safetensors"  # PIL reads a PNG by its content, not its name
    disguised.write_bytes((place / "photo.png").read_bytes())
    code, _, err = run_cli(["encode", disguised, "--model", place / "tiny.safetensors", "--out", disguised], capsys)
    assert code == 2 and "is the image being encoded" in err
    assert disguised.read_bytes() == (place / "photo.png").read_bytes()


def test_encode_out_replaces_an_earlier_latent_and_creates_folders_as_documented(place, capsys):
    earlier = save_checkpoint(place / "z.safetensors", {"latent": torch.zeros(1)}, "latent", "{}")
    for out in (earlier, place / "new" / "deeper" / "z.safetensors"):
        code, _, _ = run_cli(["encode", place / "photo.png", "--model", place / "tiny.safetensors", "--out", out],
                             capsys)
        assert code == 0 and load_checkpoint(out, kind="latent")[0]["latent"].shape == (1, 4, 4, 4)


# --- other bad inputs at the command line -------------------------------------------------------


@pytest.mark.parametrize("argv, words", [
    (["encode", "{place}", "--model", "{vae}"], ["is a folder; expected an image file"]),
    (["encode", "{place}/missing.png", "--model", "{vae}"], ["no image file at", "missing.png"]),
    (["encode", "{place}/empty.png", "--model", "{vae}"], ["empty.png", "not an image file"]),
    (["encode", "{place}/bomb.png", "--model", "{vae}"], ["bomb.png", "resize it first"]),
    (["encode", "{place}/photo.png", "--model", "{place}"], ["neither a shipped model nor a checkpoint file"]),
    (["encode", "{place}/photo.png", "--model", "vae-f9c9"], ["'vae-f9c9'", "shipped VAEs: ", "vae-f8c4"]),
    (["encode", "{place}/photo.png", "--sd-vae", "{place}/nowhere"], ["no file or folder at", "nowhere"]),
    (["eval", "vae", "--model", "{vae}", "--images", "{place}/photo.png"], ["is a file; expected a folder"]),
    (["eval", "vae", "--model", "{vae}", "--images", "{place}/nothing"], ["no image files in", "looked for"]),
    (["train", "vae", "--preset", "f7c7", "--steps", "1"], ["unknown VAE preset 'f7c7'", "f8c4"]),
    (["train", "vae", "--preset", "tiny", "--steps", "1", "--resume", "--run-dir", "{place}/run"],
     ["nothing to resume", "without --resume"]),
    (["train", "vae", "--preset", "tiny", "--steps", "1", "--run-dir", "{place}/photo.png"],
     ["cannot write in", "photo.png"]),
    (["train", "vae", "--preset", "tiny", "--steps", "1", "--init", "{place}/missing.safetensors",
      "--run-dir", "{place}/run"], ["no checkpoint file at", "missing.safetensors"]),
    (["train", "vae", "--preset", "tiny", "--steps", "1", "--shapes", "1.5", "--run-dir", "{place}/run"],
     ["--shapes", "≤ 1", "1.5"]),
    (["train", "vae", "--preset", "tiny", "--steps", "1", "--decoder-only", "--run-dir", "{place}/run"],
     ["decoder_only", "--init"]),
    (["train", "vae", "--preset", "tiny", "--seed", "-1", "--steps", "1"], ["--seed", "at least 0"]),
    (["train", "vae", "--preset", "tiny"], ["needs --steps N or --minutes M"]),
    (["train", "ldm", "--preset", "huge", "--steps", "1"], ["--preset", "invalid choice: 'huge'"]),
    (["eval", "ldm", "--seed", str(2**64)], ["seed must be below 2**64"]),
    (["eval", "ldm", "--sampler", "DDIM"], ["unknown sampler 'DDIM'", "ddim"]),
    (["bench", "widgets", "--keys", ",nope"], ["unknown widget app(s)", "nope", "compression"]),
    (["lab", "--notebook", "{place}/missing.ipynb"], ["no notebook at", "missing.ipynb"]),
    (["encode"], ["the following arguments are required: image"]),
    (["nonsense"], ["invalid choice: 'nonsense'"]),
    ([], ["the following arguments are required: command"]),
])
def test_a_bad_command_line_exits_2_naming_the_problem(place, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(place)  # a default run directory, if one were wrongly made, lands here
    (place / "empty.png").write_bytes(b"")
    (place / "bomb.png").write_bytes(png_header(20_000, 20_000))
    (place / "nothing").mkdir()
    before = sorted(p.name for p in place.rglob("*"))
    code, out, err = run_cli([a.format(place=place, vae=place / "tiny.safetensors") for a in argv], capsys)
    assert code == 2 and out == ""
    assert all(word in err for word in words), err
    assert sorted(p.name for p in place.rglob("*")) == before  # nothing written, no run started


def test_a_unicode_path_is_encoded_and_its_json_is_strict(place, capsys):
    photo = place / "fotó ñ 照片.png"
    photo.write_bytes((place / "photo.png").read_bytes())
    code, out, _ = run_cli(["encode", photo, "--model", place / "tiny.safetensors", "--json"], capsys)
    result = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert code == 0 and result["image"] == str(photo) and result["latent_shape"] == [1, 4, 4, 4]


# --- the safety net: a bug or a Ctrl-C is a message, not a traceback ------------------------------


def test_a_bug_is_a_one_paragraph_message_with_exit_1(place, capsys, monkeypatch):
    def broken(args):
        raise TypeError("unsupported operand type(s)")

    monkeypatch.setattr(commands, "cmd_encode", broken)
    monkeypatch.delenv("LATENTLAB_DEBUG", raising=False)
    code, _, err = run_cli(["encode", place / "photo.png"], capsys)
    assert code == 1
    assert "unexpected TypeError: unsupported operand type(s)" in err and "LATENTLAB_DEBUG=1" in err
    monkeypatch.setenv("LATENTLAB_DEBUG", "1")  # the developer's way to the traceback
    with pytest.raises(TypeError):
        cli.main(["encode", str(place / "photo.png")])


def test_ctrl_c_outside_training_exits_130_with_a_message(place, capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "cmd_encode", interrupted)
    code, _, err = run_cli(["encode", place / "photo.png"], capsys)
    assert code == 130 and "latentlab encode: interrupted" in err


# --- the real command, in a subprocess ------------------------------------------------------------


@pytest.mark.parametrize("argv, words", [
    (["encode", "{place}/photo.png", "--model", "{vae}", "--out", "{place}/photo.png"], ["ending in .safetensors"]),
    (["encode", "{place}/bomb.png", "--model", "{vae}"], ["bomb.png", "resize it first"]),
    (["train", "vae", "--preset", "tiny", "--minutes", "nan", "--run-dir", "{place}/run"], ["--minutes", "finite"]),
])
def test_the_real_command_exits_2_without_a_traceback(place, argv, words):
    (place / "bomb.png").write_bytes(png_header(20_000, 20_000))
    before = (place / "photo.png").read_bytes()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("LATENTLAB_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "latentlab",
                           *[a.format(place=place, vae=place / "tiny.safetensors") for a in argv]],
                          cwd=place, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr and all(word in done.stderr for word in words), done.stderr
    assert (place / "photo.png").read_bytes() == before and not (place / "run").exists()
