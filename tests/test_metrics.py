"""metrics.py: PSNR/SSIM identities, compression arithmetic, codec baselines, the linear latent→RGB fit."""

import math

import numpy as np
import pytest
import torch

from latentlab import metrics


def _photo_like(size=64, seed=0) -> np.ndarray:
    """A smooth gradient with a little noise: compressible like a photo, not trivially."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([x, y, (x + y) / 2], axis=-1) * 200 + 20
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def test_psnr_of_identical_images_is_inf():
    a = _photo_like()
    assert metrics.psnr(a, a.copy()) == math.inf


def test_psnr_of_known_mse():
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a + np.uint8(10)  # MSE = 100 → 10·log10(255²/100) = 28.13 dB
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))


def test_psnr_takes_tensors_in_minus_one_one():
    a = _photo_like()
    t = torch.from_numpy(a).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    assert metrics.psnr(a, t) == math.inf


def test_psnr_rejects_different_sizes():
    with pytest.raises(ValueError, match="same size"):
        metrics.psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))


def test_ssim_bounds():
    a = _photo_like()
    noisy = np.clip(a.astype(int) + np.random.default_rng(1).normal(0, 40, a.shape), 0, 255).astype(np.uint8)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    value = metrics.ssim(a, noisy)
    assert -1.0 <= value < 0.9


def test_compression_figures_sd_geometry_is_48x():
    fig = metrics.compression_figures((512, 512), (4, 64, 64))
    assert fig.pixel_values == 512 * 512 * 3 and fig.latent_values == 64 * 64 * 4
    assert fig.value_ratio == 48
    assert fig.latent_bytes == {"fp32": 65536, "fp16": 32768, "uint8": 16384}
    assert fig.ratio["fp16"] == 24 and fig.ratio["uint8"] == 48 and fig.ratio["fp32"] == 12
    assert fig.latent_bpp["fp16"] == pytest.approx(1.0)  # 32768 bytes · 8 / 262144 pixels
    # a batch dimension of 1 is accepted
    assert metrics.compression_figures((512, 512), (1, 4, 64, 64)).value_ratio == 48


def test_compression_figures_rejects_bad_shapes():
    with pytest.raises(ValueError, match="latent_shape"):
        metrics.compression_figures((512, 512), (64, 64))


def test_lossless_baselines_are_sane():
    a = _photo_like(64)
    raw, png, zipped = metrics.raw_baseline(a), metrics.png_baseline(a), metrics.zlib_baseline(a)
    assert raw.bytes == 64 * 64 * 3 and raw.ratio == 1 and raw.bpp == 24
    for r in (png, zipped):
        assert 0 < r.bytes < raw.bytes and r.lossless and r.psnr == math.inf
    flat = np.full((64, 64, 3), 7, np.uint8)
    assert metrics.zlib_baseline(flat).bytes < 200  # a constant image compresses to almost nothing
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert metrics.zlib_baseline(noise).bytes > 0.95 * noise.nbytes  # noise does not compress


@pytest.mark.parametrize("budget", [1500, 3000, 6000])
def test_jpeg_at_equal_bytes_stays_within_budget(budget):
    a = _photo_like(96)
    r = metrics.jpeg_at_bytes(a, budget)
    assert r.within_budget and r.bytes <= budget and 1 <= r.quality <= 100
    assert 10 < r.psnr < 60 and 0 < r.ssim <= 1


def test_jpeg_quality_grows_with_budget():
    a = _photo_like(96)
    assert metrics.jpeg_at_bytes(a, 2000).quality < metrics.jpeg_at_bytes(a, 8000).quality


def test_jpeg_says_when_even_quality_one_is_too_big():
    r = metrics.jpeg_at_bytes(_photo_like(64), 100)
    assert r.within_budget is False and r.quality == 1 and "quality 1" in r.note and r.bytes > 100


def test_equal_values_size_never_exceeds_the_latent():
    # f8c4 on a Kodak-sized image: side factor √48
    h, w = metrics.equal_values_size((512, 768), 64 * 96 * 4)
    assert (h, w) == (73, 110) and h * w * 3 <= 64 * 96 * 4
    # f4c3 keeps exactly as many values as a 4× smaller image
    assert metrics.equal_values_size((256, 256), 64 * 64 * 3) == (64, 64)


def test_bicubic_baseline_quality_falls_with_fewer_values():
    a = _photo_like(128)
    many, few = metrics.bicubic_equal_values(a, 64 * 64 * 3), metrics.bicubic_equal_values(a, 16 * 16 * 3)
    assert few.values <= 16 * 16 * 3 and few.size == (16, 16)
    assert many.psnr > few.psnr


def test_codec_baselines_has_every_codec():
    out = metrics.codec_baselines(_photo_like(64), (4, 8, 8))
    assert set(out) == {"raw", "png", "zlib", "jpeg_equal_bytes", "bicubic_equal_values"}
    assert out["bicubic_equal_values"].values <= 4 * 8 * 8


def test_linear_latent_to_rgb_fit_recovers_a_linear_map():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, 4, 8, 8, generator=g)
    matrix = torch.randn(4, 3, generator=g) * 0.2
    bias = torch.tensor([0.1, -0.2, 0.05])
    pooled = torch.einsum("bchw,cd->bdhw", z, matrix) + bias[None, :, None, None]
    image = torch.nn.functional.interpolate(pooled, scale_factor=8, mode="nearest")  # each patch constant
    fitted_matrix, fitted_bias = metrics.fit_latent_to_rgb(z, image)
    torch.testing.assert_close(fitted_matrix, matrix, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fitted_bias, bias, atol=1e-4, rtol=1e-4)
    assert metrics.latent_to_rgb(z, fitted_matrix, fitted_bias).shape == (1, 3, 8, 8)


def test_latent_to_rgb_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match="expects latents"):
        metrics.latent_to_rgb(torch.zeros(1, 16, 4, 4), torch.zeros(4, 3), torch.zeros(3))

