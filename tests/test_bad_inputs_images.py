"""Bad-input battery: pictures (issue 13). Every picture latentlab cannot use is refused with the
exception's type and a message naming the problem (and the file); odd but usable ones are converted
as `images.py` documents."""

import warnings

import numpy as np
import pytest
import torch
from hostile import png_header
from PIL import Image

from latentlab.images import load_image, to_pil, to_tensor, to_uint8


def _png(width=16, height=16) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


FILES = {  # name → the bytes of a file that is not a usable picture
    "empty.png": b"",
    "notes.png": b"these are my notes, not a picture",
    "truncated.png": _png(64, 64)[:200],
    "bomb.png": png_header(20_000, 20_000),  # 400 MP: above PIL's own bomb limit
    "huge.png": png_header(9_000, 9_000),  # 81 MP: above latentlab's MAX_PIXELS, below PIL's limit
    "zero-width.png": png_header(0, 16),
    "magic-only.png": b"\x89PNG\r\n\x1a\n",
}


@pytest.mark.parametrize("name, words", [
    ("empty.png", ["empty.png", "not an image file"]),
    ("notes.png", ["notes.png", "not an image file", "PNG, JPEG"]),
    ("truncated.png", ["truncated.png", "truncated or corrupt"]),
    ("bomb.png", ["bomb.png", "resize it first"]),
    ("huge.png", ["9000×9000", "above the limit", "resize it first"]),
    ("zero-width.png", ["zero-width.png", "not an image file"]),
    ("magic-only.png", ["magic-only.png"]),
])
def test_a_file_that_is_no_usable_picture_is_refused_by_name(tmp_path, name, words):
    (tmp_path / name).write_bytes(FILES[name])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PIL's own bomb warning must not leak either
        with pytest.raises(ValueError) as info:
            to_tensor(tmp_path / name)
    assert all(word in str(info.value) for word in words), str(info.value)


@pytest.mark.parametrize("name", list(FILES))
def test_the_same_bytes_uploaded_are_refused_as_a_value_error(name):
    """Uploads arrive as bytes (a widget names the file itself): one exception type for all of them."""
    with pytest.raises(ValueError, match="these bytes|above the limit"):
        load_image(FILES[name])


def test_a_folder_where_a_picture_is_expected(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder; expected an image file"):
        to_tensor(tmp_path)


def test_a_missing_picture(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image file at .*missing.png"):
        to_tensor(tmp_path / "missing.png")


@pytest.mark.parametrize("array, words", [
    (np.zeros((0, 5, 3), np.uint8), ["no pixels"]),
    (np.zeros((5, 5, 5), np.uint8), ["(H, W, 3)", "(5, 5, 5)"]),
    (np.zeros((4,), np.uint8), ["(H, W, 3)"]),
    (np.zeros((8, 8, 3), np.complex64), ["real numbers", "complex64"]),
    (np.zeros((8, 8, 3), object), ["real numbers", "object"]),
    (np.array([["a", "b"], ["c", "d"]]), ["real numbers", "<U1"]),
    (np.full((8, 8, 3), np.nan, np.float16), ["NaN or inf"]),
    (np.full((8, 8, 3), np.inf, np.float32), ["NaN or inf"]),
])
def test_an_array_that_is_no_picture_is_refused(array, words):
    with pytest.raises(ValueError) as info:
        to_tensor(array)
    assert all(word in str(info.value) for word in words), str(info.value)


@pytest.mark.parametrize("picture", [torch.zeros(1, 3, 8, 8), [[0, 1], [2, 3]], None, 3.5])
def test_something_else_is_a_type_error_listing_what_is_accepted(picture):
    with pytest.raises(TypeError, match="expected a path, bytes, PIL image or numpy array"):
        to_tensor(picture)


@pytest.mark.parametrize("multiple", [0, -8, 2.5, True])
def test_the_multiple_must_be_a_positive_integer(multiple):
    with pytest.raises(ValueError, match="multiple must be a positive integer"):
        to_tensor(np.zeros((8, 8, 3), np.uint8), multiple=multiple)


def test_a_unicode_path_loads(tmp_path):
    path = tmp_path / "fotó ñ 照片 🙂.png"
    path.write_bytes(_png())
    assert to_tensor(path).shape == (1, 3, 16, 16)


def test_integers_outside_0_255_are_clipped_as_documented():
    x = to_tensor(np.array([[[-5, 300, 128]]] * 8 * 8, dtype=np.int64).reshape(8, 8, 3))
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]))


def test_a_picture_with_nan_cannot_be_shown():
    """Casting NaN to uint8 gives black (or garbage) without a word: refused instead."""
    x = torch.zeros(1, 3, 8, 8)
    x[0, 1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="1 NaN value"):
        to_uint8(x)
    with pytest.raises(ValueError, match="NaN"):
        to_pil(x[0])


def test_integer_tensors_are_already_pixels():
    with pytest.raises(TypeError, match="float tensor in \\[-1, 1\\], got torch.uint8"):
        to_pil(torch.zeros(3, 8, 8, dtype=torch.uint8))
