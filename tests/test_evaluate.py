"""evaluate_vae.py: a VAE on a folder of images, with baselines from the same run."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from latentlab.checkpoints import CheckpointError
from latentlab.evaluate_vae import evaluate_vae, resolve_vae
from latentlab.vae import AutoencoderKL, VAEConfig


@pytest.fixture
def tiny_vae():
    torch.manual_seed(0)
    return AutoencoderKL(VAEConfig.tiny()).eval()


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i, size in enumerate([(64, 48), (40, 72)]):  # (W, H); 40 is not a multiple of 8 → cropped
        array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(array).save(tmp_path / f"img{i}.png")
    return tmp_path


def test_keys_types_and_counts(tiny_vae, image_folder):
    result = evaluate_vae(tiny_vae, image_folder, name="tiny", progress=False)
    assert result["model"] == "tiny" and result["config"] == "f8c4" and result["images"] == 2
    assert isinstance(result["psnr"], float) and 0 < result["psnr"] < 60
    assert isinstance(result["ssim"], float) and -1 <= result["ssim"] <= 1
    bicubic, jpeg = result["baselines"]["bicubic_equal_values"], result["baselines"]["jpeg_equal_bytes"]
    for baseline in (bicubic, jpeg):
        assert math.isfinite(baseline["psnr"]) and -1 <= baseline["ssim"] <= 1
    assert bicubic["values_ratio"] <= 1  # the baseline never keeps more numbers than the latent
    assert jpeg["bpp"] > 0
    sizes = sorted(tuple(row["size"]) for row in result["per_image"])
    assert sizes == [(48, 64), (72, 40)]  # (H, W), multiples of f=8


def test_a_non_image_file_is_skipped_with_a_warning(tiny_vae, image_folder):
    (image_folder / "notes.txt").write_text("not an image")
    (image_folder / "broken.png").write_bytes(b"not a png either")
    with pytest.warns(UserWarning) as caught:
        result = evaluate_vae(tiny_vae, image_folder, progress=False)
    messages = " ".join(str(w.message) for w in caught)
    assert "notes.txt" in messages and "broken.png" in messages
    assert result["images"] == 2


def test_an_empty_folder_is_a_clear_error(tiny_vae, tmp_path):
    with pytest.raises(ValueError, match="no image files"):
        evaluate_vae(tiny_vae, tmp_path, progress=False)


def test_a_missing_folder_is_a_clear_error(tiny_vae, tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder"):
        evaluate_vae(tiny_vae, tmp_path / "nowhere", progress=False)


def test_resolve_vae_names_the_shipped_models_when_it_fails():
    with pytest.raises(CheckpointError, match="neither a shipped model nor a checkpoint file"):
        resolve_vae("vae-f99c1")


def test_resolve_vae_passes_a_model_through(tiny_vae):
    name, vae = resolve_vae(tiny_vae)
    assert vae is tiny_vae and name == "f8c4"


def test_greyscale_and_rgba_images_are_evaluated(tiny_vae, tmp_path):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8), mode="L").save(tmp_path / "grey.png")
    Image.fromarray(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8), mode="RGBA").save(tmp_path / "alpha.png")
    assert evaluate_vae(tiny_vae, tmp_path, progress=False)["images"] == 2


def test_shipped_f8c4_beats_bicubic_on_a_bundled_photo(tmp_path):
    from latentlab.checkpoints import shipped_models
    from latentlab.data import HELD_OUT_PHOTO
    from latentlab.images import bundled_photo

    if "vae-f8c4" not in shipped_models():
        pytest.skip("vae-f8c4 is not shipped yet")
    bundled_photo(HELD_OUT_PHOTO).crop((0, 0, 256, 256)).save(tmp_path / "held_out.png")  # never trained on
    result = evaluate_vae("vae-f8c4", tmp_path, progress=False)
    assert result["psnr"] > result["baselines"]["bicubic_equal_values"]["psnr"]
