"""How good is a reconstruction, and how small is a latent? PSNR, SSIM and compression figures.

All image metrics take uint8 arrays (H, W, 3) or tensors in [-1, 1] and measure on 8-bit
values, as an image file would store them, so that codec baselines and VAEs compare fairly.
"""

from __future__ import annotations

import io
import math
import zlib
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image


def _as_uint8(image) -> np.ndarray:
    """(H, W, 3) uint8 from a uint8 array, a PIL image or a (1, 3, H, W)/(3, H, W) tensor in [-1, 1]."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, torch.Tensor):
        from .images import to_uint8

        t = image if image.ndim == 4 else image[None]
        if t.shape[0] != 1:
            raise ValueError(f"one image at a time, got a batch of {t.shape[0]}")
        return to_uint8(t)[0]
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image array, got {array.dtype}")
    return array


def psnr(reference, test) -> float:
    """Peak signal-to-noise ratio in dB on 8-bit values: 10·log10(255² / MSE). inf if identical."""
    a, b = _as_uint8(reference).astype(np.float64), _as_uint8(test).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"psnr needs images of the same size, got {a.shape} and {b.shape}")
    mse = np.mean((a - b) ** 2)
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(reference, test) -> float:
    """Structural similarity (Wang et al. 2004), mean over RGB channels, scikit-image's default window."""
    from skimage.metrics import structural_similarity

    a, b = _as_uint8(reference), _as_uint8(test)
    if a.shape != b.shape:
        raise ValueError(f"ssim needs images of the same size, got {a.shape} and {b.shape}")
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


# --- Compression figures: how many values and bytes does a latent take? -----------------------


@dataclass
class CompressionFigures:
    """How an image of H×W×3 8-bit pixels compares with a latent of c×h×w values.

    bytes_per_value: fp32 = 4, fp16 = 2 (what a shipped latent would be stored as), uint8 = 1
    (a latent quantised to 8 bits, as an image file stores pixels).
    bpp (bits per pixel) = bytes · 8 / (H·W): JPEG-style rate, comparable across image sizes.
    ratio = raw image bytes (H·W·3 at uint8) / latent bytes.
    """

    image_size: tuple[int, int]  # (H, W)
    latent_shape: tuple[int, int, int]  # (c, h, w)
    pixel_values: int  # H·W·3
    latent_values: int  # c·h·w
    value_ratio: float  # pixel_values / latent_values, e.g. 48 for 512×512×3 vs 64×64×4
    raw_bytes: int  # the image as uint8: one byte per value
    latent_bytes: dict[str, int]  # {"fp32", "fp16", "uint8"} → bytes
    latent_bpp: dict[str, float]  # same keys → bits per image pixel
    ratio: dict[str, float]  # same keys → raw_bytes / latent bytes

    def as_dict(self) -> dict:
        return asdict(self)


BYTES_PER_VALUE = {"fp32": 4, "fp16": 2, "uint8": 1}


def latent_stats(latent: torch.Tensor) -> dict:
    """Summary statistics of one latent (1, c, h, w): overall mean, std, min, max and per channel
    mean and std. A 1×1 latent's stds are NaN (the spread of one value): strict_json writes them as null."""
    per_channel = latent[0].flatten(1).float()  # (c, h·w)
    return {"mean": latent.mean().item(), "std": latent.std().item(),
            "min": latent.min().item(), "max": latent.max().item(),
            "channel_mean": per_channel.mean(1).tolist(), "channel_std": per_channel.std(1).tolist()}


def compression_figures(image_size: tuple[int, int], latent_shape: tuple[int, ...]) -> CompressionFigures:
    """Figures for an image of `image_size` = (H, W) (RGB, 8 bit) and a latent of shape (c, h, w).

    A leading batch dimension of 1 in `latent_shape` is allowed: (1, c, h, w)."""
    H, W = (int(s) for s in image_size)
    shape = tuple(int(s) for s in latent_shape)
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"latent_shape must be (c, h, w) or (1, c, h, w) with positive sizes, got {tuple(latent_shape)}")
    if H < 1 or W < 1:
        raise ValueError(f"image_size must be (H, W) with positive sizes, got {tuple(image_size)}")
    pixel_values = H * W * 3
    latent_values = shape[0] * shape[1] * shape[2]
    latent_bytes = {k: latent_values * b for k, b in BYTES_PER_VALUE.items()}
    return CompressionFigures(
        image_size=(H, W), latent_shape=shape, pixel_values=pixel_values, latent_values=latent_values,
        value_ratio=pixel_values / latent_values, raw_bytes=pixel_values, latent_bytes=latent_bytes,
        latent_bpp={k: 8.0 * b / (H * W) for k, b in latent_bytes.items()},
        ratio={k: pixel_values / b for k, b in latent_bytes.items()},
    )


# --- Codec baselines: what a file format does with the same image -----------------------------


@dataclass
class CodecResult:
    """One way of storing an image: its size and how close the decoded image is to the original.

    psnr/ssim are None when not computed (the caller asked for sizes only) and inf/1.0 for
    lossless codecs. `note` says anything surprising (e.g. a budget JPEG cannot meet)."""

    name: str
    bytes: int
    bpp: float  # bits per pixel = bytes · 8 / (H·W)
    ratio: float  # raw bytes / bytes
    psnr: float | None = None
    ssim: float | None = None
    lossless: bool = False
    quality: int | None = None  # JPEG quality found by the search
    values: int | None = None  # numbers stored (for the bicubic baseline)
    size: tuple[int, int] | None = None  # (h, w) of the downsampled image (bicubic baseline)
    within_budget: bool | None = None  # JPEG: did some quality fit the byte budget?
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _result(name: str, array: np.ndarray, nbytes: int, decoded: np.ndarray | None, with_ssim: bool, **extra) -> CodecResult:
    H, W = array.shape[:2]
    result = CodecResult(name=name, bytes=int(nbytes), bpp=8.0 * nbytes / (H * W), ratio=array.size / max(nbytes, 1), **extra)
    if decoded is None:  # lossless: decoding gives back exactly the pixels
        result.psnr, result.ssim, result.lossless = math.inf, 1.0, True
    else:
        result.psnr = psnr(array, decoded)
        result.ssim = ssim(array, decoded) if with_ssim else None
    return result


def raw_baseline(image) -> CodecResult:
    """The pixels as they sit in memory: H·W·3 bytes (8-bit RGB)."""
    array = _as_uint8(image)
    return _result("raw", array, array.nbytes, None, False)


def png_baseline(image, compress_level: int = 6) -> CodecResult:
    """PNG (lossless: prediction filters + DEFLATE). PIL's default level 6 is what a saved PNG usually is."""
    array = _as_uint8(image)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=compress_level)
    return _result("png", array, buffer.tell(), None, False)


def zlib_baseline(image, level: int = 9) -> CodecResult:
    """zlib (DEFLATE, as in ZIP files) of the raw pixel bytes: the "ZIP file" of the analogy. Lossless."""
    array = _as_uint8(image)
    return _result("zlib", array, len(zlib.compress(array.tobytes(), level)), None, False)


def _jpeg_encode(im: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def jpeg_at_bytes(image, budget: int, with_ssim: bool = True) -> CodecResult:
    """JPEG at the highest quality (1–100) whose file is at most `budget` bytes.

    Binary search over quality (≈7 encodes): JPEG size grows with quality almost monotonically, and
    only sizes actually measured within budget are accepted, so the result never exceeds it.
    If even quality 1 is bigger (a small image's headers alone are ~600 bytes), quality 1 is
    reported with within_budget=False and a note saying so.
    """
    array = _as_uint8(image)
    if budget < 1:
        raise ValueError(f"budget must be a positive number of bytes, got {budget}")
    im = Image.fromarray(array)
    best: tuple[int, bytes] | None = None
    low, high = 1, 100
    while low <= high:
        quality = (low + high) // 2
        data = _jpeg_encode(im, quality)
        if len(data) <= budget:
            best, low = (quality, data), quality + 1
        else:
            high = quality - 1
    within = best is not None
    note = ""
    if best is None:
        best = (1, _jpeg_encode(im, 1))
        note = f"even JPEG quality 1 takes {len(best[1])} bytes, more than the budget of {budget}"
    quality, data = best
    with Image.open(io.BytesIO(data)) as decoded_im:
        decoded = np.asarray(decoded_im.convert("RGB"))
    return _result("jpeg", array, len(data), decoded, with_ssim, quality=quality, within_budget=within, note=note)


def equal_values_size(image_size: tuple[int, int], values: int) -> tuple[int, int]:
    """(h, w) of an RGB image with h·w·3 ≤ `values`, same aspect ratio: the bicubic baseline's size.

    Each side is divided by s with h·w·3 = H·W·3 / s² = values, so s = √(H·W·3 / values).
    For a latent with f and c that is s = f·√(3/c): f8c4 → 8·√(3/4) = √48 ≈ 6.93, f4c3 → 4,
    f16c16 → 16·√(3/16) ≈ 6.93. Sides are rounded down so the baseline never stores more numbers
    than the latent (at 768×512, f8c4: 110×73×3 = 24 090 ≤ 24 576 values).
    """
    H, W = image_size
    s = math.sqrt(H * W * 3 / values)
    return max(1, math.floor(H / s)), max(1, math.floor(W / s))


def bicubic_equal_values(image, values: int, with_ssim: bool = True) -> CodecResult:
    """Bicubic downsampling to about `values` numbers (see `equal_values_size`), then bicubic back up.

    The simplest "latent" there is: a smaller picture. A VAE that cannot beat it has learned nothing
    about images. Both resizes are PIL's BICUBIC (antialiased when shrinking). `bytes` counts the
    small image at 8 bits per value, as a raw file would hold it.
    """
    array = _as_uint8(image)
    H, W = array.shape[:2]
    h, w = equal_values_size((H, W), values)
    small = Image.fromarray(array).resize((w, h), Image.Resampling.BICUBIC)
    decoded = np.asarray(small.resize((W, H), Image.Resampling.BICUBIC))
    return _result("bicubic", array, h * w * 3, decoded, with_ssim, values=h * w * 3, size=(h, w))


def codec_baselines(image, latent_shape: tuple[int, ...], with_ssim: bool = True) -> dict[str, CodecResult]:
    """Every baseline for one image against a latent of `latent_shape`, in one run.

    raw, png, zlib (lossless); jpeg_equal_bytes: JPEG within the bytes of the fp16 latent;
    bicubic_equal_values: a downsampled image with no more numbers than the latent."""
    array = _as_uint8(image)
    figures = compression_figures(array.shape[:2], latent_shape)
    return {
        "raw": raw_baseline(array),
        "png": png_baseline(array),
        "zlib": zlib_baseline(array),
        "jpeg_equal_bytes": jpeg_at_bytes(array, figures.latent_bytes["fp16"], with_ssim),
        "bicubic_equal_values": bicubic_equal_values(array, figures.latent_values, with_ssim),
    }


# --- A linear look at the latent: how much of it is just colour? ------------------------------


def _pool_to_latent(latent: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(c, h·w) latent columns and the (3, h·w) image averaged over each f×f patch."""
    if latent.ndim == 3:
        latent = latent[None]
    if image.ndim == 3:
        image = image[None]
    if latent.ndim != 4 or latent.shape[0] != 1 or image.ndim != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f"expected one latent (1, c, h, w) and one image (1, 3, H, W), got {tuple(latent.shape)} "
                         f"and {tuple(image.shape)}")
    _, c, h, w = latent.shape
    H, W = image.shape[2:]
    if H % h or W % w or H // h != W // w:
        raise ValueError(f"the image ({H}×{W}) must be the latent ({h}×{w}) times one factor f on both sides")
    pooled = torch.nn.functional.avg_pool2d(image.float(), kernel_size=H // h)  # (1, 3, h, w)
    return latent.float().reshape(c, h * w), pooled.reshape(3, h * w)


def fit_latent_to_rgb(latent: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares fit of rgb ≈ matrixᵀ·z + bias, one latent position against its f×f pixel patch.

    latent: (1, c, h, w) or (c, h, w); image: (1, 3, H, W) or (3, H, W) in [-1, 1] with H = f·h.
    Returns matrix (c, 3) and bias (3,). The fit is what tools like ComfyUI use for cheap previews
    (SD's latent is roughly a colour image: its 4 channels map almost linearly to RGB).
    """
    z, rgb = _pool_to_latent(latent, image)  # (c, N), (3, N)
    c, N = z.shape
    if N < c + 1:
        raise ValueError(f"a fit of {c}+1 unknowns per colour needs at least {c + 1} latent positions, got {N}")
    design = torch.cat([z, torch.ones(1, N)], dim=0).T.double()  # (N, c+1): the ones column fits the bias
    solution = torch.linalg.lstsq(design, rgb.T.double()).solution.float()  # (c+1, 3)
    return solution[:c], solution[c]


def latent_to_rgb(latent: torch.Tensor, matrix: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Apply a fitted linear map: latent (B, c, h, w) or (c, h, w) → RGB (B, 3, h, w) in [-1, 1] (clamped)."""
    if latent.ndim == 3:
        latent = latent[None]
    if latent.ndim != 4 or latent.shape[1] != matrix.shape[0]:
        raise ValueError(f"latent_to_rgb expects latents (B, {matrix.shape[0]}, h, w) for this {tuple(matrix.shape)} "
                         f"matrix, got {tuple(latent.shape)}")
    rgb = torch.einsum("bchw,cd->bdhw", latent.float(), matrix) + bias[None, :, None, None]
    return rgb.clamp(-1.0, 1.0)
