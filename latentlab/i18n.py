"""The learner's language: one switch for widgets, checkers, the CLI and the lessons' headers.

    LATENTLAB_LANG=es          every message the package shows a student is in Spanish
    latentlab lab --lang es    the same, and JupyterLab opens the Spanish lesson 00

Without the variable, a kernel started from a Spanish notebook's folder (`notebooks/es/…`) speaks
Spanish, so a student who opens `notebooks/es/03_adding_noise.ipynb` in an English JupyterLab still
gets Spanish widgets and hints. English is the default; an unknown code is an error listing the
languages there are.

Package strings are marked `tr("…")` (not the usual `_`, which Python code also uses as a throwaway
name) and their translations live in gettext catalogues, `latentlab/locale/<lang>/*.po`, one per
part of the package (widgets, checkers, cli, lessons, manifest), written by
`latentlab translations extract`. A message with values is a format string: `tr("{n} steps").format(n=n)`,
so the translator sees the whole sentence and can move the values.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCALE = HERE / "locale"
LANGUAGES = {"en": "English", "es": "español"}
DEFAULT = "en"
ENV = "LATENTLAB_LANG"


class UnknownLanguage(ValueError):
    """A language code the course has no translation for."""


def normalise(code: str) -> str:
    """'es', 'es_ES.UTF-8', 'es-MX', 'ES' → 'es'; an unknown code raises UnknownLanguage."""
    if not isinstance(code, str) or not code.strip():
        raise UnknownLanguage(f"expected a language code such as {', '.join(LANGUAGES)}, got {code!r}")
    short = code.strip().replace("-", "_").split(".")[0].split("_")[0].lower()
    if short not in LANGUAGES:
        available = ", ".join(f"{k} ({v})" for k, v in LANGUAGES.items())
        raise UnknownLanguage(f"no translation for the language {code!r}; the course speaks {available}")
    return short


def _from_folder(cwd: Path) -> str | None:
    """'es' when the working directory is a language folder of the notebooks (notebooks/es, …/solutions)."""
    parts = cwd.parts
    for lang in LANGUAGES:
        if lang == DEFAULT:
            continue
        for i in range(len(parts) - 1):
            if parts[i] == "notebooks" and parts[i + 1] == lang:
                return lang
    return None


def language() -> str:
    """The current language: LATENTLAB_LANG, else the notebook folder's, else English."""
    code = os.environ.get(ENV)
    if code:
        return normalise(code)
    try:
        return _from_folder(Path.cwd()) or DEFAULT
    except OSError:  # the working directory was removed
        return DEFAULT


@cache
def catalogue(lang: str) -> dict[tuple[str | None, str], str]:
    """{(context, English): translation} of every package catalogue of `lang` (translated, not fuzzy)."""
    if lang == DEFAULT:
        return {}
    from babel.messages.pofile import read_po

    table: dict[tuple[str | None, str], str] = {}
    folder = LOCALE / lang
    for path in sorted(folder.glob("*.po")) if folder.is_dir() else []:
        with open(path, "rb") as f:
            for message in read_po(f):
                if message.id and message.string and not message.fuzzy and isinstance(message.id, str):
                    table[(message.context, message.id)] = message.string
    return table


def tr(message: str, lang: str | None = None, context: str | None = None) -> str:
    """`message` in the learner's language (itself when there is no translation yet)."""
    lang = normalise(lang) if lang else language()
    if lang == DEFAULT:
        return message
    return catalogue(lang).get((context, message), message)


def N_(message: str) -> str:
    """Marks a constant for the catalogues without translating it (translate it where it is shown)."""
    return message


def tr_lang(lang: str | None = None):
    """A `tr` bound to one language (for code that renders a whole page in one language)."""
    return lambda message, context=None: tr(message, lang, context)
