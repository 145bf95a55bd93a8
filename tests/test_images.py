import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from latentlab import images
from latentlab.images import bundled_photo, load_image, make_grid, to_pil, to_tensor


def _file(tmp_path, image: Image.Image, name="x.png"):
    path = tmp_path / name
    image.save(path)
    return path


def test_rgb_round_trip_is_exact():
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    x = to_tensor(array)
    assert x.shape == (1, 3, 16, 24) and x.dtype == torch.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    assert np.array_equal(np.asarray(to_pil(x[0])), array)


def test_greyscale_is_replicated_to_three_channels(tmp_path):
    path = _file(tmp_path, Image.fromarray(np.full((8, 8), 200, dtype=np.uint8), mode="L"))
    x = to_tensor(path)
    assert x.shape == (1, 3, 8, 8)
    assert torch.equal(x[0, 0], x[0, 1]) and torch.equal(x[0, 1], x[0, 2])


def test_rgba_is_composited_over_white(tmp_path):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red ...
    rgba[:4, :, 3] = 255  # ... opaque on top, transparent below
    im = load_image(_file(tmp_path, Image.fromarray(rgba, mode="RGBA")))
    assert im.mode == "RGB"
    assert np.asarray(im)[0, 0].tolist() == [255, 0, 0]
    assert np.asarray(im)[7, 0].tolist() == [255, 255, 255]


def test_palette_image_is_expanded(tmp_path):
    im = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), mode="L").convert("P")
    loaded = load_image(_file(tmp_path, im))
    assert loaded.mode == "RGB" and loaded.size == (8, 8)


def test_16_bit_image_is_scaled_to_8_bits(tmp_path):
    array = np.full((8, 8), 65535, dtype=np.uint16)
    array[0, 0] = 0
    path = tmp_path / "deep.png"
    Image.fromarray(array).save(path)
    loaded = np.asarray(load_image(path))
    assert loaded[1, 1].tolist() == [255, 255, 255] and loaded[0, 0].tolist() == [0, 0, 0]
    assert np.asarray(load_image(array))[1, 1, 0] == 255  # a uint16 array, too


def test_float_array_is_taken_as_0_to_1():
    assert np.asarray(load_image(np.full((4, 4, 3), 0.5)))[0, 0, 0] == 128
    with pytest.raises(ValueError, match="NaN or inf"):
        load_image(np.full((4, 4, 3), np.nan))


def test_size_not_a_multiple_is_cropped_with_a_warning():
    with pytest.warns(UserWarning, match="cropped to 16×8, a multiple of 8"):
        x = to_tensor(np.zeros((13, 21, 3), dtype=np.uint8), multiple=8)
    assert x.shape == (1, 3, 8, 16)


def test_size_not_a_multiple_can_be_padded_with_a_warning():
    with pytest.warns(UserWarning, match="padded to 24×16"):
        x = to_tensor(np.zeros((13, 21, 3), dtype=np.uint8), multiple=8, fit="pad")
    assert x.shape == (1, 3, 16, 24)


def test_image_smaller_than_f_is_padded_with_a_warning():
    with pytest.warns(UserWarning, match="padded to 8×8"):
        x = to_tensor(np.full((5, 3, 3), 255, dtype=np.uint8), multiple=8)
    assert x.shape == (1, 3, 8, 8) and torch.all(x == 1.0)  # edge pixels repeated


def test_very_large_image_is_downscaled_with_a_warning():
    with pytest.warns(UserWarning, match="downscaled to 1024×512"):
        x = to_tensor(Image.new("RGB", (2048, 1024)), multiple=8)
    assert x.shape == (1, 3, 512, 1024)


def test_enormous_image_is_refused(monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(ValueError, match="megapixels is above the limit"):
        to_tensor(Image.new("RGB", (100, 100)))


def test_non_image_file_gets_a_clear_error(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")
    with pytest.raises(ValueError, match="notes.png is not an image file"):
        to_tensor(path)
    with pytest.raises(ValueError, match="not an image file"):
        load_image(b"garbage bytes")
    with pytest.raises(FileNotFoundError, match="no image file at"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(TypeError, match="expected a path, bytes, PIL image or numpy array"):
        load_image(42)


def test_png_bytes_load_back():
    im = Image.new("RGB", (5, 4), (10, 20, 30))
    assert np.asarray(load_image(images.png_bytes(im)))[0, 0].tolist() == [10, 20, 30]
    assert load_image(io.BytesIO(images.png_bytes(im)).getvalue()).size == (5, 4)


def test_to_pil_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(3, H, W\) or \(B, 3, H, W\)"):
        to_pil(torch.zeros(4, 8, 8))
    assert len(to_pil(torch.zeros(2, 3, 4, 4))) == 2


def test_grid_size():
    grid = make_grid([Image.new("RGB", (4, 3))] * 5, columns=2, gap=1)
    assert grid.size == (2 * 4 + 1, 3 * 3 + 2)


@pytest.mark.parametrize("name", sorted(images.BUNDLED_PHOTOS))
def test_bundled_photos_load_offline_as_rgb(name):
    im = bundled_photo(name)
    assert im.mode == "RGB" and min(im.size) >= 64


def test_unknown_photo_lists_the_known_ones():
    with pytest.raises(ValueError, match="bundled photos: .*astronaut"):
        bundled_photo("kodim01")


def test_no_warning_when_nothing_changes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_tensor(np.zeros((16, 16, 3), dtype=np.uint8), multiple=8)
