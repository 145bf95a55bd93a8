"""Bad-input battery: checkpoints (issue 13). No loader runs a pickle, whatever its disguise, and every
file that cannot be used is refused by a CheckpointError naming the file and what was expected."""

import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch
from hostile import run_cli, write_pickles
from PIL import Image
from safetensors.torch import save_file

from latentlab import checkpoints
from latentlab.checkpoints import CheckpointError, load_diffusers_vae, load_ldm, load_vae, read_metadata
from latentlab.evaluate_vae import resolve_vae
from latentlab.shapes_eval import load_shapes_evaluator
from latentlab.vae import VAEConfig
from latentlab.widgets.kit import resolve_model

PACKAGE = Path(checkpoints.__file__).parent

DISGUISES = ["evil.safetensors", "evil.ckpt", "evil.pt", "evil.bin", "zip.pt", "zip.safetensors", "diffusers folder",
             "diffusers .bin folder"]
LOADERS = {
    "load_vae": load_vae, "load_ldm": load_ldm, "read_metadata": read_metadata,
    "load_checkpoint": checkpoints.load_checkpoint, "load_diffusers_vae": load_diffusers_vae,
    "resolve_vae": resolve_vae, "load_shapes_evaluator": load_shapes_evaluator,
    "widgets vae": lambda path: resolve_model(path, "vae"), "widgets ldm": lambda path: resolve_model(path, "ldm"),
}


@pytest.fixture(scope="module")
def pickles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pickles")
    return folder / "MARKER", write_pickles(folder, folder / "MARKER")


@pytest.mark.parametrize("disguise", DISGUISES)
@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_pickle_in_any_disguise_is_refused_by_every_loader_and_never_runs(pickles, loader, disguise):
    marker, files = pickles
    with pytest.raises(CheckpointError) as info:
        LOADERS[loader](files[disguise])
    assert files[disguise].name in str(info.value)
    assert not marker.exists(), f"{loader} ran the pickle in {disguise}"


COMMANDS = [["encode", "{photo}", "--model", "{evil}"], ["encode", "{photo}", "--sd-vae", "{evil}"],
            ["eval", "ldm", "--model", "{evil}"],
            ["train", "vae", "--preset", "tiny", "--steps", "1", "--init", "{evil}",
             "--run-dir", "{tmp}/run", "--out", "{tmp}/out.safetensors"],
            ["train", "ldm", "--preset", "tiny", "--steps", "1", "--init", "{evil}",
             "--run-dir", "{tmp}/run", "--out", "{tmp}/out.safetensors"]]


@pytest.mark.parametrize("command, disguise", [(c, d) for c in COMMANDS for d in DISGUISES]
                         # --vae is read after the shipped ldm-shapes (seconds): one disguise is enough
                         + [(["eval", "ldm", "--vae", "{evil}"], "zip.pt")])
def test_a_pickle_in_any_disguise_is_refused_by_every_command(pickles, tmp_path, capsys, command, disguise):
    marker, files = pickles
    Image.new("RGB", (16, 16)).save(tmp_path / "photo.png")
    argv = [a.format(photo=tmp_path / "photo.png", evil=files[disguise], tmp=tmp_path) for a in command]
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and files[disguise].name in err and out == ""
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()


def test_the_package_never_unpickles():
    """No torch.load (pickle underneath, even with weights_only in older torch), pickle.load(s),
    torch.jit.load or numpy's allow_pickle anywhere in latentlab: weights are safetensors only."""
    pattern = re.compile(r"torch\.load\b|pickle\.loads?\b|jit\.load\b|allow_pickle\s*=\s*True|import pickle")
    found = [f"{path.relative_to(PACKAGE)}:{n}" for path in PACKAGE.rglob("*.py")
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert len(list(PACKAGE.rglob("*.py"))) > 30  # the walk really saw the package
    assert found == []


# --- files that are not checkpoints, or not usable ones -------------------------------------------


def _tiny_vae_file(tmp_path, **config_changes) -> Path:
    from latentlab.vae import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(VAEConfig.tiny())
    config = dataclasses.replace(VAEConfig.tiny(), **config_changes) if config_changes else VAEConfig.tiny()
    return checkpoints.save_checkpoint(tmp_path / "vae.safetensors", vae.state_dict(), "vae", config.to_json())


def _make(tmp_path, case: str) -> Path:
    """The file (or folder) of one case."""
    path = tmp_path / "case.safetensors"
    if case == "empty file":
        path.write_bytes(b"")
    elif case == "a folder":
        path.mkdir()
    elif case == "missing":
        pass
    elif case == "header claims 1 TB":
        path.write_bytes((2**40).to_bytes(8, "little") + b"{}")
    elif case == "header not UTF-8":
        path.write_bytes((4).to_bytes(8, "little") + b"\xff\xfe\xfd\xfc")
    elif case == "a latent, loaded as a VAE":
        checkpoints.save_checkpoint(path, {"latent": torch.zeros(1, 4, 2, 2)}, "latent", VAEConfig.tiny().to_json())
    elif case == "config claims a huge model":
        path = _tiny_vae_file(tmp_path, block_out_channels=(8192,) * 4, norm_groups=32)
    elif case == "integer weights":
        path = _tiny_vae_file(tmp_path)
        tensors = checkpoints.load_file(str(path))
        tensors["encoder.conv_in.weight"] = tensors["encoder.conv_in.weight"].to(torch.int64)
        checkpoints.save_checkpoint(path, tensors, "vae", VAEConfig.tiny().to_json())
    elif case == "foreign safetensors":
        save_file({"w": torch.zeros(2)}, str(path))
    return path


@pytest.mark.parametrize("case, error, words", [
    ("empty file", CheckpointError, ["case.safetensors", "not a readable safetensors file"]),
    ("a folder", CheckpointError, ["no checkpoint file at", "case.safetensors"]),
    ("missing", CheckpointError, ["no checkpoint file at", "case.safetensors"]),
    ("header claims 1 TB", CheckpointError, ["case.safetensors", "truncated or corrupt"]),
    ("header not UTF-8", CheckpointError, ["case.safetensors", "truncated or corrupt"]),
    ("a latent, loaded as a VAE", CheckpointError, ["'latent' checkpoint", "'vae' one was expected"]),
    ("config claims a huge model", CheckpointError, ["does not fit this model", "wrong shape", "(8192, 3, 3, 3)"]),
    ("foreign safetensors", CheckpointError, ["not a latentlab checkpoint", "load_diffusers_vae"]),
])
def test_an_unusable_vae_file_is_refused_by_name(tmp_path, case, error, words):
    with pytest.raises(error) as info:
        load_vae(_make(tmp_path, case))
    assert all(word in str(info.value) for word in words), str(info.value)


def test_integer_weights_are_cast_like_fp16_ones_documented(tmp_path):
    """Documented: a tensor of another dtype is cast to the model's (the shipped files are fp16)."""
    vae = load_vae(_make(tmp_path, "integer weights"))
    assert vae.encoder.conv_in.weight.dtype == torch.float32


@pytest.mark.parametrize("config_bytes, words", [
    (b"\xff\xfe{not json", ["config.json", "not valid JSON", "scaling_factor"]),
    (b"[1, 2]", ["config.json", "JSON object", "list"]),
    (b'{"scaling_factor": "big"}', ["config.json", "'scaling_factor'", "should be a number"]),
    (b'{"norm_num_groups": 3.5}', ["config.json", "'norm_num_groups'", "should be a number (int)"]),
])
def test_a_broken_diffusers_config_is_named(tmp_path, config_bytes, words):
    folder = tmp_path / "vae"
    folder.mkdir()
    (folder / "config.json").write_bytes(config_bytes)
    save_file({"w": torch.zeros(1)}, str(folder / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(CheckpointError) as info:
        load_diffusers_vae(folder)
    assert all(word in str(info.value) for word in words), str(info.value)


def test_a_diffusers_folder_of_pickled_weights_says_why_it_is_not_read(pickles):
    marker, files = pickles
    with pytest.raises(CheckpointError, match="holds only pickled weights \\(.bin\\), which can run code"):
        load_diffusers_vae(files["diffusers .bin folder"])
    assert not marker.exists()


def test_a_missing_diffusers_path_says_what_was_expected(tmp_path):
    with pytest.raises(CheckpointError, match="no file or folder at .*nowhere.*diffusion_pytorch_model.safetensors"):
        load_diffusers_vae(tmp_path / "nowhere")


def test_metadata_with_nan_in_its_json_is_refused(tmp_path):
    from latentlab.vae import AutoencoderKL

    config = json.loads(VAEConfig.tiny().to_json())
    text = json.dumps({**config, "scaling_factor": float("nan")})  # Python's json writes NaN; reading it must not pass
    checkpoints.save_checkpoint(tmp_path / "v.safetensors", AutoencoderKL(VAEConfig.tiny()).state_dict(), "vae", text)
    with pytest.raises(CheckpointError, match="scaling_factor must be a finite number > 0"):
        load_vae(tmp_path / "v.safetensors")
