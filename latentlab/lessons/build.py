"""Lesson sources → the notebooks students open (`latentlab lessons build`).

Each lesson has one source notebook, `latentlab/lessons/sources/NN_slug.ipynb`, in which the answers
to the exercises are marked with **nbgrader's own syntax**, so a teacher can feed the sources to
nbgrader unchanged:

    def ddim_step(eps, x_t, alpha_bar_t, alpha_bar_prev):
        ### BEGIN SOLUTION
        pred_x0 = ...
        ### END SOLUTION

or a whole cell whose metadata says `"nbgrader": {"solution": true, ...}` (an answer to an open
question). From each source this module writes

* the **student** notebook `notebooks/NN_slug.ipynb`: every marked region replaced by a stub
  (`# your code here`, plus `raise NotImplementedError` inside a function so the checker can say
  "not written yet"); a whole solution cell becomes an empty answer cell;
* the **solution** notebook `notebooks/solutions/NN_slug_solutions.ipynb`: the markers removed,
  under a heading that says it is the solved version.

Both get an **"About this lesson"** cell after the title cell, generated from the manifest (the
lesson's objectives and prerequisites), the time measured by `latentlab lessons time`
(`results/lesson-times.json`) and a link to the notation page, so none of it is typed twice.

Both are committed, so a student can open them straight after cloning, and `build(check=True)`
(`latentlab lessons build --check`, run by the test suite) fails when one is stale. README's lesson
table, between its `<!-- lessons:begin -->` and `<!-- lessons:end -->` markers, is written from the
manifest the same way.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..i18n import DEFAULT, LANGUAGES, N_, tr
from . import LESSONS, NOTEBOOKS, SOURCES, Lesson, lesson_table
from .timing import TIMES, read_times, time_phrase

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = N_("# your code here")
RAISE_STUB = "raise NotImplementedError"
ANSWER_STUB = N_("*Your answer here.*")
README = NOTEBOOKS.parent / "README.md"
# Each other language's README (README.es.md) carries the same table, in its language.
READMES = {"en": README, "es": NOTEBOOKS.parent / "README.es.md"}
TABLE_BEGIN, TABLE_END = "<!-- lessons:begin -->", "<!-- lessons:end -->"
NOTATION = NOTEBOOKS.parent / "docs" / "notation.md"
ABOUT_HEADING = N_("## About this lesson")
GLOSSARIES = {"es": "glosario.md"}  # each translation's glossary, in docs/
NOTATION_PAGES = {"es": "notacion.md"}  # each translation's notation page, in docs/ (default notation.md)


class LessonSourceError(ValueError):
    """A lesson source that cannot be built (unbalanced markers, a missing file)."""


def _is_solution_cell(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution")) and not _has_markers(cell)


def _has_markers(cell) -> bool:
    return BEGIN in cell.source or END in cell.source


def strip_region(source: str, where: str, stub: str = CODE_STUB) -> tuple[str, str]:
    """One cell's source → (student version, solution version).

    The student version replaces each BEGIN…END region by the stub at the marker's indentation;
    the solution version drops the two marker lines and keeps what is between them."""
    student, solution, inside = [], [], False
    for number, line in enumerate(source.split("\n"), start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise LessonSourceError(f"{where}, line {number}: '{BEGIN}' inside another solution region")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            student.append(indent + stub)
            if indent:  # inside a function: make the checker's "not written yet" message possible
                student.append(indent + RAISE_STUB)
        elif stripped == END:
            if not inside:
                raise LessonSourceError(f"{where}, line {number}: '{END}' without a '{BEGIN}' before it")
            inside = False
        else:
            solution.append(line)
            if not inside:
                student.append(line)
    if inside:
        raise LessonSourceError(f"{where}: '{BEGIN}' is never closed by '{END}'")
    return "\n".join(student), "\n".join(solution)


def _clean(cell):
    """A generated cell: no nbgrader metadata, no outputs."""
    cell = copy.deepcopy(cell)
    cell.metadata.pop("nbgrader", None)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def student_and_solution(source_nb, lesson: Lesson, where: str = "", lang: str = DEFAULT) -> tuple:
    """The two generated notebooks (nbformat objects) of one source notebook (already translated
    into `lang`, whose stubs and headings it writes)."""
    student, solution = copy.deepcopy(source_nb), copy.deepcopy(source_nb)
    student.cells, solution.cells = [], []
    for i, cell in enumerate(source_nb.cells):
        here = f"{where}, cell {i}"
        mine, answer = _clean(cell), _clean(cell)
        if _has_markers(cell):
            mine.source, answer.source = strip_region(cell.source, here, tr(CODE_STUB, lang))
        elif _is_solution_cell(cell):
            mine.source = (tr(CODE_STUB, lang) + "\n" + RAISE_STUB if cell.cell_type == "code"
                           else tr(ANSWER_STUB, lang))
        if answer.cell_type == "markdown":  # the solution notebook sits one folder deeper: relative links follow
            answer.source = re.sub(r"\]\((?![a-z]+:|#|/)", "](../", answer.source)
        student.cells.append(mine)
        solution.cells.append(answer)
    header = nbformat.v4.new_markdown_cell(
        tr("# Solutions · {number} · {title}", lang).format(number=f"{lesson.number:02d}", title=lesson.title)
        + "\n\n" + tr("The lesson with every exercise solved and every open question answered; "
                      "each checker prints ✅.", lang))
    header.id = f"solutions-{lesson.number:02d}"
    solution.cells.insert(0, header)
    return student, solution


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def about_cell(lesson: Lesson, times: dict, notation_link: str, lang: str = DEFAULT):
    """The generated "About this lesson" markdown cell: objectives, prerequisites, measured time and
    the notation page (`notation_link` is relative to the notebook that holds the cell)."""
    lines = [tr(ABOUT_HEADING, lang), "", tr("**You will be able to**", lang), ""]
    lines += [f"* {objective}" for objective in lesson.objectives]
    lines += ["", tr("**Prerequisites.** {text}", lang).format(
                  text=_capitalised(lesson.prerequisites or tr("none.", lang))), "",
              tr("**Time.** {text}.", lang).format(
                  text=_capitalised(time_phrase(times.get(f"{lesson.number:02d}"), lang))), "",
              tr("**Notation.** Symbols are used as on the course's [notation page]({link}) "
                 "(σ, for one, has four meanings in the papers; the page tells them apart).", lang).format(
                  link=notation_link.replace("notation.md", NOTATION_PAGES.get(lang, "notation.md")))]
    if lang in GLOSSARIES:
        lines += ["", tr("**Glossary.** The words of this edition, each with the English term you meet in ComfyUI "
                         "and in the papers: [glossary]({link}).", lang).format(
                      link=notation_link.replace("notation.md", GLOSSARIES[lang]))]
    cell = nbformat.v4.new_markdown_cell("\n".join(lines))
    cell.id = f"about-{lesson.number:02d}"
    return cell


@dataclass
class Target:
    path: Path
    text: str


def language_folder(notebooks: Path, lang: str) -> Path:
    """Where a language's notebooks go: notebooks/ for English, notebooks/<lang>/ for the others."""
    return notebooks if lang == DEFAULT else notebooks / lang


def targets(lessons: list[Lesson] | None = None, sources: Path = SOURCES, notebooks: Path = NOTEBOOKS,
            readme: Path | None = README, *, times: Path = TIMES, langs: tuple[str, ...] | None = None,
            locale_dir: Path | None = None, readmes: dict[str, Path] | None = None) -> list[Target]:
    """Every file `lessons build` writes, with the text it should hold: for each language (English
    and every language with catalogues) the student and solution notebooks, and the README's lesson
    table. `times` is the file of measured lesson times the headers quote."""
    from .translate import LOCALE, catalogue_path, read_catalogue, translate_notebook

    locale_dir = LOCALE if locale_dir is None else locale_dir
    langs = tuple(LANGUAGES) if langs is None else langs
    out = []
    measured = read_times(times)
    for lesson in lessons if lessons is not None else LESSONS:
        path = sources / f"{lesson.stem}.ipynb"
        if not path.is_file():
            raise LessonSourceError(f"lesson {lesson.number:02d} ({lesson.slug}): no source at {path}; "
                                    "every lesson in the manifest needs one")
        source_nb = nbformat.read(path, as_version=4)
        has_exercises = any(_has_markers(c) or _is_solution_cell(c) for c in source_nb.cells)
        for lang in langs:
            here = language_folder(notebooks, lang)
            up = "../" * (len(here.relative_to(notebooks).parts) + 1)
            mine, nb = lesson.localized(lang), source_nb
            if lang != DEFAULT:
                po = catalogue_path(lesson, lang, locale_dir)
                nb = translate_notebook(source_nb, read_catalogue(po) if po.is_file() else None, str(path))
            student, solution = student_and_solution(nb, mine, where=str(path), lang=lang)
            if lesson.objectives:  # after the title cell (in the solution notebook, after its own heading too)
                student.cells.insert(1, about_cell(mine, measured, f"{up}docs/notation.md", lang))
                solution.cells.insert(2, about_cell(mine, measured, f"../{up}docs/notation.md", lang))
            out.append(Target(here / f"{lesson.stem}.ipynb", nbformat.writes(student) + "\n"))
            if has_exercises:
                out.append(Target(here / "solutions" / f"{lesson.stem}_solutions.ipynb",
                                  nbformat.writes(solution) + "\n"))
    if readme is not None:
        out.append(Target(readme, _readme_with_table(readme, lessons)))
    if lessons is None and sources == SOURCES and notebooks == NOTEBOOKS:  # the real build: the guide too
        from ..instructor import pages

        out += [Target(path, text) for path, text in pages(measured).items()]
    for lang, other in (readmes if readmes is not None else
                        {k: v for k, v in READMES.items() if k != DEFAULT and readme == README}).items():
        if lang in langs and other.is_file():
            out.append(Target(other, _readme_with_table(other, lessons, lang)))
    return out


def _readme_with_table(readme: Path, lessons: list[Lesson] | None, lang: str = DEFAULT) -> str:
    text = readme.read_text(encoding="utf-8")
    if TABLE_BEGIN not in text or TABLE_END not in text:
        raise LessonSourceError(f"{readme}: the lesson table's markers {TABLE_BEGIN} … {TABLE_END} are missing")
    head, rest = text.split(TABLE_BEGIN, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_BEGIN}\n{lesson_table(lessons, lang)}\n{TABLE_END}{tail}"


def build(check: bool = False, **where) -> list[Path]:
    """Write every generated file (or, with check=True, write nothing and return the stale ones)."""
    stale = []
    for target in targets(**where):
        current = target.path.read_text(encoding="utf-8") if target.path.is_file() else None
        if current == target.text:
            continue
        stale.append(target.path)
        if not check:
            target.path.parent.mkdir(parents=True, exist_ok=True)
            target.path.write_text(target.text, encoding="utf-8")
    return stale
