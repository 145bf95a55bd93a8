"""Bad-input battery: the widgets (issue 13). A bad upload or prompt is a message in the app's status
line that names the file or the word, never a traceback in the notebook; the app keeps what it showed
and works again with the next good input. Tiny untrained models: only the plumbing is under test."""

import io
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
import pytest
import torch
from hostile import png_header
from PIL import Image

from latentlab.checkpoints import CheckpointError
from latentlab.ldm import LatentDiffusion, LDMConfig
from latentlab.vae import AutoencoderKL, VAEConfig
from latentlab.widgets.compression import CompressionApp
from latentlab.widgets.cross_attention import CrossAttentionApp
from latentlab.widgets.img2img import Img2ImgApp
from latentlab.widgets.kit import resolve_model


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return LatentDiffusion(replace(LDMConfig.tiny(), image_size=32)).eval(), AutoencoderKL(VAEConfig.tiny()).eval()


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _upload(app, name: str, content: bytes) -> None:
    app.upload.value = ({"name": name, "type": "image/png", "size": len(content), "content": memoryview(content),
                         "last_modified": datetime.now(timezone.utc)},)


def _apps(models):
    return {"compression": CompressionApp(vaes=[], extra_vaes={"tiny": models[1]}, photo="astronaut", size=64,
                                          sizes=(64,)),
            "img2img": Img2ImgApp(*models, steps=2, denoise_values=(0.5, 1.0), denoise=0.5)}


BAD_UPLOADS = [
    ("empty.png", b"", "not an image file"),
    ("notes.png", b"my notes", "not an image file"),
    ("bomb.png", png_header(20_000, 20_000), "resize it first"),
    ("huge.png", png_header(9_000, 9_000), "above the limit"),
    ("truncated.png", _png(64, 64)[:200], "truncated or corrupt"),
]


@pytest.mark.parametrize("app_key", ["compression", "img2img"])
@pytest.mark.parametrize("name, content, words", [pytest.param(*case, id=case[0]) for case in BAD_UPLOADS])
def test_a_bad_upload_is_named_in_the_status_line_and_the_app_goes_on(models, app_key, name, content, words):
    app = _apps(models)[app_key]
    before = app.render()
    _upload(app, name, content)  # the observer runs here: it must not raise
    assert name in app.status.value and words in app.status.value, app.status.value
    assert "Traceback" not in app.status.value and app.last_error is not None  # the teacher's copy
    assert app.controls["photo"].value == "astronaut"
    _upload(app, "tiny.png", _png(1, 1))  # a one-pixel photo: documented, scaled up to the app's size
    assert app.status.value == "" and app.controls["photo"].value == "uploaded: tiny.png"
    assert set(app.render()) == set(before)


@pytest.mark.parametrize("prompt, words", [("a red circle 2", "write numbers out as words"),
                                           ("a red circle 🙂", "words only"),
                                           ("a red banana", "banana")])
def test_a_prompt_the_model_cannot_read_goes_to_the_status_line(models, prompt, words):
    app = CrossAttentionApp(*models, prompt="a red circle", steps=2)
    app.render()
    app.controls["prompt"].value = prompt
    assert words in app.status.value.replace("&#x27;", "'")
    app.controls["prompt"].value = "a blue square"
    assert app.status.value == "" and {"blue", "square"} <= set(app.render()["tokens"])


def test_a_seed_typed_outside_the_boxs_range_is_clamped_as_documented(models):
    """ipywidgets' BoundedIntText clamps what is typed into [min, max]: no error to show."""
    app = CrossAttentionApp(*models, prompt="a red circle", steps=2)
    app.controls["seed"].value = -5
    assert app.controls["seed"].value == 0 and app.status.value == ""


@pytest.mark.parametrize("source, error, words", [
    (3, TypeError, ["a shipped model name or a checkpoint path", "int"]),
    ("vae-nope", CheckpointError, ["'vae-nope'", "neither a shipped model nor a checkpoint file", "vae-f8c4"]),
])
def test_a_model_that_is_not_one_is_refused_by_name(source, error, words):
    with pytest.raises(error) as info:
        resolve_model(source, "vae")
    assert all(word in str(info.value) for word in words), str(info.value)
