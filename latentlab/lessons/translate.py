"""Lesson translations: gettext catalogues (one `.po` per lesson and language), with the code
identical to English **by construction**.

What a translator sees and what they may change:

* every **markdown paragraph** of a lesson source (split at blank lines; a fenced code block or a
  `$$ … $$` display stays one piece), msgctxt ``markdown``;
* every **comment** in a code cell (``# …``), msgctxt ``comment``;
* every **string literal a student reads** in a code cell (a docstring, a printed message, a plot
  label, a prompt: a literal with at least two words), msgctxt ``string``. The translation must be
  one literal with the same prefix and quotes, and an f-string keeps its ``{fields}`` unchanged.

Nothing else of a code cell is ever looked up in a catalogue, so the Spanish code equals the English
code once comments and string literals are set aside (`code_skeleton`, checked by
`tests/test_translations.py`). The catalogues live in `latentlab/lessons/locale/<lang>/NN_slug.po`,
are written and merged by Babel (`latentlab lessons extract`), open in any PO editor (Poedit,
Lokalize, Weblate) and compile with `msgfmt`. When an English paragraph changes, `extract` keeps
the old translation marked *fuzzy* (Babel's fuzzy matching) and the staleness test fails until a
translator has looked at it.
"""

from __future__ import annotations

import copy
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from ..atomic import atomic_write_text
from . import HERE, LESSONS, SOURCES, Lesson

LOCALE = HERE / "locale"
NBGRADER_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
# Two words of at least two letters with a space between them: "a large red circle", "PSNR {x} dB".
_READABLE = re.compile(r"[^\W\d_]{2,}[ \t]+[^\W\d_]{2,}")
_WORD3 = re.compile(r"[^\W\d_]{3,}")
# Marks of printed text around a word: a colon, an arrow, brackets, bars, a middle dot, emphasis.
_LABEL_MARKS = re.compile(r"[:→←·|()*=≈×%]")
_FIELD = re.compile(r"(?<!\{)\{(?!\{)[^{}]*\}")
_STRING_START = re.compile(r"^([A-Za-z]*)('''|\"\"\"|'|\")")


class TranslationError(ValueError):
    """A catalogue entry that cannot be applied (a broken literal, a changed f-string field)."""


@dataclass(frozen=True)
class Unit:
    """One translatable piece of a lesson source."""

    kind: str   # "markdown", "comment" or "string" (the catalogue's msgctxt)
    text: str   # the English text: a paragraph, a comment with its '#', a literal with its quotes
    cell: int   # index of the cell in the source


# ---------------------------------------------------------------------------------------------
# Splitting
# ---------------------------------------------------------------------------------------------

def paragraphs(markdown: str) -> list[str]:
    """A markdown cell → its paragraphs (blank-line separated; fences and $$ blocks kept whole)."""
    out, current, fence = [], [], None
    for line in markdown.split("\n"):
        stripped = line.strip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif fence is None and stripped == "$$":
            fence = "$$"
        elif fence is not None and (stripped.startswith(fence) if fence != "$$" else stripped == "$$"):
            fence = None
            current.append(line)
            continue
        if fence is None and not stripped:
            if current:
                out.append("\n".join(current).rstrip())
                current = []
            continue
        current.append(line)
    if current:
        out.append("\n".join(current).rstrip())
    return out


def _tokens(source: str, where: str):
    try:
        return list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError) as err:
        raise TranslationError(f"{where}: the code cell cannot be tokenized ({err})") from None


def _is_comment_unit(text: str) -> bool:
    body = text.lstrip("#").strip()
    return (not any(text.strip().startswith(m) for m in NBGRADER_MARKERS)
            and not body.startswith(("noqa", "type:", "fmt:")) and bool(re.search(r"[^\W\d_]{2,}", body)))


def _literal_body(literal: str) -> str:
    match = _STRING_START.match(literal)
    return literal[match.end():len(literal) - len(match.group(2))] if match else literal


def _is_string_unit(literal: str) -> bool:
    """A literal a student reads: two words ("a red circle"), or a word with the marks of a printed
    label around it ("betas:", "→ latent", f"step {s}"). A lone identifier-like word ("cpu",
    "vae-f8c4", "scaled_linear") is code, not text."""
    body = _literal_body(literal)
    if _READABLE.search(body):
        return True
    match = _STRING_START.match(literal)
    if match and "f" in match.group(1).lower():
        body = _FIELD.sub(" ", body)
    if not _WORD3.search(body):
        return False
    return bool(_LABEL_MARKS.search(body)) or (body != body.strip()) or (
        match is not None and "f" in match.group(1).lower())


def code_units(source: str, where: str = "") -> list[tuple[str, str, tuple[int, int], tuple[int, int]]]:
    """(kind, text, start, end) of every translatable comment and string literal in a code cell."""
    out = []
    for tok in _tokens(source, where):
        if tok.type == tokenize.COMMENT and _is_comment_unit(tok.string):
            out.append(("comment", tok.string, tok.start, tok.end))
        elif tok.type == tokenize.STRING and _is_string_unit(tok.string):
            out.append(("string", tok.string, tok.start, tok.end))
    return out


def units(source_nb) -> list[Unit]:
    """Every translatable unit of a lesson source notebook, in reading order."""
    out = []
    for i, cell in enumerate(source_nb.cells):
        if cell.cell_type == "markdown":
            out += [Unit("markdown", p, i) for p in paragraphs(cell.source)]
        elif cell.cell_type == "code":
            out += [Unit(kind, text, i) for kind, text, _, _ in code_units(cell.source, f"cell {i}")]
    return out


# ---------------------------------------------------------------------------------------------
# The code skeleton: what must be identical in every language
# ---------------------------------------------------------------------------------------------

def code_skeleton(source: str, where: str = "") -> list[tuple]:
    """The tokens of a code cell with comments dropped and each string literal reduced to its prefix
    and f-string fields: two cells with the same skeleton run the same code."""
    out = []
    for tok in _tokens(source, where):
        if tok.type in (tokenize.COMMENT, tokenize.NL):
            continue
        if tok.type == tokenize.STRING:
            match = _STRING_START.match(tok.string)
            prefix = match.group(1).lower() if match else ""
            fields = tuple(_FIELD.findall(_literal_body(tok.string))) if "f" in prefix else ()
            out.append(("STRING", prefix, fields))
        else:
            out.append((tokenize.tok_name[tok.type], tok.string))
    return out


def check_literal(english: str, translated: str, where: str = "") -> None:
    """A translated literal must be one literal, with the English one's prefix, quotes and fields."""
    toks = [t for t in _tokens(translated, where) if t.type not in (tokenize.NEWLINE, tokenize.NL,
                                                                    tokenize.ENDMARKER)]
    if len(toks) != 1 or toks[0].type != tokenize.STRING:
        raise TranslationError(f"{where}: the translation {translated!r} is not one string literal "
                               f"(the English one is {english!r}); keep its quotes")
    a, b = _STRING_START.match(english), _STRING_START.match(translated)
    if (a.group(1).lower(), a.group(2)) != (b.group(1).lower(), b.group(2)):
        raise TranslationError(f"{where}: the translation {translated!r} changes the prefix or quotes of "
                               f"{english!r}; keep {a.group(1)}{a.group(2)}…{a.group(2)}")
    if "f" in a.group(1).lower():
        fa, fb = _FIELD.findall(_literal_body(english)), _FIELD.findall(_literal_body(translated))
        if fa != fb:  # in order: the fields are code, evaluated left to right
            raise TranslationError(f"{where}: the f-string's fields must stay as they are, in the same order: "
                                   f"English {fa}, translation {fb}")


def check_comment(translated: str, where: str = "") -> None:
    if not translated.startswith("#") or "\n" in translated:
        raise TranslationError(f"{where}: a translated comment must start with '#' and stay on one line, "
                               f"got {translated!r}")


# ---------------------------------------------------------------------------------------------
# Catalogues
# ---------------------------------------------------------------------------------------------

def catalogue_path(lesson: Lesson, lang: str, locale_dir: Path = LOCALE) -> Path:
    return locale_dir / lang / f"{lesson.stem}.po"


def template(lesson: Lesson, sources: Path = SOURCES, lang: str = "es") -> Catalog:
    """The catalogue of one lesson's English units, with no translations."""
    import nbformat

    source_nb = nbformat.read(sources / f"{lesson.stem}.ipynb", as_version=4)
    catalog = Catalog(locale=lang, project=f"latentlab lesson {lesson.stem}", fuzzy=False,
                      msgid_bugs_address="", copyright_holder="latentlab")
    hints = {"comment": "a comment in a code cell: keep the leading '#', one line",
             "string": "a string literal in a code cell: keep its prefix, quotes and {fields} exactly"}
    for unit in units(source_nb):
        found = catalog.get(unit.text, context=unit.kind)
        if found is not None:
            found.locations.append((f"{lesson.stem}.ipynb", unit.cell))
            continue
        catalog.add(unit.text, "", locations=[(f"{lesson.stem}.ipynb", unit.cell)], context=unit.kind,
                    auto_comments=[hints[unit.kind]] if unit.kind in hints else [])
    return catalog


def read_catalogue(path: Path) -> Catalog:
    with open(path, "rb") as f:
        return read_po(f)


def write_catalogue(catalog: Catalog, path: Path) -> None:
    """Write a catalogue (atomically). No message of the course is %-formatted, so Babel's guessed
    `python-format` flag (it sees "10 % of" as a format) is dropped: it would make msgfmt -c and
    Babel's checks reject a natural "10 % de"."""
    for message in catalog:
        message.flags.discard("python-format")
        if not message.fuzzy:  # "#| msgid …" (the English it was translated from) only helps while fuzzy
            message.previous_id = []
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, include_previous=True, sort_by_file=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, buf.getvalue().decode("utf-8"))


def extract(lang: str = "es", lessons: list[Lesson] | None = None, sources: Path = SOURCES,
            locale_dir: Path = LOCALE) -> list[Path]:
    """Write or update every lesson's catalogue for `lang` from the current sources (Babel's merge:
    new paragraphs empty, changed ones fuzzy, removed ones obsolete). Returns the files written."""
    written = []
    for lesson in lessons if lessons is not None else LESSONS:
        path = catalogue_path(lesson, lang, locale_dir)
        fresh = template(lesson, sources, lang)
        if path.is_file():
            catalog = read_catalogue(path)
            catalog.update(fresh, no_fuzzy_matching=False, update_header_comment=False)
        else:
            catalog = fresh
        write_catalogue(catalog, path)
        written.append(path)
    return written


def problems(lesson: Lesson, lang: str, sources: Path = SOURCES, locale_dir: Path = LOCALE) -> list[str]:
    """What keeps a lesson's translation from being current: a missing catalogue, an English unit
    with no translation or a fuzzy one, a translated literal or comment that breaks the code."""
    path = catalogue_path(lesson, lang, locale_dir)
    if not path.is_file():
        return [f"{path}: missing; run `latentlab lessons extract --lang {lang}` and translate it"]
    catalog = read_catalogue(path)
    out = []
    for message in template(lesson, sources, lang):
        if not message.id:
            continue
        where = f"{path.name} ({message.context}, cell {message.locations[0][1]})"
        found = catalog.get(message.id, context=message.context)
        if found is None or not found.string:
            out.append(f"{where}: untranslated: {message.id[:70]!r}")
        elif found.fuzzy:
            out.append(f"{where}: fuzzy (the English changed; check the translation): {message.id[:70]!r}")
        else:
            try:
                if message.context == "string":
                    check_literal(message.id, found.string, where)
                elif message.context == "comment":
                    check_comment(found.string, where)
            except TranslationError as err:
                out.append(str(err))
    return out


# ---------------------------------------------------------------------------------------------
# Applying a catalogue
# ---------------------------------------------------------------------------------------------

def _lookup(catalog: Catalog | None, text: str, kind: str) -> str:
    if catalog is None:
        return text
    found = catalog.get(text, context=kind)
    return found.string if found is not None and found.string and not found.fuzzy else text


def _offsets(source: str) -> list[int]:
    starts, total = [0], 0
    for line in source.splitlines(keepends=True):
        total += len(line)
        starts.append(total)
    return starts


def translate_code(source: str, catalog: Catalog | None, where: str = "") -> str:
    """A code cell with its comments and readable literals looked up in `catalog`."""
    found = code_units(source, where)
    if not found or catalog is None:
        return source
    starts = _offsets(source)
    out = source
    for kind, text, (sr, sc), (er, ec) in reversed(found):
        new = _lookup(catalog, text, kind)
        if new == text:
            continue
        if kind == "string":
            check_literal(text, new, where)
        else:
            check_comment(new, where)
        a, b = starts[sr - 1] + sc, starts[er - 1] + ec
        out = out[:a] + new + out[b:]
    return out


def translate_markdown(source: str, catalog: Catalog | None) -> str:
    return "\n\n".join(_lookup(catalog, p, "markdown") for p in paragraphs(source))


def translate_notebook(source_nb, catalog: Catalog | None, where: str = ""):
    """A copy of a lesson source with every unit looked up in `catalog` (English where missing)."""
    nb = copy.deepcopy(source_nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = translate_markdown(cell.source, catalog)
        elif cell.cell_type == "code":
            cell.source = translate_code(cell.source, catalog, f"{where}, cell {i}")
    return nb
