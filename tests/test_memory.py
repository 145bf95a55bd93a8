"""The memory story (latentlab/memory.py): weights cost the same in every space, activations follow the
positions, a materialised attention map their square; the formula agrees with the measured peak, and
Stable Diffusion v1's budget follows from it."""

from dataclasses import replace

import pytest
import torch

from latentlab.memory import (
    SDv1,
    largest_side_within,
    measure_unet_memory,
    predict_activation_bytes,
    sd_v1_budget,
)
from latentlab.unet import UNet, UNetConfig


def _course_unet(channels: int) -> UNet:
    torch.manual_seed(0)
    return UNet(replace(UNetConfig.shapes(), in_channels=channels, out_channels=channels))


@pytest.mark.parametrize("materialised", [False, True], ids=["fused", "materialised"])
@pytest.mark.parametrize("channels, side", [(4, 16), (4, 32), (3, 32)], ids=["f8c4-128px", "f8c4-256px", "pixel-32px"])
def test_the_formula_agrees_with_the_measured_peak(channels, side, materialised):
    model = _course_unet(channels)
    measured = measure_unet_memory(model, side, materialised_attention=materialised)["activations_mb"] * 2**20
    predicted = predict_activation_bytes(model.config, side, materialised_attention=materialised)["total"]
    assert 0.75 < predicted / measured < 1.33, f"predicted {predicted / 2**20:.2f} MiB, measured {measured / 2**20:.2f}"


def test_weights_are_the_same_in_both_spaces_activations_are_not():
    pixel = measure_unet_memory(_course_unet(3), 64)
    latent = measure_unet_memory(_course_unet(4), 8)   # the f8c4 latent of the same 64 px picture
    assert pixel["weights_mb"] == pytest.approx(latent["weights_mb"], rel=0.01)  # only conv_in/out see c
    assert pixel["activations_mb"] > 20 * latent["activations_mb"]


def test_a_materialised_attention_map_grows_with_the_square_of_the_positions():
    config = UNetConfig.shapes()
    small = predict_activation_bytes(config, 16, materialised_attention=True)["attention"]
    large = predict_activation_bytes(config, 32, materialised_attention=True)["attention"]
    assert large == 16 * small == 16 * config.heads * (16 * 16) ** 2 * 4  # 4× the positions → 16× the map
    model = _course_unet(4)
    extra = [measure_unet_memory(model, side, materialised_attention=True)["activations_mb"]
             - measure_unet_memory(model, side)["activations_mb"] for side in (16, 32)]
    assert extra[1] > 10 * extra[0] > 0  # measured: the fused kernel never holds the map


def test_batch_and_precision_scale_every_activation():
    config = UNetConfig.shapes()
    one = predict_activation_bytes(config, 16, batch=1, bytes_per_value=4, materialised_attention=True)
    two = predict_activation_bytes(config, 16, batch=2, bytes_per_value=2, materialised_attention=True)
    assert two == one
    with pytest.raises(ValueError, match="halve 2 times"):
        predict_activation_bytes(config, 18)


def test_stable_diffusion_v1_at_512px_fits_8_gb_in_latent_space_only():
    latent, pixel = sd_v1_budget(512, f=8), sd_v1_budget(512, f=1)
    assert latent["unet_weights"] == pytest.approx(1.72, abs=0.01)  # 860 M parameters in fp16
    assert latent["weights"] == pixel["weights"]                    # the same network in both spaces
    assert latent["latent_side"] == 64 and latent["total"] < 8 < pixel["total"]
    assert pixel["attention"] / latent["attention"] == pytest.approx(8 ** 4)  # f⁴ fewer attention pairs
    flash = sd_v1_budget(512, f=1, materialised_attention=False)
    assert flash["attention"] == 0 and flash["total"] > 8  # without the maps, pixel space still does not fit
    assert SDv1.unet_config().block_channels == (320, 640, 1280, 1280)
    with pytest.raises(ValueError, match="multiple of f"):
        sd_v1_budget(500, f=8)


def test_the_largest_picture_that_fits_grows_with_f_and_with_fused_attention():
    assert largest_side_within(8, f=1) < largest_side_within(8, f=8)
    assert largest_side_within(8, f=8) < largest_side_within(8, f=8, materialised_attention=False)
    side = largest_side_within(8, f=8)
    assert sd_v1_budget(side, 8)["total"] <= 8 < sd_v1_budget(side + 64, 8)["total"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA's allocator statistics need a CUDA GPU")
def test_on_cuda_the_formula_agrees_with_max_memory_allocated():
    model = _course_unet(3)
    for materialised in (False, True):
        measured = measure_unet_memory(model, 64, device="cuda", materialised_attention=materialised)
        assert measured["kind"] == "cuda max allocated"
        predicted = predict_activation_bytes(model.config, 64, materialised_attention=materialised)["total"]
        assert 0.5 < predicted / (measured["activations_mb"] * 2**20) < 2
