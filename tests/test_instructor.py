"""The instructor guide is generated from the lessons and covers every open question."""

import nbformat
import pytest

from latentlab.instructor import _answer_cells, class_minutes, lesson_page, open_question_labels, pages
from latentlab.lessons import LESSONS, SOURCES
from latentlab.lessons.timing import read_times


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.stem for lesson in LESSONS])
def test_every_open_question_has_an_answer_cell(lesson):
    """A cell that asks an open question (Explore, Think about it, Things to try) is followed by an
    nbgrader answer cell before the next question: the guide's answer key is complete."""
    cells = nbformat.read(SOURCES / f"{lesson.stem}.ipynb", as_version=4).cells
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown" and open_question_labels(cell.source) \
                and not cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            later = cells[i + 1:i + 4]
            assert any(c.cell_type == "markdown" and c.get("metadata", {}).get("nbgrader", {}).get("solution")
                       for c in later), f"{lesson.stem}, cell {i}: an open question without an answer cell"


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.stem for lesson in LESSONS])
def test_the_guide_page_holds_every_answer_and_the_time(lesson):
    nb = nbformat.read(SOURCES / f"{lesson.stem}.ipynb", as_version=4)
    page = lesson_page(lesson, read_times())
    for grade_id, _question, answer in _answer_cells(nb):
        assert f"`{grade_id}`" in page and answer in page
    assert "latentlab lessons time" in page and "minutes" in page


def test_class_time_follows_the_rule():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("word " * 1200)]   # 10 minutes of reading
    assert class_minutes(nb, 60, 0) == 15                        # + 1 minute of compute → rounded up to 15
    assert class_minutes(nb, 60, 6) == 25                        # + the quiz


def test_every_language_has_the_plans_and_every_lesson():
    names = {path.relative_to(path.parents[1] if path.parent.name == "es" else path.parent).as_posix()
             for path in pages(read_times())}
    assert "README.md" in names and "es/README.md" in names
    assert all(f"{lesson.stem}.md" in names and f"es/{lesson.stem}.md" in names for lesson in LESSONS)
