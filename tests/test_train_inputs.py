"""Nonsense training arguments are refused with a clear message and rc 2, before any work (issue 13)."""

import math

import pytest
import torch
from safetensors.torch import save_file

from latentlab import checkpoints
from latentlab.cli import main
from latentlab.train import LDMTrainSettings, VAETrainSettings, train_vae
from latentlab.vae import VAEConfig

TINY = ["train", "vae", "--preset", "tiny", "--batch-size", "2", "--patch-size", "32"]


@pytest.mark.parametrize("command", [["train", "vae", "--preset", "tiny"], ["train", "ldm", "--preset", "tiny"]])
@pytest.mark.parametrize("option, value", [("--minutes", "nan"), ("--minutes", "inf"), ("--minutes", "-1"),
                                           ("--minutes", "0"), ("--batch-size", "0"), ("--steps", "0"),
                                           ("--steps", "-3"), ("--lr", "nan")])
def test_the_command_line_refuses_nonsense_numbers(tmp_path, capsys, command, option, value):
    args = [*command, option, value, "--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "m.safetensors")]
    if option != "--steps":
        args += ["--steps", "2"]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert option in capsys.readouterr().err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("settings_class", [VAETrainSettings, LDMTrainSettings])
@pytest.mark.parametrize("field, value, flag", [("minutes", math.nan, "--minutes"), ("minutes", math.inf, "--minutes"),
                                                ("minutes", -1.0, "--minutes"), ("batch_size", 0, "--batch-size"),
                                                ("steps", 0, "--steps"), ("lr", -1e-3, "--lr"),
                                                ("seed", -1, "--seed")])
def test_the_settings_refuse_nonsense_numbers(settings_class, field, value, flag):
    with pytest.raises(ValueError, match=flag):
        settings_class(**{"steps": 2, field: value})


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A 1-step run of the tiny VAE (batch 2, patch 32) and its exported model."""
    folder = tmp_path_factory.mktemp("finished")
    settings = VAETrainSettings(steps=1, batch_size=2, patch_size=32, checkpoint_every=1e9)
    train_vae(VAEConfig.tiny(), folder / "m.safetensors", settings, run_dir=folder / "run", progress=False)
    return folder


@pytest.mark.parametrize("option, value, expected", [("--batch-size", "4", "--batch-size 2"),
                                                      ("--patch-size", "64", "--patch-size 32")])
def test_resume_refuses_another_batch_or_patch_size(finished_run, capsys, option, value, expected):
    before = (finished_run / "run" / "last.safetensors").read_bytes()
    args = [*TINY, "--steps", "2", "--run-dir", str(finished_run / "run"), "--out", str(finished_run / "m.safetensors")]
    args[args.index(option) + 1] = value
    assert main([*args, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "was started with" in err and expected in err
    assert (finished_run / "run" / "last.safetensors").read_bytes() == before


def test_patch_size_must_fit_the_preset(tmp_path, capsys):
    args = [*TINY, "--steps", "1", "--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "m.safetensors")]
    args[args.index("--patch-size") + 1] = "36"
    assert main(args) == 2
    assert "multiple of f = 8" in capsys.readouterr().err


def test_out_must_be_a_safetensors_file_and_never_replaces_a_foreign_one(tmp_path, finished_run, capsys):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG not really, but precious")
    foreign = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))  # a safetensors file that is not a latentlab checkpoint
    ldm = tmp_path / "ldm.safetensors"
    checkpoints.save_checkpoint(ldm, {"w": torch.zeros(2)}, "ldm", "{}")
    cases = [(photo, "ending in .safetensors"), (foreign, "not a latentlab checkpoint"),
             (ldm, "'ldm' checkpoint"), (finished_run / "m.safetensors", "starts from (--init)")]
    for out, message in cases:
        before = out.read_bytes()
        args = [*TINY, "--steps", "1", "--run-dir", str(tmp_path / "run"), "--out", str(out)]
        assert main([*args, "--init", str(finished_run / "m.safetensors")]) == 2, out
        assert message in capsys.readouterr().err
        assert out.read_bytes() == before
    assert not (tmp_path / "run").exists()  # refused before anything was written
