"""The VAE apps (compression explorer, channel viewer/editor), driven through their controls.

Tiny untrained VAEs keep these fast and independent of the shipped weights: the apps' plumbing
(what is recomputed, what changes when a control moves) does not depend on training."""

import io
from datetime import datetime, timezone

import numpy as np
import pytest
import torch
from PIL import Image

from latentlab.images import square_photo
from latentlab.vae import AutoencoderKL, VAEConfig
from latentlab.widgets import app_class
from latentlab.widgets.channels import ChannelsApp, edit_latent, histogram_strip
from latentlab.widgets.compression import UPLOADS_KEPT, CompressionApp
from latentlab.widgets.kit import colormap, heatmap_png, png


def _tiny(latent_channels=4, levels=4, seed=0):
    torch.manual_seed(seed)
    channels = (8, 8, 16, 16)[:levels]
    return AutoencoderKL(VAEConfig(block_out_channels=channels, layers_per_block=1,
                                   latent_channels=latent_channels, norm_groups=4)).eval()


@pytest.fixture
def compression_app():
    return CompressionApp(vaes=[], extra_vaes={"tiny f8c4": _tiny(), "tiny f4c3": _tiny(3, 3)},
                          photo="astronaut", size=64, sizes=(64, 128))


@pytest.fixture
def channels_app():
    return ChannelsApp(_tiny(), photo="astronaut", size=64, sizes=(64, 128))


# --- compression explorer -----------------------------------------------------------------------


def test_compression_render_reports_every_number(compression_app):
    r = compression_app.render()
    assert r["latent_shape"] == [4, 8, 8] and r["values"] == 256 and r["bytes"] == 512
    assert r["ratio"] == pytest.approx(64 * 64 * 3 / 512)
    assert set(r["baselines"]) == {"raw", "png", "zlib", "jpeg_equal_bytes", "bicubic_equal_values"}
    assert r["baselines"]["bicubic_equal_values"]["values"] <= r["values"]
    jpeg = r["baselines"]["jpeg_equal_bytes"]
    assert jpeg["bytes"] <= r["bytes"] or jpeg["within_budget"] is False
    assert 0 < r["psnr"] < 60 and -1 <= r["ssim"] <= 1
    for image in (compression_app.original, compression_app.reconstruction, compression_app.error_map):
        assert bytes(image.value).startswith(b"\x89PNG")
    assert "bicubic" in compression_app.table.value and "zlib" in compression_app.table.value


def test_choosing_another_photo_changes_psnr(compression_app):
    before = compression_app.render()
    compression_app.controls["photo"].value = "coffee"
    after = compression_app.render()
    assert after["photo"] == "coffee" and after["psnr"] != before["psnr"]
    assert after["baselines"]["png"]["bytes"] != before["baselines"]["png"]["bytes"]


def test_choosing_another_vae_changes_the_latent(compression_app):
    compression_app.controls["vae"].value = "tiny f4c3"
    r = compression_app.render()
    assert r["latent_shape"] == [3, 16, 16] and r["ratio"] == pytest.approx(64 * 64 * 3 / (3 * 16 * 16 * 2))


def test_size_control_changes_the_image_size(compression_app):
    compression_app.controls["size"].value = 128
    assert compression_app.render()["latent_shape"] == [4, 16, 16]


def _upload(app, name, content: bytes):
    app.upload.value = ({"name": name, "type": "image/png", "size": len(content),
                         "content": memoryview(content),
                         "last_modified": datetime.now(timezone.utc)},)


def test_a_garbage_upload_shows_a_status_message(compression_app):
    compression_app.render()
    _upload(compression_app, "notes.png", b"this is not an image")
    assert "notes.png" in compression_app.status.value and "not an image" in compression_app.status.value
    assert compression_app.controls["photo"].value == "astronaut"  # nothing else changed


def test_an_image_upload_is_selected_and_measured(compression_app):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 100, 3), dtype=np.uint8)).save(buffer, "PNG")
    _upload(compression_app, "mine.png", buffer.getvalue())
    assert compression_app.controls["photo"].value == "uploaded: mine.png"
    assert compression_app.status.value == ""
    assert compression_app.render()["photo"] == "uploaded: mine.png"


def test_compression_app_without_any_vae_is_a_clear_error():
    with pytest.raises(ValueError, match="no VAE"):
        CompressionApp(vaes=[])


def test_a_failing_render_goes_to_the_status_line(compression_app):
    compression_app._vaes["broken"] = "no-such-model"
    compression_app.controls["vae"].options = list(compression_app._vaes)
    compression_app.controls["vae"].value = "broken"  # observers call safe_render
    assert "no-such-model" in compression_app.status.value


# --- channel viewer / editor ---------------------------------------------------------------------


def test_channels_render_with_no_edits_matches_the_plain_decode(channels_app):
    r = channels_app.render()
    assert r["latent_shape"] == [4, 8, 8] and r["order"] == [0, 1, 2, 3]
    assert r["decode_change"] < 1e-6 and r["psnr"] == pytest.approx(r["psnr_unedited"])
    assert all(bytes(h.value).startswith(b"\x89PNG") for h in channels_app.heatmaps + channels_app.histograms)


def test_zeroing_all_channels_changes_the_decode(channels_app):
    for k in range(4):
        channels_app.controls[f"zero_{k}"].value = True
    r = channels_app.render()
    assert r["decode_change"] > 1e-3
    assert r["channel_std"] == [0.0, 0.0, 0.0, 0.0]


def test_scaling_by_one_keeps_the_decode_and_scaling_by_two_does_not(channels_app):
    plain = channels_app.render()
    channels_app.controls["scale_1"].value = 2.0
    r = channels_app.render()
    assert r["decode_change"] > 1e-4
    assert r["channel_std"][1] == pytest.approx(2 * plain["channel_std"][1], rel=1e-5)
    assert r["channel_std"][0] == pytest.approx(plain["channel_std"][0], rel=1e-6)
    channels_app.controls["scale_1"].value = 1.0
    assert channels_app.render()["decode_change"] < 1e-6


def test_swapping_twice_is_identity(channels_app):
    plain = channels_app.render()
    channels_app.controls["swap_a"].value, channels_app.controls["swap_b"].value = 0, 2
    channels_app.buttons["swap"].click()
    swapped = channels_app.render()
    assert swapped["order"] == [2, 1, 0, 3] and swapped["decode_change"] > 1e-4
    assert swapped["channel_mean"][0] == pytest.approx(plain["channel_mean"][2])
    channels_app.buttons["swap"].click()
    again = channels_app.render()
    assert again["order"] == [0, 1, 2, 3] and again["decode_change"] < 1e-6


def test_reset_undoes_every_edit(channels_app):
    channels_app.controls["zero_0"].value = True
    channels_app.controls["scale_3"].value = 0.5
    channels_app.swap()
    channels_app.buttons["reset"].click()
    r = channels_app.render()
    assert r["order"] == [0, 1, 2, 3] and r["decode_change"] < 1e-6


def test_another_photo_is_encoded_again(channels_app):
    before = channels_app.render()
    channels_app.controls["photo"].value = "coffee"
    after = channels_app.render()
    assert after["psnr_unedited"] != before["psnr_unedited"]
    assert after["channel_mean"] != before["channel_mean"]


def test_channels_app_with_another_channel_count():
    app = ChannelsApp(_tiny(latent_channels=6), size=64, sizes=(64,))
    r = app.render()
    assert r["latent_shape"] == [6, 8, 8] and "scale_5" in app.controls and len(app.heatmaps) == 6


def test_edit_latent_rejects_a_bad_order():
    with pytest.raises(ValueError, match="permutation"):
        edit_latent(torch.zeros(1, 4, 2, 2), [0, 0, 1, 2], [1.0] * 4, [False] * 4)


def test_helpers_shapes():
    assert histogram_strip(np.linspace(-1, 1, 100), 1.0).shape[2] == 3
    assert colormap(np.zeros((3, 5)), -1, 1).shape == (3, 5, 3)
    assert square_photo(np.zeros((30, 50, 3), np.uint8), 16).shape == (16, 16, 3)


def test_heatmap_png_shows_exactly_the_colormap_picture():
    values = np.random.default_rng(0).normal(size=(40, 56))
    palette = heatmap_png(values, -1.0, 1.0, "RdBu_r")
    with Image.open(io.BytesIO(palette)) as im:
        shown = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(shown, colormap(values, -1.0, 1.0, "RdBu_r"))
    assert len(palette) < len(png(colormap(values, -1.0, 1.0, "RdBu_r")))


def test_bench_steps_render_without_errors():
    for key in ("compression", "channels"):
        app = app_class(key).for_bench(64)
        first = app.render()
        app.bench_step(0)
        app.bench_step(1)
        assert app.status.value == "", app.status.value
        assert app.render() != first


def test_compression_app_lists_the_shipped_vaes():
    from latentlab.checkpoints import shipped_models

    shipped = [m for m in shipped_models() if m.startswith("vae-")]
    if not shipped:
        pytest.skip("no shipped VAEs yet")
    app = CompressionApp(size=128)
    assert list(app.controls["vae"].options) == shipped
    r = app.render()
    assert r["vae"] == ("vae-f8c4" if "vae-f8c4" in shipped else shipped[0]) and r["psnr"] > 15


def test_flipping_back_to_a_setting_calls_no_vae(compression_app, monkeypatch):
    first = compression_app.render()
    compression_app.controls["vae"].value = "tiny f4c3"
    calls = []
    for vae in compression_app._vaes.values():
        for name in ("encode", "decode"):
            original = getattr(vae, name)
            monkeypatch.setattr(vae, name, lambda *a, _o=original, **k: calls.append(1) or _o(*a, **k))
    compression_app.controls["vae"].value = "tiny f8c4"
    again = compression_app.render()
    assert calls == [] and again == first


def test_uploads_are_downscaled_and_bounded(compression_app):
    """Issue 13: eight uploads of a big photo used to be kept at full resolution, never freed."""
    big = np.random.default_rng(1).integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, "JPEG", quality=80)
    compression_app.render()
    for k in range(8):
        _upload(compression_app, f"big{k}.jpg", buffer.getvalue())
        assert compression_app.status.value == "" and compression_app.controls["photo"].value == f"uploaded: big{k}.jpg"
    uploads = [f"uploaded: big{k}.jpg" for k in range(8 - UPLOADS_KEPT, 8)]
    assert compression_app._uploads.keys() == uploads
    assert [o for o in compression_app.controls["photo"].options if o.startswith("uploaded")] == uploads
    assert all(compression_app._uploads[label].shape == (128, 128, 3) for label in uploads)  # the largest size
    assert compression_app.upload.value == ()  # the widget lets go of the file's bytes too
    # Everything the caches hold: far below even ONE upload at full resolution (5.8 MB).
    assert compression_app.cache_bytes() < big.nbytes / 4
    compression_app.controls["photo"].value = uploads[0]
    assert compression_app.render()["photo"] == uploads[0]
