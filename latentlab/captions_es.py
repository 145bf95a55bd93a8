"""Spanish captions for the course's text-to-image model: the shapes grammar in Spanish, both ways.

The model's text encoder learned 26 English words (`latentlab.text`). A Spanish prompt is read by the
Spanish grammar below and rewritten, word for word and in English order, into the caption the encoder
knows: "un círculo rojo pequeño sobre fondo azul, arriba a la izquierda" → "a small red circle on a
blue background, top left". The ids the encoder sees are then exactly those of the English caption,
so the model follows a Spanish prompt exactly as well as the English one (`latentlab eval ldm
--lang es` measures it).

This is a **translation in front of an English model**, the simple, honest route, and lesson 06 says
so. What it leaves out is what a real multilingual text encoder has to *learn* from data: the adjective
after the noun ("círculo rojo" / "red circle"), gender agreement ("una estrella roja"), words with no
one-to-one twin ("sobre fondo azul" has no article), the phrase order of positions ("arriba a la
izquierda" / "top left"). Multilingual CLIP (Carlsson et al. 2022) and AltCLIP (Chen et al. 2022) learn
it by distillation: a multilingual student encoder is trained to produce the English teacher's
embeddings for translated captions, so the diffusion model itself is not retrained.

The grammar (every adjective agrees with its noun's gender):

    OBJECT   = un|una SHAPE COLOUR [SIZE]          "una estrella blanca grande"
    POSITION = arriba a la izquierda | arriba | … | en el centro | … | abajo a la derecha
    CAPTION  = OBJECT[, POSITION] [y OBJECT[, POSITION]] [sobre fondo COLOUR]

Missing accents are accepted ("circulo", "pequeno"), and so are the size before the noun ("un gran
círculo rojo") and either order of position and background; anything else is an unknown word, with
the same "did you mean" help as in English.
"""

from __future__ import annotations

import difflib
import unicodedata

from .data import Scene
from .i18n import tr

SHAPES_ES = {"circle": ("círculo", "m"), "square": ("cuadrado", "m"), "triangle": ("triángulo", "m"),
             "star": ("estrella", "f")}
COLORS_ES = {"red": ("rojo", "roja"), "orange": ("naranja", "naranja"), "yellow": ("amarillo", "amarilla"),
             "green": ("verde", "verde"), "cyan": ("cian", "cian"), "blue": ("azul", "azul"),
             "purple": ("morado", "morada"), "pink": ("rosa", "rosa"), "white": ("blanco", "blanca"),
             "black": ("negro", "negra")}
SIZES_ES = {"small": ("pequeño", "pequeña"), "medium": ("mediano", "mediana"), "large": ("grande", "grande")}
POSITIONS_ES = {"top left": "arriba a la izquierda", "top": "arriba", "top right": "arriba a la derecha",
                "left": "a la izquierda", "center": "en el centro", "right": "a la derecha",
                "bottom left": "abajo a la izquierda", "bottom": "abajo", "bottom right": "abajo a la derecha"}
ARTICLES_ES = {"m": "un", "f": "una"}


def _plain(word: str) -> str:
    """'círculo' → 'circulo', 'pequeño' → 'pequeno': accents and tildes dropped, for matching only."""
    return "".join(ch for ch in unicodedata.normalize("NFD", word) if unicodedata.category(ch) != "Mn")


def _lexicon() -> dict[str, tuple[str, str]]:
    """Spanish word (accents dropped) → (kind, English word)."""
    table = {}
    for english, (spanish, _gender) in SHAPES_ES.items():
        table[_plain(spanish)] = ("shape", english)
    for english, forms in COLORS_ES.items():
        for form in forms:
            table[_plain(form)] = ("color", english)
    for english, forms in SIZES_ES.items():
        for form in forms:
            table[_plain(form)] = ("size", english)
    table["gran"] = ("size", "large")
    table.update({"un": ("article", "a"), "una": ("article", "a"), "y": ("and", "and")})
    return table


LEXICON = _lexicon()
# Position phrases, longest first so "arriba a la izquierda" wins over "arriba".
PHRASES = sorted(((tuple(_plain(w) for w in spanish.split()), english) for english, spanish in POSITIONS_ES.items()),
                 key=lambda item: -len(item[0]))
PHRASES += [(("centro",), "center"), (("izquierda",), "left"), (("derecha",), "right")]
BACKGROUND = ("sobre", "fondo")
FILLERS = {"sobre", "fondo", "con", "de", "el", "la", "en", "a"}
SPANISH_WORDS = sorted({*LEXICON, *FILLERS, *(w for phrase, _ in PHRASES for w in phrase)} - {"a"})


def vocabulary() -> list[str]:
    """Every Spanish word the grammar reads, spelled with its accents, sorted."""
    words = {s for s, _ in SHAPES_ES.values()} | {f for forms in COLORS_ES.values() for f in forms}
    words |= {f for forms in SIZES_ES.values() for f in forms} | {"gran", "un", "una", "y"}
    words |= {w for spanish in POSITIONS_ES.values() for w in spanish.split()} | {"sobre", "fondo", "centro"}
    return sorted(words)


def is_spanish(words: list[str]) -> bool:
    """True when more of a prompt's words belong only to the Spanish grammar than only to the English
    one ("a red círculo" is English with a wrong word; "un círculo red" Spanish with one)."""
    from .text import caption_vocabulary

    english = set(caption_vocabulary())
    spanish_only = sum(_plain(w) in SPANISH_WORDS and w not in english for w in words)
    english_only = sum(w in english and _plain(w) not in SPANISH_WORDS for w in words)
    return spanish_only > english_only


class UnknownSpanishWord(ValueError):
    """A word the Spanish caption grammar does not have (the message names the closest ones)."""


def english_words(words: list[str], prompt: str = "") -> list[str]:
    """A Spanish prompt's words (lower-case) → the English caption's words, in the English grammar's order."""
    plain = [_plain(w) for w in words]
    unknown = [w for w, p in zip(words, plain) if p not in LEXICON and p not in FILLERS
               and not any(p in phrase for phrase, _ in PHRASES)]
    if unknown:
        known = vocabulary()
        hints = []
        for w in unknown:
            close = difflib.get_close_matches(w, known, n=3, cutoff=0.5)
            hints.append(tr("{word!r}: did you mean {options}?").format(word=w, options=tr(" or ").join(close))
                         if close else tr("{word!r}: no known word is close").format(word=w))
        raise UnknownSpanishWord(tr("unknown word(s) in {prompt!r}: {hints} The Spanish captions use {n} words: "
                                    "{words}").format(prompt=prompt or " ".join(words), hints="; ".join(hints),
                                                      n=len(known), words=", ".join(known)))
    objects: list[dict] = []
    background = None
    i = 0
    while i < len(plain):
        p = plain[i]
        phrase = next(((ph, en) for ph, en in PHRASES if tuple(plain[i:i + len(ph)]) == ph), None)
        if plain[i:i + 2] == list(BACKGROUND) or (p in ("con", "de") and plain[i + 1:i + 2] == ["fondo"]):
            i += 2
            if i < len(plain) and plain[i] in ("un", "una"):
                i += 1
            if i < len(plain) and LEXICON.get(plain[i], ("", ""))[0] == "color":
                background = LEXICON[plain[i]][1]
                i += 1
            continue
        if phrase is not None:
            if not objects:
                objects.append({})
            objects[-1]["position"] = phrase[1]
            i += len(phrase[0])
            continue
        kind, english = LEXICON.get(p, ("filler", p))
        if kind == "article" or (kind in ("shape", "color", "size") and (not objects or kind in objects[-1])):
            objects.append({})
        if kind in ("shape", "color", "size"):
            objects[-1][kind] = english
        i += 1
    out = []
    for n, obj in enumerate(objects):
        if n:
            out.append("and")
        out += ["a"] + [obj[k] for k in ("size", "color", "shape") if k in obj]
        if len(objects) > 1 and "position" in obj:
            out += obj["position"].split()
    if background is not None:
        out += ["on", "a", background, "background"]
    if len(objects) == 1 and "position" in objects[0]:
        out += objects[0]["position"].split()
    return out


def caption(scene: Scene, with_size: bool = True, with_position: bool = True, with_background: bool = True) -> str:
    """The Spanish caption of a scene, the twin of `Scene.caption`:
    "un círculo rojo pequeño sobre fondo azul, arriba a la izquierda"."""
    def phrase(obj) -> str:
        noun, gender = SHAPES_ES[obj.shape]
        female = gender == "f"
        words = [ARTICLES_ES[gender], noun, COLORS_ES[obj.color][female]]
        if with_size:
            words.append(SIZES_ES[obj.size][female])
        return " ".join(words)

    background = f" sobre fondo {COLORS_ES[scene.background][0]}" if with_background else ""
    if len(scene.objects) == 1:
        (obj,) = scene.objects
        position = f", {POSITIONS_ES[obj.position]}" if with_position else ""
        return phrase(obj) + background + position
    parts = [phrase(obj) + (f", {POSITIONS_ES[obj.position]}," if with_position else "") for obj in scene.objects]
    text = " y ".join(parts)
    return (text.rstrip(",") if not background else text) + background
