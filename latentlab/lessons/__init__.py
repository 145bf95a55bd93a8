"""The lessons manifest: the course's one list of lessons.

A lesson is one thing: a source notebook (`sources/NN_slug.ipynb`, solutions marked in nbgrader's
syntax), a checker module (`latentlab/exercises/lessonNN.py`) and one entry in `manifest.toml`.
Everything that lists lessons reads `load_manifest()`: README's lesson table and the generated
notebooks (`latentlab lessons build`), lesson 00's map, the notebook tests, the checker suite,
`latentlab bench widgets` and `latentlab lab`.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.toml"
SOURCES = HERE / "sources"
# The generated notebooks live in the repository, next to the package, so a student who clones
# the course opens them straight away.
NOTEBOOKS = HERE.parent.parent / "notebooks"


@dataclass(frozen=True)
class Lesson:
    number: int
    slug: str
    title: str
    learn: str                      # one line: what you learn
    checker: str = ""               # dotted module with the lesson's CHECKERS ("" for none)
    apps: tuple[str, ...] = field(default_factory=tuple)  # widget apps the lesson shows
    objectives: tuple[str, ...] = field(default_factory=tuple)  # "you will be able to …", 3–5 lines
    prerequisites: str = ""         # the earlier lessons and the maths it assumes

    @property
    def stem(self) -> str:
        """'05_samplers': the file name of the source and of the student notebook."""
        return f"{self.number:02d}_{self.slug}"

    def localized(self, lang: str | None = None) -> "Lesson":
        """The same lesson with its title, "what you learn", objectives and prerequisites in `lang`
        (the current language by default), from the manifest's catalogue."""
        from ..i18n import tr

        return Lesson(self.number, self.slug, tr(self.title, lang), tr(self.learn, lang), self.checker, self.apps,
                      tuple(tr(o, lang) for o in self.objectives),
                      tr(self.prerequisites, lang) if self.prerequisites else "")

    def checker_module(self):
        """The imported checker module, or None for a lesson without exercises."""
        return importlib.import_module(self.checker) if self.checker else None


_FIELDS = {"number": int, "slug": str, "title": str, "learn": str, "checker": str, "apps": list,
           "objectives": list, "prerequisites": str}


def load_manifest(path: str | Path = MANIFEST) -> list[Lesson]:
    """The lessons listed in `path`, in order. A malformed entry raises a ValueError that names the
    file, the lesson and the field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ValueError(f"{path}: cannot read the lessons manifest ({err})") from None
    lessons = []
    for i, entry in enumerate(data.get("lesson", [])):
        where = f"{path}, lesson entry {i + 1}"
        unknown = sorted(set(entry) - set(_FIELDS))
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; a lesson has {sorted(_FIELDS)}")
        for name in ("number", "slug", "title", "learn"):
            if name not in entry:
                raise ValueError(f"{where}: the field '{name}' is missing")
        for name, kind in _FIELDS.items():
            if name in entry and not isinstance(entry[name], kind):
                raise ValueError(f"{where}: '{name}' should be a {kind.__name__}, found {entry[name]!r}")
        for name in ("apps", "objectives"):
            if not all(isinstance(item, str) for item in entry.get(name, [])):
                raise ValueError(f"{where}: '{name}' should be a list of strings, found {entry[name]!r}")
        lessons.append(Lesson(entry["number"], entry["slug"], entry["title"], entry["learn"],
                              entry.get("checker", ""), tuple(entry.get("apps", [])),
                              tuple(entry.get("objectives", [])), entry.get("prerequisites", "")))
    numbers = [lesson.number for lesson in lessons]
    if len(set(numbers)) != len(numbers) or numbers != sorted(numbers):
        raise ValueError(f"{path}: lesson numbers must be unique and in order, found {numbers}")
    return lessons


LESSONS: list[Lesson] = load_manifest()


def lesson_table(lessons: list[Lesson] | None = None, lang: str | None = None) -> str:
    """The Markdown table of lessons (README's and lesson 00's), in `lang` (default: the current one)."""
    from ..i18n import tr

    rows = [tr("| notebook | lesson | what you learn |", lang), "|---|---|---|"]
    for lesson in lessons if lessons is not None else LESSONS:
        mine = lesson.localized(lang)
        rows.append(f"| `{mine.stem}` | {mine.title} | {mine.learn} |")
    return "\n".join(rows)


def show_lesson_map(here: str | Path | None = None, lessons: list[Lesson] | None = None) -> None:
    """Lesson 00's map: every lesson of the manifest, and whether its notebook is in `here`."""
    from IPython.display import Markdown, display

    from ..i18n import tr

    here = Path(here) if here is not None else Path.cwd()
    rows = [tr("| # | lesson | what you learn | notebook |"), "|---|---|---|---|"]
    for lesson in lessons if lessons is not None else LESSONS:
        mine = lesson.localized()
        found = (here / f"{lesson.stem}.ipynb").is_file()
        where = (f"[{lesson.stem}.ipynb]({lesson.stem}.ipynb)" if found else
                 tr("`{name}` (not in this folder)").format(name=f"{lesson.stem}.ipynb"))
        rows.append(f"| {lesson.number:02d} | **{mine.title}** | {mine.learn} | {where} |")
    display(Markdown("\n".join(rows)))


def lesson_notebooks(lessons: list[Lesson] | None = None, notebooks: str | Path = NOTEBOOKS) -> list[Path]:
    """The generated notebooks of the lessons that exist on disk: each student notebook, then its
    solution notebook (lessons without exercises have none). The notebook tests run these."""
    notebooks = Path(notebooks)
    paths = []
    for lesson in lessons if lessons is not None else LESSONS:
        for path in (notebooks / f"{lesson.stem}.ipynb", notebooks / "solutions" / f"{lesson.stem}_solutions.ipynb"):
            if path.is_file():
                paths.append(path)
    return paths
