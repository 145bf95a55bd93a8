"""Spanish prompts: the Spanish caption of every scene gives the model exactly the English caption's ids."""

import numpy as np
import pytest

from latentlab import captions_es
from latentlab.data import random_scene
from latentlab.text import Tokenizer, to_english

VARIANTS = [(True, True, True), (False, True, True), (True, False, True), (True, True, False), (False, False, False)]


def test_every_spanish_caption_reads_as_its_english_twin():
    tok, rng = Tokenizer(), np.random.default_rng(7)
    for _ in range(400):
        scene = random_scene(rng, two_objects=0.3)
        for variant in VARIANTS:
            english, spanish = scene.caption(*variant), captions_es.caption(scene, *variant)
            assert spanish != english
            assert tok.encode(spanish) == tok.encode(english), (spanish, english)


@pytest.mark.parametrize("spanish, english", [
    ("un círculo rojo pequeño sobre fondo azul, arriba a la izquierda",
     "a small red circle on a blue background top left"),
    ("una estrella blanca grande sobre fondo negro", "a large white star on a black background"),
    ("un circulo rojo pequeno", "a small red circle"),                     # without accents
    ("un gran triángulo verde en el centro sobre fondo rosa",             # size first, position first
     "a large green triangle on a pink background center"),
    ("un cuadrado cian, arriba, y una estrella morada, abajo a la derecha, sobre fondo amarillo",
     "a cyan square top and a purple star bottom right on a yellow background"),
    ("Un Círculo ROJO.", "a red circle"),
])
def test_spanish_prompts_read_in_english_order(spanish, english):
    assert to_english(spanish) == english


def test_english_prompts_are_left_alone():
    assert to_english("a small red circle on a blue background, top left") == \
        "a small red circle on a blue background top left"


def test_gender_forms_agree_in_the_captions():
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(300):
        scene = random_scene(rng)
        (obj,) = scene.objects
        words = captions_es.caption(scene).split()
        if obj.shape == "star":
            assert words[0] == "una"
            assert words[2] == captions_es.COLORS_ES[obj.color][1]
            seen.add("f")
        else:
            assert words[0] == "un"
            assert words[2] == captions_es.COLORS_ES[obj.color][0]
            seen.add("m")
    assert seen == {"f", "m"}


def test_an_unknown_spanish_word_gets_spanish_suggestions():
    with pytest.raises(ValueError, match="'circlo': did you mean círculo"):
        Tokenizer().encode("un circlo rojo")
    with pytest.raises(ValueError, match="'brillante'"):
        Tokenizer().encode("una estrella roja brillante")


def test_the_spanish_vocabulary_is_what_the_captions_use():
    rng = np.random.default_rng(3)
    used = set()
    for _ in range(2000):
        used |= set(captions_es.caption(random_scene(rng, two_objects=0.3)).replace(",", "").split())
    assert used <= set(captions_es.vocabulary())
    assert set(captions_es.vocabulary()) - used <= {"gran", "centro"}  # extra forms people type


def test_the_held_out_captions_in_spanish_give_the_english_ids():
    """What makes `eval ldm --lang es` equal to English by construction: every adherence prompt's
    Spanish caption is tokenized to the English caption's ids."""
    from latentlab.shapes_eval import adherence_prompts

    english, spanish = adherence_prompts(256), adherence_prompts(256, lang="es")
    tok = Tokenizer()
    assert [s for s, _ in english] == [s for s, _ in spanish]
    assert all(tok.encode(a) == tok.encode(b) and a != b for (_, a), (_, b) in zip(english, spanish))


def test_committed_spanish_adherence_is_within_two_points_of_english():
    """latentlab/results/ldm-shapes-es.json holds `latentlab eval ldm --lang en|es --table-samples 0 --json`."""
    import json
    from importlib.resources import files

    measured = json.loads((files("latentlab") / "results" / "ldm-shapes-es.json").read_text())
    assert measured["es"]["settings"]["lang"] == "es" and measured["en"]["settings"]["lang"] == "en"
    for key in ("samples", "steps", "cfg", "sampler", "seed"):
        assert measured["es"]["settings"][key] == measured["en"]["settings"][key]
    for attribute in ("joint", "shape", "color"):
        assert abs(measured["es"]["adherence"][attribute] - measured["en"]["adherence"][attribute]) <= 0.02
    assert measured["es"]["adherence"]["joint"] >= 0.85  # the course's bar for ldm-shapes


def test_the_spanish_lesson_06_compares_its_spanish_prompt_with_the_english_caption():
    """The catalogue translates equal literals alike: the English twin must stay a distinct, English literal."""
    import nbformat

    from latentlab.lessons import NOTEBOOKS

    cell = next(c for c in nbformat.read(NOTEBOOKS / "es" / "06_latent_diffusion.ipynb", as_version=4).cells
                if c.get("id") == "prompts-es-code")
    assert "una estrella roja grande sobre fondo blanco" in cell.source
    assert "a large red star on a white background" in cell.source
