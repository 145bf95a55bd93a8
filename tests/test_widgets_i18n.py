"""Every widget speaks the learner's language: with LATENTLAB_LANG=es each app of
`latentlab.widgets.APPS` shows Spanish controls, titles, tables and status lines; without it (or with
`en`) the same apps are exactly as English as before; and every tr() string of latentlab/widgets has
a Spanish translation. Tiny untrained models: only the words are under test."""

import html
import re
from dataclasses import replace
from pathlib import Path

import ipywidgets as W
import pytest
import torch
from babel.messages.pofile import read_po

from latentlab import i18n
from latentlab.ldm import LatentDiffusion, LDMConfig
from latentlab.translations import looks_english, package_problems
from latentlab.vae import AutoencoderKL, VAEConfig
from latentlab.widgets import APPS, app_class

CATALOGUE = Path(i18n.__file__).resolve().parent / "locale" / "es" / "widgets.po"
# Descriptions that are symbols, the same in every language.
SYMBOLS = {"t", "f", "c"}


def _spanish() -> dict[str, str]:
    """{English: Spanish} of the widgets catalogue (translated, not fuzzy)."""
    with open(CATALOGUE, "rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id and m.string and not m.fuzzy}


SPANISH = _spanish()
CHANGED = {english: spanish for english, spanish in SPANISH.items() if spanish != english}


def _pattern(templates) -> re.Pattern:
    """A regex matching any of the messages with its {fields} filled in."""
    return re.compile("|".join("(?:{})".format(".+".join(re.escape(part) for part in
                                                         re.split(r"\{[^{}]*\}", template)))
                               for template in templates))


ENGLISH_LABELS, SPANISH_LABELS = _pattern(SPANISH), _pattern(SPANISH.values())


def _language(monkeypatch, lang: str | None) -> None:
    if lang is None:
        monkeypatch.delenv(i18n.ENV, raising=False)
    else:
        monkeypatch.setenv(i18n.ENV, lang)
    monkeypatch.chdir(Path(__file__).resolve().parent)  # not a notebooks/es folder
    i18n.catalogue.cache_clear()


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return LatentDiffusion(replace(LDMConfig.tiny(), image_size=32)).eval(), AutoencoderKL(VAEConfig.tiny()).eval()


def _build(key: str, models):
    """The app `key` built small, as the lessons build it but with tiny models, then rendered."""
    model, vae = models
    cls = app_class(key)
    build = {
        "compression": lambda: cls(vaes=[], extra_vaes={"tiny": vae}, size=64, sizes=(64,)),
        "channels": lambda: cls(vae, size=64, sizes=(64,)),
        "schedule": lambda: cls(vae=vae),
        "cross_attention": lambda: cls(model, vae, steps=2),
        "trajectory2d": lambda: cls(particles=40, steps=3),
        "trajectory": lambda: cls(model, vae, steps=2),
        "img2img": lambda: cls(model, vae, steps=2, denoise_values=(0.5, 1.0), denoise=0.5),
        "interpolate": lambda: cls(model, vae, frames=3, steps=2),
        "why_latent": lambda: cls(size=128),
    }
    assert sorted(build) == sorted(APPS), "a new app needs a line here"
    app = build[key]()
    assert app.safe_render() is not None, app.last_error
    return app


def _widgets(root: W.Widget) -> list[W.Widget]:
    out, stack, seen = [], [root], set()
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        out.append(widget)
        if isinstance(widget, W.Box):
            stack.extend(widget.children)
    return out


def _plain(text: str) -> str:
    """HTML → the words a student reads."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def _texts(app) -> list[str]:
    """Every text the app shows: descriptions, option labels, HTML and text values, the status line."""
    texts = []
    for widget in _widgets(app.widget):
        if getattr(widget, "description", ""):
            texts.append(widget.description)
        texts.extend(getattr(widget, "_options_labels", ()))
        if isinstance(widget, (W.HTML, W.Label, W.Text)):
            texts.append(widget.value)
    return [t for t in texts if isinstance(t, str) and _plain(t)]


def _assert_spanish(texts: list[str], where: str) -> None:
    for text in texts:
        plain = _plain(text)
        assert text not in CHANGED and plain not in CHANGED, f"{where}: left in English: {text!r}"
        assert not looks_english(plain), f"{where}: looks English: {plain!r}"


@pytest.mark.parametrize("key", list(APPS))
def test_every_app_speaks_spanish(monkeypatch, models, key):
    _language(monkeypatch, "es")
    app = _build(key, models)
    texts = _texts(app)
    assert texts, key
    _assert_spanish(texts, key)
    for name, control in app.controls.items():
        description = control.description
        assert description in SYMBOLS or SPANISH_LABELS.fullmatch(description), f"{key}.{name}: {description!r}"


@pytest.mark.parametrize("key", list(APPS))
def test_english_is_unchanged(monkeypatch, models, key):
    _language(monkeypatch, None)
    app = _build(key, models)
    spanish = {s for s in CHANGED.values()}
    for text in _texts(app):
        assert text not in spanish and _plain(text) not in spanish, f"{key}: Spanish in English: {text!r}"
    for name, control in app.controls.items():
        description = control.description
        assert description in SYMBOLS or ENGLISH_LABELS.fullmatch(description), f"{key}.{name}: {description!r}"
        labels = getattr(control, "_options_labels", None)
        if labels is not None:  # an English label is its value, or the English of a message
            for label, value in zip(labels, control._options_values):
                assert label in (str(value), f"{value:g}" if isinstance(value, float) else "") or label in SPANISH, \
                    f"{key}.{name}: {label!r}"


@pytest.mark.parametrize("key", ["compression", "trajectory2d"])
def test_lang_en_is_the_default(monkeypatch, models, key):
    _language(monkeypatch, None)
    default = _build(key, models)
    _language(monkeypatch, "en")
    english = _build(key, models)
    assert [c.description for c in english.controls.values()] == [c.description for c in default.controls.values()]
    assert [t for t in _texts(english) if " ms" not in t] == [t for t in _texts(default) if " ms" not in t]


def test_english_keeps_the_default_prompts_and_plain_options(monkeypatch, models):
    _language(monkeypatch, None)
    from latentlab.widgets.cross_attention import AVERAGE, PICTURES

    app = _build("cross_attention", models)
    assert app.controls["prompt"].value == "a small red circle on a blue background, top left"
    assert app.controls["layer"].options[0] == AVERAGE and tuple(app.controls["picture"].options) == PICTURES
    assert app.reading.value == ""  # an English prompt is read as written
    compression = _build("compression", models)
    assert compression.controls["photo"].options[0] == "astronaut"


def test_spanish_prompts_are_read_as_their_english_caption(monkeypatch, models):
    _language(monkeypatch, "es")
    app = _build("cross_attention", models)
    assert app.controls["prompt"].value == "un círculo rojo pequeño sobre fondo azul, arriba a la izquierda"
    shown = app.render()
    # the tokens are the words the model reads, and a line says which English caption that was
    assert shown["tokens"] == ["<start>", "a", "small", "red", "circle", "on", "a", "blue", "background", "top",
                               "left", "<end>"]
    assert "a small red circle on a blue background top left" in app.reading.value
    assert "español" in app.reading.value
    # values stay English: code and lessons set them the same way in every language
    app.controls["picture"].value = "final picture"
    app.controls["layer"].value = "average of all layers"
    assert app.render()["picture"] == "final"
    assert "imagen final" in app.picture_title.value
    app.controls["prompt"].value = "a red circle"  # an English prompt: nothing to say
    app.render()
    assert app.reading.value == ""


def test_spanish_errors_and_measurements(monkeypatch, models):
    _language(monkeypatch, "es")
    from latentlab.checkpoints import CheckpointError
    from latentlab.widgets.kit import resolve_model
    from latentlab.widgets.why_latent import WhyLatentApp

    app = WhyLatentApp(size=64, f=16)  # a 4-wide latent: the smallest the three levels can halve
    assert app.safe_render() is not None
    app.controls["size"].options = [32, 64]
    app.controls["size"].value = 32  # a 2-wide latent cannot be halved twice
    assert "elige una imagen más grande" in app.status.value, app.status.value
    with pytest.raises(CheckpointError, match="no es un modelo incluido"):
        resolve_model("vae-f99c1", "vae")
    measured = WhyLatentApp(size=128, measure_gflops=0.3, repeats=1)
    measured.measure.click()
    assert "más rápido" in measured.measured.value and measured.last_error is None
    _assert_spanish([measured.measured.value], "why_latent measured")


def test_an_upload_is_labelled_in_spanish(monkeypatch, models):
    import io
    from datetime import datetime, timezone

    import numpy as np
    from PIL import Image

    _language(monkeypatch, "es")
    app = _build("compression", models)
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buffer, "PNG")
    app.upload.value = ({"name": "mine.png", "type": "image/png", "size": len(buffer.getvalue()),
                         "content": memoryview(buffer.getvalue()), "last_modified": datetime.now(timezone.utc)},)
    assert app.status.value == "" and app.controls["photo"].value == "subida: mine.png"
    labels = app.controls["photo"]._options_labels
    assert labels[0] == "astronauta" and labels[-1] == "subida: mine.png"
    assert app.controls["photo"]._options_values[0] == "astronaut"  # the value bundled_photo takes


def test_every_widget_string_has_a_spanish_translation():
    problems = [p for p in package_problems("es") if p.startswith("widgets.po")]
    assert problems == []


def test_every_bundled_photo_has_a_label():
    from latentlab.images import BUNDLED_PHOTOS
    from latentlab.widgets.kit import PHOTO_LABELS

    assert sorted(PHOTO_LABELS) == sorted(BUNDLED_PHOTOS) and all(k == v for k, v in PHOTO_LABELS.items())
