"""Pictures in and out: files, PIL images and arrays ↔ tensors, plus the bundled photos.

One way in: `to_tensor(picture, multiple=f)` gives (1, 3, H, W) in [-1, 1] with H and W
multiples of f. One way out: `to_pil(tensor)`. Every odd format a student may meet
(greyscale, RGBA, palette, 16-bit, floats) is turned into 8-bit RGB first by `load_image`,
and anything that changes the picture (crop, pad, downscale) is said in a warning.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

# Images with a longer side than this are downscaled (with a warning) before encoding: a
# 1024-pixel side is already 16k latent positions at f=8, and a laptop CPU takes seconds.
MAX_SIDE = 1024
# Images with more pixels than this are refused outright: decoding them alone needs GBs.
MAX_PIXELS = 64_000_000

# The photos every course machine has: scikit-image's and matplotlib's bundled sample data.
# name → (package, loader) ; loaded lazily so importing latentlab stays fast.
BUNDLED_PHOTOS = {
    "astronaut": ("skimage", "astronaut"),
    "coffee": ("skimage", "coffee"),
    "chelsea": ("skimage", "chelsea"),
    "rocket": ("skimage", "rocket"),
    "hubble_deep_field": ("skimage", "hubble_deep_field"),
    "immunohistochemistry": ("skimage", "immunohistochemistry"),
    "retina": ("skimage", "retina"),
    "colorwheel": ("skimage", "colorwheel"),
    "logo": ("skimage", "logo"),
    "grace_hopper": ("matplotlib", "grace_hopper.jpg"),
}


def bundled_photo(name: str) -> Image.Image:
    """One of the bundled photos as an 8-bit RGB PIL image (no download, ever)."""
    if name not in BUNDLED_PHOTOS:
        raise ValueError(f"unknown photo {name!r}; bundled photos: {', '.join(sorted(BUNDLED_PHOTOS))}")
    package, key = BUNDLED_PHOTOS[name]
    if package == "skimage":
        import skimage.data

        array = getattr(skimage.data, key)()
    else:
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data(key) as f:
            array = np.asarray(Image.open(io.BytesIO(f.read())))
    return load_image(array)


def load_image(picture) -> Image.Image:
    """A path, bytes, PIL image or array → an 8-bit RGB PIL image.

    - greyscale (L, 1-bit, 16-bit 'I;16'/'I') is replicated to 3 channels, 16-bit scaled to 8;
    - palette images are expanded; RGBA/LA are composited over white (alpha would otherwise be lost
      silently: transparent pixels often hold garbage colours);
    - float arrays are taken as [0, 1], uint16 arrays as [0, 65535], other integers clipped to [0, 255];
      complex, text or object arrays, NaN and a side of 0 pixels are refused (ValueError).
    """
    if isinstance(picture, (str, Path)):
        path = Path(picture)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder; expected an image file (PNG, JPEG, ...)")
        if not path.is_file():
            raise FileNotFoundError(f"no image file at {path}")
        return _open(path, str(path))
    if isinstance(picture, (bytes, bytearray, memoryview)):
        return _open(io.BytesIO(picture), "these bytes")
    if isinstance(picture, np.ndarray):
        return load_image(_array_to_pil(picture))
    if not isinstance(picture, Image.Image):
        raise TypeError(f"expected a path, bytes, PIL image or numpy array, got {type(picture).__name__}")

    im = picture
    _check_size(im.width, im.height)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(im).astype(np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or array.max() > 255 else 255.0
        im = Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if im.mode == "F":
        im = Image.fromarray(np.clip(np.asarray(im) * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if im.mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
    if im.mode in ("RGBA", "LA", "PA"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    return im.convert("RGB")


def _open(source, what: str) -> Image.Image:
    """An image file (a path or a file object) → RGB, its size checked from the header before any
    pixel is decoded: a 20000×20000 PNG of a few bytes (a "decompression bomb") is refused at once."""
    try:
        with warnings.catch_warnings():  # PIL's bomb warning: our own, lower limit speaks instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(source)
        with im:
            _check_size(im.width, im.height)
            im.load()
            return load_image(im)
    except UnidentifiedImageError as err:
        raise ValueError(f"{what} is not an image file PIL can read (expected PNG, JPEG, TIFF, BMP, ...)") from err
    except Image.DecompressionBombError as err:
        raise ValueError(f"{what}: {err}; resize it first") from err
    except OSError as err:  # PIL's "image file is truncated" and friends: name the file
        raise ValueError(f"{what} could not be decoded as an image (truncated or corrupt?): {err}") from err


def _array_to_pil(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(array):
        raise ValueError(f"an image array holds real numbers (uint8 0–255, uint16, or floats in [0, 1]), "
                         f"got dtype {array.dtype}")
    if array.dtype == np.uint16:
        array = (array.astype(np.float64) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("the image array holds NaN or inf")
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return Image.fromarray(array)


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"image of {width}×{height} = {width * height / 1e6:.0f} megapixels is above the limit of "
            f"{MAX_PIXELS / 1e6:.0f}; resize it first"
        )
    if width < 1 or height < 1:
        raise ValueError(f"image has no pixels ({width}×{height})")


def to_tensor(picture, multiple: int = 8, fit: str = "crop", max_side: int | None = MAX_SIDE) -> torch.Tensor:
    """Anything `load_image` takes → (1, 3, H, W) float32 in [-1, 1], H and W multiples of `multiple`.

    fit="crop" trims at most multiple-1 pixels from the right and bottom; fit="pad" repeats the
    edge pixels instead. A side shorter than `multiple` is always padded. A side longer than
    `max_side` is downscaled first (aspect kept). Each change is said in a warning.
    """
    if fit not in ("crop", "pad"):
        raise ValueError(f"fit must be 'crop' or 'pad', got {fit!r}")
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"multiple must be a positive integer (the VAE's f, e.g. 8), got {multiple!r}")
    im = load_image(picture)
    if max_side is not None and max(im.size) > max_side:
        scale = max_side / max(im.size)
        new = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        warnings.warn(f"image of {im.width}×{im.height} downscaled to {new[0]}×{new[1]} (longest side limit {max_side})", stacklevel=2)
        im = im.resize(new, Image.Resampling.LANCZOS)
    array = np.asarray(im, dtype=np.float32) / 127.5 - 1.0  # (H, W, 3) in [-1, 1]
    x = torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()  # (1, 3, H, W)
    return fit_to_multiple(x, multiple, fit)


def fit_to_multiple(x: torch.Tensor, multiple: int, fit: str = "crop") -> torch.Tensor:
    """Crop or pad (B, C, H, W) so H and W are multiples of `multiple` (see `to_tensor`)."""
    B, C, H, W = x.shape
    if H % multiple == 0 and W % multiple == 0:
        return x
    if fit == "crop" and H >= multiple and W >= multiple:
        new_h, new_w = H - H % multiple, W - W % multiple
        warnings.warn(f"image of {W}×{H} cropped to {new_w}×{new_h}, a multiple of {multiple}", stacklevel=3)
        return x[:, :, :new_h, :new_w]
    new_h, new_w = math.ceil(H / multiple) * multiple, math.ceil(W / multiple) * multiple
    warnings.warn(f"image of {W}×{H} padded to {new_w}×{new_h} (edge pixels repeated), a multiple of {multiple}", stacklevel=3)
    return torch.nn.functional.pad(x, (0, new_w - W, 0, new_h - H), mode="replicate")


def to_pil(x: torch.Tensor) -> Image.Image | list[Image.Image]:
    """(3, H, W) or (B, 3, H, W) in [-1, 1] → a PIL image, or a list for a batch (values clamped)."""
    if x.ndim == 3:
        x = x[None]
        single = True
    else:
        single = False
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"to_pil expects (3, H, W) or (B, 3, H, W) in [-1, 1], got {tuple(x.shape)}")
    array = to_uint8(x)
    images = [Image.fromarray(a) for a in array]
    return images[0] if single else images


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] → (B, H, W, 3) uint8, rounding as PNG would store it.

    NaN has no colour (casting it would give black or garbage): a tensor holding NaN is refused."""
    if not x.is_floating_point():
        raise TypeError(f"expected a float tensor in [-1, 1], got {x.dtype}; a uint8 picture is already pixels")
    if torch.isnan(x).any():
        raise ValueError(f"the picture holds {int(torch.isnan(x).sum())} NaN value(s); it cannot be shown or saved")
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round()
    return x.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def make_grid(images: list[Image.Image], columns: int | None = None, gap: int = 2) -> Image.Image:
    """Paste PIL images of any size into one grid image (white gaps)."""
    if not images:
        raise ValueError("make_grid needs at least one image")
    columns = columns or len(images)
    rows = math.ceil(len(images) / columns)
    cell_w, cell_h = max(im.width for im in images), max(im.height for im in images)
    grid = Image.new("RGB", (columns * cell_w + (columns - 1) * gap, rows * cell_h + (rows - 1) * gap), "white")
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        grid.paste(im, (c * (cell_w + gap), r * (cell_h + gap)))
    return grid


def square_photo(picture, size: int) -> np.ndarray:
    """Centre-crop to a square, then resize to size×size (Lanczos) → (size, size, 3) uint8.

    The widgets show square photos: every photo then gives the same latent shape at one size."""
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    im = load_image(picture)
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    im = im.crop((left, top, left + side, top + side))
    if side != size:
        im = im.resize((size, size), Image.Resampling.LANCZOS)
    return np.array(im)  # a writable copy: torch.from_numpy refuses read-only arrays


def png_bytes(image: Image.Image) -> bytes:
    """The image as PNG file bytes (for ipywidgets.Image and for the PNG baseline)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
