"""Lesson 01 — pixels and latents: how much smaller is a latent?

The references are `latentlab.metrics.compression_figures`, the figures the compression explorer shows.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..i18n import N_
from ..metrics import BYTES_PER_VALUE, compression_figures
from .core import CheckResult, Mistake, check_written, random_int


def _compression_inputs(generator: torch.Generator) -> dict:
    """A random (f, c) from LDM Tab. 8, a picture that f divides (never square) and a storage dtype."""
    fc = [(4, 3), (8, 4), (16, 16), (8, 16), (32, 64), (4, 4)]
    f, c = fc[random_int(generator, 0, len(fc))]
    H = f * random_int(generator, 4, 80)
    W = f * random_int(generator, 4, 80)
    W = W + f if W == H else W  # H ≠ W: a formula that uses one side twice cannot pass
    dtype = ["fp16", "fp32", "uint8"][random_int(generator, 0, 3)]
    return dict(H=H, W=W, f=f, c=c, dtype=dtype)


def compression_ratio_reference(H: int, W: int, f: int, c: int, dtype: str) -> float:
    """Raw image bytes (H·W·3 at one byte each, uint8 RGB) / latent bytes (c·(H/f)·(W/f) values of `dtype`)."""
    return compression_figures((H, W), (c, H // f, W // f)).ratio[dtype]


def _ratio_wrong(inverted=False, fixed_bytes=None, f_once=False, rgb=True, bytes_ignored=False):
    def fn(H, W, f, c, dtype):
        per_value = BYTES_PER_VALUE[dtype] if fixed_bytes is None else fixed_bytes
        positions = H * W // f if f_once else (H // f) * (W // f)
        latent_bytes = c * positions * per_value
        image_bytes = H * W * (3 if rgb else 1) * (per_value if bytes_ignored else 1)
        return latent_bytes / image_bytes if inverted else image_bytes / latent_bytes
    return fn


COMPRESSION_RATIO_MISTAKES = [
    Mistake(N_("the ratio inverted (latent / image)"), N_("the ratio says how many times *smaller* the latent is: "
            "image bytes ÷ latent bytes, a number above 1 (48 for 512×512×3 vs 64×64×4 in uint8)."),
            _ratio_wrong(inverted=True)),
    Mistake(N_("every latent value counted as 4 bytes"), N_("the bytes depend on the dtype: fp32 = 4, fp16 = 2, "
            "uint8 = 1 byte per value (latentlab.metrics.BYTES_PER_VALUE)."), _ratio_wrong(fixed_bytes=4)),
    Mistake(N_("f applied to one side only"), N_("f shrinks *both* sides: the latent has (H/f)·(W/f) positions, "
            "f² times fewer than the image."), _ratio_wrong(f_once=True)),
    Mistake(N_("the image's 3 colour channels left out"), N_("an RGB image stores 3 values per pixel: H·W·3 bytes."),
            _ratio_wrong(rgb=False)),
    # 3·f²/c is the lesson's own *value* ratio: right only for a uint8 latent.
    Mistake(N_("the value ratio 3·f²/c (bytes ignored)"), N_("3·f²/c counts values, H·W·3 against c·(H/f)·(W/f). "
            "The question asks for bytes: the image's values are 1 byte each (uint8), the latent's values "
            "BYTES_PER_VALUE[dtype] bytes each, so divide the value ratio by that (fp16: half, fp32: a quarter)."),
            _ratio_wrong(bytes_ignored=True)),
]


def check_compression_ratio(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: compression_ratio(H, W, f, c, dtype) → raw image bytes / latent bytes (a float)."""
    return check_written(student_fn, compression_ratio_reference, _compression_inputs, COMPRESSION_RATIO_MISTAKES,
                         name="compression_ratio", **kwargs)


def bits_per_pixel_reference(H: int, W: int, f: int, c: int, dtype: str) -> float:
    """Bits the latent spends per image pixel: c·(H/f)·(W/f)·bytes_per_value·8 / (H·W)."""
    return compression_figures((H, W), (c, H // f, W // f)).latent_bpp[dtype]


def _bpp_wrong(bits=True, per_value=False, fixed_bytes=None):
    def fn(H, W, f, c, dtype):
        nbytes = c * (H // f) * (W // f) * (BYTES_PER_VALUE[dtype] if fixed_bytes is None else fixed_bytes)
        return nbytes * (8 if bits else 1) / (H * W * (3 if per_value else 1))
    return fn


BITS_PER_PIXEL_MISTAKES = [
    Mistake(N_("bytes instead of bits"), N_("a byte is 8 bits: multiply the latent's bytes by 8."), _bpp_wrong(bits=False)),
    Mistake(N_("bits per image *value* instead of per pixel"), N_("bits per pixel divides by the H·W pixels, not the "
            "H·W·3 values (JPEG's convention: a pixel is one RGB triple)."), _bpp_wrong(per_value=True)),
    Mistake(N_("every latent value counted as 4 bytes"), N_("the bytes depend on the dtype: fp32 = 4, fp16 = 2, "
            "uint8 = 1 byte per value."), _bpp_wrong(fixed_bytes=4)),
]


def check_bits_per_pixel(student_fn: Callable, **kwargs) -> CheckResult:
    """Exercise: bits_per_pixel(H, W, f, c, dtype) → the latent's bits per image pixel (a float)."""
    return check_written(student_fn, bits_per_pixel_reference, _compression_inputs, BITS_PER_PIXEL_MISTAKES,
                         name="bits_per_pixel", **kwargs)


CHECKERS = [
    (check_compression_ratio, compression_ratio_reference, COMPRESSION_RATIO_MISTAKES),
    (check_bits_per_pixel, bits_per_pixel_reference, BITS_PER_PIXEL_MISTAKES),
]
