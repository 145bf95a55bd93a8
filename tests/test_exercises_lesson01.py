"""Lesson 01's checkers beyond the standard tests (tests/test_checkers.py): the references are the
compression explorer's own figures, and the named mistakes are the ones the lesson invites."""

import pytest

from latentlab.exercises.lesson01 import (
    BITS_PER_PIXEL_MISTAKES,
    COMPRESSION_RATIO_MISTAKES,
    bits_per_pixel_reference,
    check_compression_ratio,
    compression_ratio_reference,
)
from latentlab.metrics import compression_figures


def test_the_brief_mistakes_are_covered():
    names = {m.name for m in COMPRESSION_RATIO_MISTAKES + BITS_PER_PIXEL_MISTAKES}
    assert "the ratio inverted (latent / image)" in names
    assert "every latent value counted as 4 bytes" in names


def test_references_agree_with_the_package():
    figures = compression_figures((512, 512), (4, 64, 64))
    assert compression_ratio_reference(512, 512, 8, 4, "uint8") == pytest.approx(48.0)
    assert compression_ratio_reference(512, 512, 8, 4, "fp16") == pytest.approx(figures.ratio["fp16"])
    assert bits_per_pixel_reference(512, 512, 8, 4, "fp16") == pytest.approx(figures.latent_bpp["fp16"])


def test_the_value_ratio_is_named_for_what_it_is():
    """3·f²/c is the lesson's value ratio: right for a uint8 latent, wrong in bytes for fp16/fp32."""
    def value_ratio(H, W, f, c, dtype):
        return 3 * f**2 / c

    result = check_compression_ratio(value_ratio, quiet=True)
    assert not result.passed and result.mistake == "the value ratio 3·f²/c (bytes ignored)"
    assert "BYTES_PER_VALUE" in result.message
    assert value_ratio(512, 512, 8, 4, "uint8") == compression_ratio_reference(512, 512, 8, 4, "uint8")
