"""The course model: which lessons are graded, the nbgrader copy of a lesson source, and the course
directory with its `nbgrader_config.py`.

`init` (commands.py) writes an nbgrader course directory from the lesson sources
(`latentlab/lessons/sources/`, left unchanged): `source/lessonNN/NN_slug.ipynb` for each lesson with
exercises, and `nbgrader_config.py` (CONFIG_TEMPLATE: course id, a local exchange inside the course
directory unless `--exchange` names another, the course's stubs, a per-cell time limit). In each copy
(`nbgrader_notebook`)

* every **answer cell** of an exercise (nbgrader metadata `solution`, a `### BEGIN SOLUTION` region)
  stays an nbgrader "autograded answer", and right after it goes a locked **autograder test** cell
  (`grade`, `points`) that calls the exercise's **own checker** (the call the answer cell ends with,
  found in its code) and asserts that it passed. A wrong answer loses the points and the checker's
  ✅/❌ line, with the named mistake and its hint, is the feedback; stderr is sent to stdout in the
  test so that a mere warning does not cost the points (nbgrader scores any stderr output as 0);
* every **open question** (a markdown answer cell) becomes a "manually graded answer"
  (`solution` + `grade`, `--open-points` each; nbgrader requires both flags on a markdown answer).
"""

from __future__ import annotations

import ast
import copy
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..lessons import LESSONS, SOURCES, Lesson

PROG = "latentlab classroom"
COURSE_ID = "latentlab"
CONFIG = "nbgrader_config.py"
POINTS = 1           # an exercise's autograder test
OPEN_POINTS = 1      # an open question, graded by hand in nbgrader's formgrader
TIMEOUT = 600        # seconds one cell may run while autograding (nbgrader's own default is 30)
TEST_SUFFIX = "_test"
# The test cell's comment. A plain constant, not marked N_(): it is shown through tr(), so it reads in
# English until the translators add it to latentlab/locale/<lang>/latentlab.po and mark it.
TEST_COMMENT = ("# Autograder test for {exercise} (points: {points}). It runs the exercise's checker again on your\n"
                "# answer: ✅ earns the points; with ❌ the checker's message, with its hint, is your feedback.")


class ClassroomError(Exception):
    """Bad input for a classroom command (a missing course directory, an unknown lesson, a file that
    is not a notebook) or an nbgrader command that failed: the message says what to do."""


# ----------------------------------------------------------------------------------------------------------------
# lessons


def assignment_id(lesson: Lesson) -> str:
    """'lesson03': the nbgrader assignment of a lesson."""
    return f"lesson{lesson.number:02d}"


def _source(lesson: Lesson, sources: Path = SOURCES):
    import nbformat

    path = sources / f"{lesson.stem}.ipynb"
    if not path.is_file():
        raise ClassroomError(f"lesson {lesson.number:02d} has no source notebook at {path}")
    return nbformat.read(path, as_version=4), path


def answer_kind(cell) -> str | None:
    """'code' for an exercise's answer cell, 'open' for an open question's, None for any other cell."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if not meta.get("solution"):
        return None
    return "code" if cell.cell_type == "code" else "open"


def graded_lessons(lessons: list[Lesson] | None = None, sources: Path = SOURCES) -> list[Lesson]:
    """The lessons that have exercises: a checker module and answer cells in their source."""
    found = []
    for lesson in lessons if lessons is not None else LESSONS:
        if not lesson.checker:
            continue
        nb, _ = _source(lesson, sources)
        if any(answer_kind(cell) for cell in nb.cells):
            found.append(lesson)
    return found


def find_lesson(name, lessons: list[Lesson] | None = None) -> Lesson:
    """A lesson from what a teacher types: 3, '03', 'lesson03', '03_adding_noise' or 'adding_noise'."""
    lessons = lessons if lessons is not None else LESSONS
    text = str(name).strip().lower()
    number = text[len("lesson"):] if text.startswith("lesson") else text
    known = ", ".join(f"{lesson.number:02d} ({lesson.slug})" for lesson in lessons if lesson.checker)
    for lesson in lessons:
        if (number.isdigit() and int(number) == lesson.number) or text in (lesson.stem, lesson.slug):
            if not lesson.checker:
                raise ClassroomError(f"lesson {lesson.number:02d} ({lesson.slug}) has no exercises; the lessons with "
                                     f"exercises are {known}")
            return lesson
    raise ClassroomError(f"unknown lesson {name!r}; the lessons with exercises are {known}")


# ----------------------------------------------------------------------------------------------------------------
# the nbgrader copy of a lesson source


@dataclass(frozen=True)
class Exercise:
    """One graded item of an nbgrader lesson: an exercise's test cell or an open question's answer cell."""

    grade_id: str        # the answer cell's grade_id: ex03_2, q04_think_about_it
    kind: str            # 'auto' (an exercise, its checker asserted) or 'manual' (an open question)
    points: float
    checker: str = ""    # the checker call the test cell makes, e.g. check_q_sample(q_sample)
    module: str = ""     # where the checker lives: the lesson's checker module, or latentlab.quiz for the quiz

    @property
    def test_id(self) -> str:
        return self.grade_id + TEST_SUFFIX if self.kind == "auto" else self.grade_id


def _parse(source: str, where: str) -> ast.Module:
    # IPython magics and shell lines are not Python; blank them (keeping the line numbers) before parsing.
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n")]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError as err:
        raise ClassroomError(f"{where}: the answer cell is not valid Python ({err})") from None


def checker_call(source: str, module, where: str = "") -> ast.Call:
    """The first call, in the answer cell's code, of one of the lesson's checkers (`check_…` names of
    `module`, or a list of modules), without a `quiet=` argument: the test cell makes the same call,
    and it prints. The call's `module` attribute names the module that holds the checker."""
    modules = [m for m in (module if isinstance(module, (list, tuple)) else [module]) if m is not None]
    calls = [(node, m) for node in ast.walk(_parse(source, where))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("check_")
             for m in modules if callable(getattr(m, node.func.id, None))]
    if not calls:
        names = " or ".join(m.__name__ for m in modules)
        raise ClassroomError(f"{where}: the answer cell calls none of {names}'s checkers, so there is "
                             "nothing for its autograder test to assert")
    node, holder = min(calls, key=lambda item: (item[0].lineno, item[0].col_offset))
    call = copy.deepcopy(node)
    call.keywords = [k for k in call.keywords if k.arg != "quiet"]
    call.module = holder.__name__
    return call


def autograder_cell(exercise: Exercise, module_name: str, lang: str | None = None):
    """The locked autograder test that follows an exercise's answer cell."""
    import nbformat

    from ..i18n import tr

    name = exercise.checker.split("(", 1)[0]
    module_name = exercise.module or module_name
    source = "\n".join([
        tr(TEST_COMMENT, lang).format(exercise=exercise.grade_id, points=f"{exercise.points:g}"),
        "import contextlib",
        "import sys",
        "",
        f"from {module_name} import {name}",
        "",
        "with contextlib.redirect_stderr(sys.stdout):   # a warning is not a wrong answer",
        f"    _checked = {exercise.checker}",
        "assert _checked, _checked.message",
    ])
    cell = nbformat.v4.new_code_cell(source)
    cell.id = (exercise.grade_id + TEST_SUFFIX).replace("_", "-")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": exercise.test_id, "locked": True,
                                 "points": exercise.points, "schema_version": 3, "solution": False, "task": False}
    return cell


def nbgrader_notebook(lesson: Lesson, *, points: float = POINTS, open_points: float = OPEN_POINTS,
                      lang: str = "en", sources: Path = SOURCES) -> tuple:
    """(the nbgrader source notebook of `lesson`, its exercises). The lesson's source is read, not
    changed: the copy gets a test cell after each exercise's answer cell, and its open questions
    become manually graded answers."""
    from ..i18n import DEFAULT

    nb, path = _source(lesson, sources)
    if lang != DEFAULT:
        from ..lessons.translate import catalogue_path, read_catalogue, translate_notebook

        po = catalogue_path(lesson, lang)
        nb = translate_notebook(nb, read_catalogue(po) if po.is_file() else None, str(path))
    from .. import quiz as quiz_module

    module = lesson.checker_module()
    has_quiz = importlib.util.find_spec(f"latentlab.quizzes.lesson{lesson.number:02d}") is not None
    if module is None and not has_quiz:
        raise ClassroomError(f"lesson {lesson.number:02d} ({lesson.slug}) has no exercises to grade")
    modules = [m for m in (module, quiz_module if has_quiz else None) if m is not None]
    out = copy.deepcopy(nb)
    out.cells, exercises = [], []
    for i, cell in enumerate(nb.cells):
        cell = copy.deepcopy(cell)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        out.cells.append(cell)
        kind = answer_kind(cell)
        if kind is None:
            continue
        meta = cell.metadata["nbgrader"]
        where = f"{path}, cell {i} ({meta.get('grade_id', '?')})"
        if kind == "open":
            meta.update(grade=True, solution=True, points=open_points)
            exercises.append(Exercise(meta["grade_id"], "manual", open_points))
            continue
        meta.update(grade=False, solution=True)
        meta.pop("points", None)
        call = checker_call(cell.source, modules, where)
        exercise = Exercise(meta["grade_id"], "auto", points, ast.unparse(call), call.module)
        exercises.append(exercise)
        out.cells.append(autograder_cell(exercise, call.module, lang))
    if not any(e.kind == "auto" for e in exercises):
        raise ClassroomError(f"{path}: no exercise answer cells (nbgrader metadata 'solution' on a code cell)")
    return out, exercises


# ----------------------------------------------------------------------------------------------------------------
# the course directory


CONFIG_TEMPLATE = '''\
# The nbgrader configuration of a latentlab course, written by `latentlab classroom init`.
# nbgrader reads it when it runs in this folder (the classroom commands run it here).
# `latentlab classroom init --force` writes it again.
import os

c = get_config()  # noqa: F821 - nbgrader defines get_config
here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = here
c.CourseDirectory.course_id = {course_id!r}
# The local exchange: where `release` puts the assignments and students' `nbgrader submit` puts their work.
c.Exchange.root = {exchange}
# The course's stubs, in place of each ### BEGIN SOLUTION … ### END SOLUTION region and open answer.
c.ClearSolutions.code_stub = {{"python": {code_stub!r}}}
c.ClearSolutions.text_stub = {text_stub!r}
# Autograding runs each lesson whole (seconds per cell; lessons 02, 05 and 07 train or measure).
c.Execute.timeout = {timeout}
# A test cell a student deleted is put back before grading, so deleting it cannot dodge the test.
c.OverwriteCells.add_missing_cells = True
# The language of the checkers' messages while autograding: the students' feedback.
os.environ.setdefault("LATENTLAB_LANG", {lang!r})
'''


def course_directory(course_dir) -> Path:
    """The course directory, checked: a folder holding the nbgrader_config.py that `init` writes."""
    course = Path(course_dir).expanduser().resolve()
    if not course.is_dir():
        raise ClassroomError(f"no course directory at {course}: create one with "
                             f"`{PROG} init {course_dir}` (or pass -C/--course-dir)")
    if not (course / CONFIG).is_file():
        raise ClassroomError(f"{course} is not a course directory (no {CONFIG}): create one with "
                             f"`{PROG} init {course_dir}`, or pass -C/--course-dir")
    return course
