"""The translation catalogues, written and checked in one place (`latentlab translations …`).

    latentlab translations extract [--lang es]   write or update every catalogue from the English
    latentlab translations check [--lang es]     list what is untranslated, fuzzy or broken (exit 1)

Two kinds of catalogue, both gettext `.po` files written by Babel:

* **lessons** (`latentlab/lessons/locale/<lang>/NN_slug.po`): each lesson source's markdown
  paragraphs, code comments and readable string literals (`latentlab.lessons.translate`);
* **package** (`latentlab/locale/<lang>/<part>.po`): every `tr("…")` and `N_("…")` in the package's
  Python, one catalogue per part so translators (and reviewers) work on one thing at a time:
  `widgets`, `checkers` (latentlab/exercises), `cli` (cli.py, commands.py), `quizzes` (quiz.py and
  latentlab/quizzes), `latentlab` (the rest),
  and `manifest` (the lessons' titles, objectives and prerequisites from manifest.toml).

After `extract`, a changed English message keeps its old translation marked fuzzy; `check` (and
`tests/test_translations.py`) fails until each is translated and not fuzzy.
"""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_python
from babel.messages.pofile import read_po

from .i18n import DEFAULT, LANGUAGES, LOCALE, normalise
from .lessons import LESSONS, MANIFEST
from .lessons import translate as lesson_translate

PACKAGE = Path(__file__).resolve().parent
KEYWORDS = {"tr": None, "N_": None, "tl": None}  # tl: a tr bound to one language (instructor.py)
# English words that do not occur in Spanish: a translation still holding three of them is English.
ENGLISH_WORDS = frozenset("""the and of is are with this that which what when where you your it its
from into than then there their they have has been will would should can could not an by for
""".split())
_WORD = re.compile(r"[A-Za-z']+")


def part_of(path: Path) -> str:
    """Which package catalogue a source file's messages go to."""
    rel = path.relative_to(PACKAGE)
    if rel.parts[0] == "widgets":
        return "widgets"
    if rel.parts[0] == "exercises":
        return "checkers"
    if rel.name in ("cli.py", "commands.py"):
        return "cli"
    if rel.parts[0] == "quizzes" and rel.stem.startswith("lesson"):
        return "quiz" + rel.stem[len("lesson"):]  # one catalogue per lesson's quiz: quiz03.po
    if rel.name == "quiz.py":
        return "quizzes"
    return "latentlab"


def package_messages() -> dict[str, list[tuple[str, str, int]]]:
    """{part: [(message, file, line)]} for every tr()/N_() literal in the package."""
    parts: dict[str, list[tuple[str, str, int]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "locale" in path.parts:
            continue
        with open(path, "rb") as f:
            for lineno, _func, message, _comments in extract_python(f, KEYWORDS, [], {}):
                if isinstance(message, (tuple, list)):  # tr("…", lang): the message is the first argument
                    message = message[0]
                if isinstance(message, str) and message:
                    parts.setdefault(part_of(path), []).append(
                        (message, str(path.relative_to(PACKAGE.parent)), lineno))
    from .lessons import load_manifest

    for lesson in load_manifest(MANIFEST):
        where = str(MANIFEST.relative_to(PACKAGE.parent))
        for text in (lesson.title, lesson.learn, *lesson.objectives, lesson.prerequisites):
            if text:
                parts.setdefault("manifest", []).append((text, where, lesson.number))
    return parts


def _template(lang: str, part: str, messages: list[tuple[str, str, int]]) -> Catalog:
    catalog = Catalog(locale=lang, project=f"latentlab {part}", fuzzy=False, copyright_holder="latentlab")
    for message, where, line in messages:
        found = catalog.get(message)
        if found is not None:
            found.locations.append((where, line))
        else:
            flags = ["python-brace-format"] if re.search(r"\{[^{}]*\}", message) and part != "manifest" else []
            catalog.add(message, "", locations=[(where, line)], flags=flags)
    return catalog


PARTS = ("lessons", "widgets", "checkers", "cli", "latentlab", "manifest", "quizzes")


def extract(lang: str = "es", only: tuple[str, ...] | None = None) -> list[Path]:
    """Write or update every catalogue (lessons and package) of `lang`, or only the parts in `only`
    (so that two translators working on different parts never rewrite each other's file)."""
    messages_by_part = package_messages()
    parts = (*PARTS, *sorted(set(messages_by_part) - set(PARTS)))
    only = parts if not only else tuple(only)
    unknown = sorted(set(only) - set(parts))
    if unknown:
        raise ValueError(f"unknown catalogue part(s) {unknown}; the parts are {', '.join(parts)}")
    lang = normalise(lang)
    if lang == DEFAULT:
        raise ValueError(f"{DEFAULT} is the language the course is written in; extract catalogues for "
                         f"{', '.join(k for k in LANGUAGES if k != DEFAULT)}")
    written = lesson_translate.extract(lang) if "lessons" in only else []
    for part, messages in sorted(messages_by_part.items()):
        if part not in only:
            continue
        path = LOCALE / lang / f"{part}.po"
        fresh = _template(lang, part, messages)
        if path.is_file():
            catalog = lesson_translate.read_catalogue(path)
            catalog.update(fresh, no_fuzzy_matching=False, update_header_comment=False)
        else:
            catalog = fresh
        lesson_translate.write_catalogue(catalog, path)
        written.append(path)
    return written


def looks_english(text: str) -> bool:
    """Three or more distinct English-only words: an English sentence left in a translation."""
    return len({w.lower() for w in _WORD.findall(text)} & ENGLISH_WORDS) >= 3


def _fields(text: str) -> list[str]:
    return sorted(re.findall(r"(?<!\{)\{([^{}]*)\}", text))


def package_problems(lang: str) -> list[str]:
    """Untranslated, fuzzy, still-English or field-changing entries of the package catalogues."""
    out = []
    for part, messages in sorted(package_messages().items()):
        path = LOCALE / lang / f"{part}.po"
        if not path.is_file():
            out.append(f"{path}: missing; run `latentlab translations extract --lang {lang}`")
            continue
        with open(path, "rb") as f:
            catalog = read_po(f)
        for message, where, line in messages:
            found = catalog.get(message)
            label = f"{path.name} ({where}:{line})"
            if found is None or not found.string:
                out.append(f"{label}: untranslated: {message[:70]!r}")
            elif found.fuzzy:
                out.append(f"{label}: fuzzy: {message[:70]!r}")
            elif part != "manifest" and _fields(found.string) != _fields(message):
                out.append(f"{label}: the translation's {{fields}} {_fields(found.string)} differ from the "
                           f"English {_fields(message)}")
            elif looks_english(found.string) and found.string == message:
                out.append(f"{label}: still English: {message[:70]!r}")
    return out


def lesson_problems(lang: str) -> list[str]:
    out = []
    for lesson in LESSONS:
        out += lesson_translate.problems(lesson, lang)
        path = lesson_translate.catalogue_path(lesson, lang)
        if path.is_file():
            with open(path, "rb") as f:
                catalog = read_po(f)
            for message in catalog:
                if message.id and message.string and message.context == "markdown" \
                        and message.string == message.id and looks_english(message.id):
                    out.append(f"{path.name}: a paragraph left in English: {message.id[:70]!r}")
    return out


def problems(lang: str = "es") -> list[str]:
    """Everything that keeps `lang`'s translation from being complete and current."""
    lang = normalise(lang)
    return lesson_problems(lang) + package_problems(lang)


__all__ = ["extract", "problems", "package_messages", "looks_english"]
