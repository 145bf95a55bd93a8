"""Bad-input battery: tensors handed to the networks (issue 13). A VAE or UNet given the wrong shape,
dtype, device or NaN says so and how to fix it, instead of failing deep inside torch or returning NaN."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from latentlab.ldm import LatentDiffusion, LDMConfig
from latentlab.vae import AutoencoderKL, VAEConfig


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return AutoencoderKL(VAEConfig.tiny()).eval()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LatentDiffusion(replace(LDMConfig.tiny(), image_size=64)).eval()


def _nan_image():
    x = torch.zeros(1, 3, 16, 16)
    x[0, 0, 3, 3] = float("nan")
    return x


@pytest.mark.parametrize("make, error, words", [
    (_nan_image, ValueError, ["1 NaN/inf", "[-1, 1]"]),
    (lambda: torch.full((1, 3, 16, 16), float("inf")), ValueError, ["768 NaN/inf"]),
    (lambda: torch.zeros(1, 3, 16, 16, dtype=torch.uint8), TypeError, ["float tensor", "uint8", "to_tensor"]),
    (lambda: torch.zeros(1, 3, 16, 16, dtype=torch.bool), TypeError, ["float tensor", "bool"]),
    (lambda: np.zeros((1, 3, 16, 16), np.float32), TypeError, ["float tensor", "ndarray", "to_tensor"]),
    (lambda: torch.zeros(3, 16, 16), ValueError, ["(B, 3, H, W)", "(3, 16, 16)", "to_tensor"]),
    (lambda: torch.zeros(1, 4, 16, 16), ValueError, ["(B, 3, H, W)", "(1, 4, 16, 16)"]),
    (lambda: torch.zeros(1, 16, 16, 3), ValueError, ["(B, 3, H, W)", "(1, 16, 16, 3)"]),
    (lambda: torch.zeros(1, 3, 15, 16), ValueError, ["multiples of f=8", "15×16", "pads or crops"]),
    (lambda: torch.zeros(1, 3, 0, 16), ValueError, ["positive multiples of f=8", "0×16"]),
    (lambda: torch.zeros(1, 3, 16, 16, device="meta"), ValueError, ["on meta", "VAE is on cpu", ".to("]),
])
def test_encode_refuses_what_is_not_a_picture_batch(vae, make, error, words):
    with pytest.raises(error) as info:
        vae.encode(make())
    assert all(word in str(info.value) for word in words), str(info.value)


@pytest.mark.parametrize("make, error, words", [
    (lambda: torch.full((1, 4, 2, 2), float("nan")), ValueError, ["16 NaN/inf", "cannot make an image"]),
    (lambda: torch.zeros(1, 3, 2, 2), ValueError, ["(B, 4, h, w)", "(1, 3, 2, 2)"]),
    (lambda: torch.zeros(4, 2, 2), ValueError, ["(B, 4, h, w)", "(4, 2, 2)"]),
    (lambda: torch.zeros(1, 4, 0, 0), ValueError, ["(B, 4, h, w)", "(1, 4, 0, 0)"]),
    (lambda: torch.zeros(1, 4, 2, 2, dtype=torch.int32), TypeError, ["float tensor", "int32"]),
])
def test_decode_refuses_what_is_not_a_latent(vae, make, error, words):
    with pytest.raises(error) as info:
        vae.decode(make())
    assert all(word in str(info.value) for word in words), str(info.value)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_other_float_dtypes_are_computed_in_the_weights_dtype_documented(vae, dtype):
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        expected = vae.encode(x).mode()
        got = vae.encode(x.to(dtype)).mode()
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=0.05 if dtype != torch.float64 else 1e-6, rtol=0)


def test_the_unet_takes_float64_latents_like_float32_ones(model):
    """NumPy's float64 used to fail deep in torch ("Input type (double) and bias type (float)")."""
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        context = model.encode_prompt(["a red circle"])
        expected = model(x, torch.tensor([500]), context)
        got = model(x.double(), torch.tensor([500]), context.double())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("x_shape, context_batch, words", [
    ((1, 3, 8, 8), 1, ["expected 4 latent channels", "(1, 3, 8, 8)"]),
    ((2, 4, 8, 8), 3, ["context must be (B=2", "(3,"]),
    ((1, 4, 7, 8), 1, ["multiples of", "7×8"]),
])
def test_the_unet_names_a_misshapen_input(model, x_shape, context_batch, words):
    with torch.no_grad():
        context = model.encode_prompt(["a red circle"] * context_batch)
        with pytest.raises(ValueError) as info:
            model(torch.zeros(x_shape), torch.tensor([1]), context)
    assert all(word in str(info.value) for word in words), str(info.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device")
def test_a_cpu_picture_for_a_gpu_vae_names_both_devices(vae):
    gpu_vae = AutoencoderKL(VAEConfig.tiny()).cuda().eval()
    with pytest.raises(ValueError, match="is on cpu but this VAE is on cuda"):
        gpu_vae.encode(torch.zeros(1, 3, 16, 16))
