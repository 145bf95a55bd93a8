"""Assignments with nbgrader: the course's lessons as autograded homework (`latentlab classroom …`).

    python -m latentlab.classroom init COURSE_DIR [--course-id ID] [--exchange DIR] [--lessons 3 5]
                                                  [--points 1] [--open-points 1] [--lang es] [--force]
    python -m latentlab.classroom release LESSON        [-C COURSE_DIR] [--no-exchange] [--force] [-q]
    python -m latentlab.classroom collect LESSON        [-C COURSE_DIR] [-q]
    python -m latentlab.classroom import-submissions LESSON FOLDER [-C COURSE_DIR]
    python -m latentlab.classroom autograde LESSON      [-C COURSE_DIR] [--student ID] [--force] [-q]
    python -m latentlab.classroom feedback LESSON       [-C COURSE_DIR] [--student ID] [--no-exchange] [-q]
    python -m latentlab.classroom grades --csv OUT      [-C COURSE_DIR] [--lesson LESSON]

(`latentlab classroom …` is the same command once the CLI forwards to `configure`/`run` below.)

`init` writes an nbgrader course directory from the lesson sources (`latentlab/lessons/sources/`,
left unchanged): `source/lessonNN/NN_slug.ipynb` for each lesson with exercises, and
`nbgrader_config.py` (course id, a local exchange inside the course directory unless `--exchange`
names another, the course's stubs, a per-cell time limit). In each copy

* every **answer cell** of an exercise (nbgrader metadata `solution`, a `### BEGIN SOLUTION` region)
  stays an nbgrader "autograded answer", and right after it goes a locked **autograder test** cell
  (`grade`, `points`) that calls the exercise's **own checker** (the call the answer cell ends with,
  found in its code) and asserts that it passed. A wrong answer loses the points and the checker's
  ✅/❌ line, with the named mistake and its hint, is the feedback; stderr is sent to stdout in the
  test so that a mere warning does not cost the points (nbgrader scores any stderr output as 0);
* every **open question** (a markdown answer cell) becomes a "manually graded answer"
  (`solution` + `grade`, `--open-points` each; nbgrader requires both flags on a markdown answer).

The other commands wrap nbgrader's own command line (`python -m nbgrader …`, run in the course
directory so that its `nbgrader_config.py` applies): `release` is `generate_assignment` then
`release_assignment`; `collect` is `collect --update`; `import-submissions` puts a folder of
notebooks named by student id (`alice.ipynb`, …) where `collect` would (`submitted/<id>/lessonNN/`,
with a `timestamp.txt`); `autograde` is `autograde` (a submission newer than its graded copy is
graded again; `--force` regrades all; manual scores are kept); `feedback` is `generate_feedback`
then `release_feedback` for the students who submitted through the exchange (an imported submission
has no exchange secret: its HTML is for the teacher to hand out). `grades` reads nbgrader's
gradebook and the autograded notebooks and writes one CSV row per student and exercise: points,
max points and the text the checker printed.

nbgrader calls its own console scripts (`alembic`), so the folder of the running Python's scripts is
put first on PATH for everything it runs.
"""

from __future__ import annotations

import argparse
import ast
import copy
import csv
import datetime as dt
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .lessons import LESSONS, SOURCES, Lesson

PROG = "latentlab classroom"
COURSE_ID = "latentlab"
CONFIG = "nbgrader_config.py"
POINTS = 1           # an exercise's autograder test
OPEN_POINTS = 1      # an open question, graded by hand in nbgrader's formgrader
TIMEOUT = 600        # seconds one cell may run while autograding (nbgrader's own default is 30)
TEST_SUFFIX = "_test"
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")   # nbgrader refuses '*' and '+' in ids
TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f %Z"   # nbgrader's timestamp.txt
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# The test cell's comment. A plain constant, not marked N_(): it is shown through tr(), so it reads in
# English until the translators add it to latentlab/locale/<lang>/latentlab.po and mark it.
TEST_COMMENT = ("# Autograder test for {exercise} (points: {points}). It runs the exercise's checker again on your\n"
                "# answer: ✅ earns the points; with ❌ the checker's message, with its hint, is your feedback.")
CSV_FIELDS = ("student_id", "lesson", "notebook", "exercise", "kind", "points", "max_points", "needs_manual_grade",
              "feedback")


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


def _answer_kind(cell) -> str | None:
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
        if any(_answer_kind(cell) for cell in nb.cells):
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

    from .i18n import tr

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
    from .i18n import DEFAULT

    nb, path = _source(lesson, sources)
    if lang != DEFAULT:
        from .lessons.translate import catalogue_path, read_catalogue, translate_notebook

        po = catalogue_path(lesson, lang)
        nb = translate_notebook(nb, read_catalogue(po) if po.is_file() else None, str(path))
    import importlib

    from . import quiz as quiz_module

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
        kind = _answer_kind(cell)
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
# init


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


def init(course_dir, *, course_id: str = COURSE_ID, exchange=None, lessons: list[Lesson] | None = None,
         points: float = POINTS, open_points: float = OPEN_POINTS, lang: str = "en", timeout: int = TIMEOUT,
         force: bool = False, sources: Path = SOURCES) -> dict:
    """Write an nbgrader course directory. Returns {"config": path, "notebooks": [paths],
    "exercises": {assignment: [Exercise]}}."""
    import nbformat

    from .i18n import UnknownLanguage, normalise, tr
    from .lessons.build import ANSWER_STUB, CODE_STUB, RAISE_STUB

    course = Path(course_dir).expanduser().resolve()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", course_id or ""):
        raise ClassroomError(f"course id {course_id!r}: use letters, digits, '.', '_' or '-' (nbgrader puts it in "
                             "folder names)")
    if points <= 0 or open_points < 0:
        raise ClassroomError("--points must be above 0 and --open-points 0 or more")
    try:
        lang = normalise(lang)
    except UnknownLanguage as err:
        raise ClassroomError(str(err)) from None
    config = course / CONFIG
    if course.exists() and not course.is_dir():
        raise ClassroomError(f"{course} is a file, not a folder")
    if config.exists() and not force:
        raise ClassroomError(f"{course} is already a course directory ({CONFIG} exists); add --force to write its "
                             "config and lesson sources again (its gradebook, releases and submissions are kept)")
    chosen = sorted(graded_lessons(lessons, sources), key=lambda lesson: lesson.number)
    if not chosen:
        raise ClassroomError("none of the chosen lessons has exercises")
    built = {assignment_id(lesson): nbgrader_notebook(lesson, points=points, open_points=open_points, lang=lang,
                                                      sources=sources) for lesson in chosen}
    course.mkdir(parents=True, exist_ok=True)
    if exchange is None:
        exchange_text = 'os.path.join(here, "exchange")'
        (course / "exchange").mkdir(exist_ok=True)
    else:
        exchange_text = repr(str(Path(exchange).expanduser().resolve()))
    config.write_text(CONFIG_TEMPLATE.format(
        course_id=course_id, exchange=exchange_text, timeout=int(timeout), lang=lang,
        code_stub=tr(CODE_STUB, lang) + "\n" + RAISE_STUB, text_stub=tr(ANSWER_STUB, lang)), encoding="utf-8")
    written = []
    for lesson in chosen:
        nb, _ = built[assignment_id(lesson)]
        path = course / "source" / assignment_id(lesson) / f"{lesson.stem}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        written.append(path)
    return {"config": config, "notebooks": written,
            "exercises": {name: exercises for name, (_, exercises) in built.items()}}


# ----------------------------------------------------------------------------------------------------------------
# nbgrader's commands


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


def _require_nbgrader() -> None:
    try:
        found = importlib.util.find_spec("nbgrader") is not None
    except (ImportError, ValueError):  # a broken or blocked installation
        found = False
    if not found:
        raise ClassroomError("nbgrader is not installed: pip install 'latentlab[classroom]' (or pip install nbgrader)")


def _environment(env: dict | None = None) -> dict:
    """os.environ (plus `env`) with the running Python's scripts folder first on PATH: nbgrader runs
    `alembic` by name."""
    out = dict(os.environ, **(env or {}))
    scripts = str(Path(sys.executable).parent)
    if out.get("PATH", "").split(os.pathsep)[0] != scripts:
        out["PATH"] = scripts + os.pathsep + out.get("PATH", "")
    return out


def nbgrader(course: Path, *args: str, quiet: bool = False, env: dict | None = None, cwd: Path | None = None) -> str:
    """Run `python -m nbgrader ARGS` in the course directory; its log goes to stderr unless quiet.
    Returns the log; raises ClassroomError (with the log's end) when nbgrader fails."""
    _require_nbgrader()
    command = [sys.executable, "-m", "nbgrader", *args]
    process = subprocess.Popen(command, cwd=cwd or course, env=_environment(env), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace")
    lines = []
    for line in process.stdout:
        lines.append(line)
        if not quiet:
            sys.stderr.write(line)
    process.wait()
    log = "".join(lines)
    if process.returncode != 0:
        tail = "".join(lines[-25:]).rstrip()
        raise ClassroomError(f"`nbgrader {' '.join(args)}` failed (exit {process.returncode}) in {course}:\n{tail}")
    return log


def _course_lesson(course_dir, lesson) -> tuple[Path, Lesson, str]:
    course = course_directory(course_dir)
    lesson = lesson if isinstance(lesson, Lesson) else find_lesson(lesson)
    name = assignment_id(lesson)
    if not (course / "source" / name / f"{lesson.stem}.ipynb").is_file():
        raise ClassroomError(f"{course} has no lesson {lesson.number:02d} ({course / 'source' / name} is missing): "
                             f"add it with `{PROG} init {course_dir} --force --lessons …`")
    return course, lesson, name


def release(course_dir, lesson, *, exchange: bool = True, force: bool = False, quiet: bool = False) -> Path:
    """generate_assignment (release/lessonNN/, the student version) and, unless exchange=False,
    release_assignment (to the exchange, for `nbgrader fetch_assignment`). Returns the release folder."""
    course, lesson, name = _course_lesson(course_dir, lesson)
    nbgrader(course, "generate_assignment", name, "--force", quiet=quiet)
    if exchange:
        nbgrader(course, "release_assignment", name, *(["--force"] if force else []), quiet=quiet)
    return course / "release" / name


def collect(course_dir, lesson, *, quiet: bool = False) -> list[str]:
    """nbgrader collect: the students' submissions from the exchange into submitted/. Returns the
    student ids that have a submission of the lesson."""
    course, lesson, name = _course_lesson(course_dir, lesson)
    nbgrader(course, "collect", name, "--update", quiet=quiet)
    return submitted_students(course, name)


def submitted_students(course: Path, name: str) -> list[str]:
    folder = course / "submitted"
    return sorted(p.parent.name for p in folder.glob(f"*/{name}") if p.is_dir()) if folder.is_dir() else []


def _student_notebook(path: Path, lesson: Lesson, answer_ids: set[str]) -> str:
    """Why `path` is not a submission of `lesson` ('' when it is one)."""
    import nbformat

    if path.suffix != ".ipynb":
        return "not a notebook (a submission is a .ipynb file named by student id, e.g. alice.ipynb)"
    if not STUDENT_ID.match(path.stem):
        return "the file name is not a student id (letters, digits and . _ @ -)"
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 - any reason a file is not a readable notebook
        return f"not a readable notebook ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
    ids = {cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") for cell in nb.cells}
    if not ids & answer_ids:
        return (f"not lesson {lesson.number:02d}'s assignment: none of its answer cells ({', '.join(sorted(answer_ids))})"
                " is there; students must work in the notebook `release` made")
    return ""


def import_submissions(course_dir, lesson, folder) -> list[str]:
    """Copy a folder of student notebooks named by student id (`alice.ipynb`) where nbgrader's
    collect puts submissions: submitted/<id>/lessonNN/NN_slug.ipynb, with the file's time as the
    submission time. Every file is checked first; one bad file and nothing is imported. Returns the ids."""
    import nbformat

    course, lesson, name = _course_lesson(course_dir, lesson)
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ClassroomError(f"no folder of submissions at {folder}")
    source = nbformat.read(course / "source" / name / f"{lesson.stem}.ipynb", as_version=4)
    answer_ids = {cell.metadata["nbgrader"]["grade_id"] for cell in source.cells if _answer_kind(cell)}
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    problems = [f"  {p.name}: {why}" for p in files if (why := (_student_notebook(p, lesson, answer_ids)
                                                             if p.is_file() else "a folder, not a notebook"))]
    if problems:
        raise ClassroomError(f"{folder}: nothing imported, {len(problems)} file(s) are not submissions:\n"
                             + "\n".join(problems))
    if not files:
        raise ClassroomError(f"{folder} holds no notebooks (expected one per student, named by student id)")
    students = []
    for path in files:
        dest = course / "submitted" / path.stem / name
        dest.mkdir(parents=True, exist_ok=True)
        when = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
        notebook, stamp = dest / f"{lesson.stem}.ipynb", dest / "timestamp.txt"
        if notebook.is_file() and notebook.read_bytes() != path.read_bytes():
            # A new version must look newer than the one it replaces, or nbgrader would not grade it again.
            earlier = _timestamp(stamp)
            if earlier is not None and when <= earlier:
                when = earlier + dt.timedelta(milliseconds=1)
        shutil.copyfile(path, notebook)
        stamp.write_text(when.strftime(TIMESTAMP), encoding="utf-8")
        students.append(path.stem)
    return students


def _timestamp(path: Path) -> dt.datetime | None:
    """The time in a submission's timestamp.txt (nbgrader's format), or None."""
    try:
        text = path.read_text(encoding="utf-8").strip()
        return dt.datetime.strptime(text.replace(" UTC", ""), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc)
    except (OSError, ValueError):
        return None


def autograde(course_dir, lesson, *, student: str | None = None, force: bool = False, quiet: bool = False,
              env: dict | None = None) -> list[dict]:
    """nbgrader autograde: run every submitted notebook of the lesson (or one student's) with its
    test cells restored from the gradebook, and score them. Returns [{student_id, score, max_score}]."""
    course, lesson, name = _course_lesson(course_dir, lesson)
    students = submitted_students(course, name)
    if student is not None and student not in students:
        raise ClassroomError(f"no submission of {name} from {student!r} in {course / 'submitted'}"
                             + (f"; there are {', '.join(students)}" if students else ""))
    if not students:
        raise ClassroomError(f"no submissions of {name} yet: run `{PROG} collect {lesson.number:02d}` "
                             f"or `{PROG} import-submissions {lesson.number:02d} FOLDER` first")
    args = ["autograde", name, "--create"] + (["--student", student] if student else []) + (["--force"] if force else [])
    nbgrader(course, *args, quiet=quiet, env=env)
    return [row for row in totals(course, name) if student is None or row["student_id"] == student]


def feedback(course_dir, lesson, *, student: str | None = None, exchange: bool = True, quiet: bool = False) -> dict:
    """nbgrader generate_feedback (feedback/<id>/lessonNN/NN_slug.html) and, unless exchange=False,
    release_feedback for the students who submitted through the exchange (they get it with
    `nbgrader fetch_feedback`). Imported submissions have no exchange secret: their feedback is for
    the teacher to hand out. Returns {"folder": feedback folder, "released": [ids], "hand_out": [ids]}."""
    course, lesson, name = _course_lesson(course_dir, lesson)
    who = ["--student", student] if student else []
    nbgrader(course, "generate_feedback", name, *who, quiet=quiet)
    folder = course / "feedback"
    ids = sorted(p.parent.name for p in folder.glob(f"*/{name}") if p.is_dir() and student in (None, p.parent.name))
    secret = {i for i in ids if (folder / i / name / "submission_secret.txt").is_file()}
    released = sorted(secret) if exchange else []
    if released:
        others = [i for i in ids if i not in secret]
        nbgrader(course, "release_feedback", name, *who,
                 *([f"--CourseDirectory.student_id_exclude={','.join(others)}"] if others else []), quiet=quiet)
    return {"folder": folder, "released": released, "hand_out": [i for i in ids if i not in released]}


# ----------------------------------------------------------------------------------------------------------------
# grades


def _gradebook(course: Path):
    _require_nbgrader()
    from nbgrader.api import Gradebook

    os.environ["PATH"] = _environment()["PATH"]   # a new gradebook asks alembic for its version
    return Gradebook(f"sqlite:///{course / 'gradebook.db'}")


def totals(course: Path, name: str) -> list[dict]:
    """[{student_id, score, max_score}] of the lesson's graded submissions."""
    with _gradebook(course) as gb:
        try:
            submissions = gb.find_assignment(name).submissions
        except Exception:  # noqa: BLE001 - nbgrader's MissingEntry: nothing graded yet
            return []
        return sorted(({"student_id": s.student.id, "score": s.score, "max_score": s.max_score}
                       for s in submissions), key=lambda row: row["student_id"])


def cell_feedback(cell) -> str:
    """What a graded test cell showed: the checker's printed lines, else the error that stopped it."""
    printed = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    text = printed.strip() or "\n".join(errors)
    return ANSI.sub("", text).strip()


def _cells_by_id(path: Path) -> dict:
    import nbformat

    if not path.is_file():
        return {}
    nb = nbformat.read(path, as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in nb.cells
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")}


def _number(value):
    return "" if value is None else f"{value:g}"


def grade_rows(course_dir, lesson=None) -> list[dict]:
    """One row per student and graded item of every autograded lesson (or one lesson), in the order
    of the lesson's cells: see CSV_FIELDS."""
    course = course_directory(course_dir)
    names = [assignment_id(find_lesson(lesson))] if lesson is not None else None
    rows = []
    with _gradebook(course) as gb:
        assignments = sorted(gb.assignments, key=lambda a: a.name)
        if names is not None:
            assignments = [a for a in assignments if a.name in names]
            if not assignments:
                raise ClassroomError(f"{names[0]} is not in the gradebook yet: `release` it first")
        for assignment in assignments:
            order = {}
            for notebook in assignment.notebooks:
                cells = _cells_by_id(course / "source" / assignment.name / f"{notebook.name}.ipynb")
                order[notebook.name] = {gid: i for i, gid in enumerate(cells)}
            for submission in sorted(assignment.submissions, key=lambda s: s.student.id):
                for notebook in submission.notebooks:
                    graded = _cells_by_id(course / "autograded" / submission.student.id / assignment.name
                                          / f"{notebook.name}.ipynb")
                    comments = {c.name: c.comment for c in notebook.comments}
                    where = order.get(notebook.name, {})
                    for grade in sorted(notebook.grades, key=lambda g: (where.get(g.name, 1e9), g.name)):
                        manual = grade.cell_type == "markdown"
                        if manual:
                            text = comments.get(grade.name) or ("needs grading by hand" if grade.needs_manual_grade
                                                                 else "")
                        else:
                            cell = graded.get(grade.name)
                            text = cell_feedback(cell) if cell is not None else "not autograded yet"
                        rows.append({
                            "student_id": submission.student.id, "lesson": assignment.name, "notebook": notebook.name,
                            "exercise": grade.name[:-len(TEST_SUFFIX)] if grade.name.endswith(TEST_SUFFIX)
                            else grade.name,
                            "kind": "manual" if manual else "auto",
                            "points": _number(grade.score if not (manual and grade.needs_manual_grade) else None),
                            "max_points": _number(grade.max_score),
                            "needs_manual_grade": "yes" if grade.needs_manual_grade else "no",
                            "feedback": text})
    return rows


def write_grades(course_dir, out, lesson=None) -> list[dict]:
    """The grades CSV (one row per student and exercise); '-' writes it to stdout."""
    rows = grade_rows(course_dir, lesson)
    if str(out) == "-":
        writer = csv.DictWriter(sys.stdout, CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        return rows
    out = Path(out)
    if out.is_dir():
        raise ClassroomError(f"{out} is a folder: give the CSV file's path, e.g. {out / 'grades.csv'}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


# ----------------------------------------------------------------------------------------------------------------
# command line


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the classroom sub-commands to `parser` (its own, or `latentlab classroom`'s); help in the
    learner's language (`tr`), like the rest of the command line."""
    from .i18n import tr

    course = argparse.ArgumentParser(add_help=False)
    course.add_argument("-C", "--course-dir", default=".", help=tr("the course directory (default: the current folder)"))
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true", help=tr("do not show nbgrader's log"))
    sub = parser.add_subparsers(dest="classroom_command", metavar="COMMAND", required=True)

    p = sub.add_parser("init", help=tr("create an nbgrader course directory from the lesson sources"))
    p.add_argument("course_dir", metavar="COURSE_DIR")
    p.add_argument("--course-id", default=COURSE_ID, help=tr("nbgrader's course id (default {value})").format(value=COURSE_ID))
    p.add_argument("--exchange", help=tr("the exchange folder shared with the students (default COURSE_DIR/exchange)"))
    p.add_argument("--lessons", nargs="+", metavar="LESSON", help=tr("only these lessons (default: every lesson with exercises)"))
    p.add_argument("--points", type=float, default=POINTS, help=tr("points per exercise (default {value})").format(value=f"{POINTS:g}"))
    p.add_argument("--open-points", type=float, default=OPEN_POINTS,
                   help=tr("points per open question, graded by hand (default {value}; 0: feedback only)").format(
                       value=f"{OPEN_POINTS:g}"))
    p.add_argument("--lang", default="en", help=tr("the lessons' language: en (default) or es"))
    p.add_argument("--timeout", type=int, default=TIMEOUT, help=tr("seconds a cell may run when autograding (default {value})").format(value=TIMEOUT))
    p.add_argument("--force", action="store_true", help=tr("rewrite an existing course's config and sources"))

    p = sub.add_parser("release", parents=[course, quiet], help=tr("generate a lesson's student version and release it"))
    p.add_argument("lesson", metavar="LESSON", help=tr("3, 03, lesson03 or adding_noise"))
    p.add_argument("--no-exchange", action="store_true", help=tr("only write release/lessonNN/ (to hand out yourself)"))
    p.add_argument("--force", action="store_true", help=tr("release again over an earlier release in the exchange"))

    p = sub.add_parser("collect", parents=[course, quiet], help=tr("collect the submissions from the exchange"))
    p.add_argument("lesson", metavar="LESSON")

    p = sub.add_parser("import-submissions", parents=[course],
                       help=tr("import a folder of student notebooks named by student id (alice.ipynb, …)"))
    p.add_argument("lesson", metavar="LESSON")
    p.add_argument("folder", metavar="FOLDER")

    p = sub.add_parser("autograde", parents=[course, quiet], help=tr("run and score the submissions of a lesson"))
    p.add_argument("lesson", metavar="LESSON")
    p.add_argument("--student", help=tr("only this student"))
    p.add_argument("--force", action="store_true", help=tr("grade again even submissions already graded"))

    p = sub.add_parser("feedback", parents=[course, quiet], help=tr("write (and release) the students' HTML feedback"))
    p.add_argument("lesson", metavar="LESSON")
    p.add_argument("--student", help=tr("only this student"))
    p.add_argument("--no-exchange", action="store_true", help=tr("only write feedback/ (to hand out yourself)"))

    p = sub.add_parser("grades", parents=[course], help=tr("write the grades: one CSV row per student and exercise"))
    p.add_argument("--csv", required=True, metavar="OUT", help=tr("the CSV file to write ('-' for stdout)"))
    p.add_argument("--lesson", help=tr("only this lesson"))
    return parser


def run(args) -> int:
    """Run a parsed classroom command; errors are printed as one clear message (exit 1)."""
    command = args.classroom_command
    try:
        if command == "init":
            lessons = [find_lesson(name) for name in args.lessons] if args.lessons else None
            result = init(args.course_dir, course_id=args.course_id, exchange=args.exchange, lessons=lessons,
                          points=args.points, open_points=args.open_points, lang=args.lang, timeout=args.timeout,
                          force=args.force)
            print(f"course directory {result['config'].parent} (config {CONFIG}):")
            for path, (name, exercises) in zip(result["notebooks"], result["exercises"].items()):
                auto = [e for e in exercises if e.kind == "auto"]
                manual = [e for e in exercises if e.kind == "manual"]
                line = (f"  {name}: {path.relative_to(result['config'].parent)}: {len(auto)} exercise(s), "
                        f"{sum(e.points for e in auto):g} point(s) autograded")
                if manual:
                    line += (f"; {len(manual)} open question(s), {sum(e.points for e in manual):g} point(s) graded "
                             "by hand")
                print(line)
            print(f"next: {PROG} release LESSON -C {args.course_dir}")
        elif command == "release":
            folder = release(args.course_dir, args.lesson, exchange=not args.no_exchange, force=args.force,
                             quiet=args.quiet)
            print(f"released {folder.name}: {folder}" + ("" if args.no_exchange else " (and to the exchange)"))
        elif command == "collect":
            students = collect(args.course_dir, args.lesson, quiet=args.quiet)
            print(f"{len(students)} submission(s): {', '.join(students) or 'none yet'}")
        elif command == "import-submissions":
            students = import_submissions(args.course_dir, args.lesson, args.folder)
            print(f"imported {len(students)} submission(s): {', '.join(students)}")
        elif command == "autograde":
            for row in autograde(args.course_dir, args.lesson, student=args.student, force=args.force,
                                 quiet=args.quiet):
                print(f"{row['student_id']}: {row['score']:g} / {row['max_score']:g}")
        elif command == "feedback":
            result = feedback(args.course_dir, args.lesson, student=args.student, exchange=not args.no_exchange,
                              quiet=args.quiet)
            print(f"feedback written to {result['folder']}/<student>/{assignment_id(find_lesson(args.lesson))}/")
            if result["released"]:
                print(f"  released to the exchange (nbgrader fetch_feedback): {', '.join(result['released'])}")
            if result["hand_out"]:
                print(f"  to hand out yourself (not submitted through the exchange): {', '.join(result['hand_out'])}")
        elif command == "grades":
            rows = write_grades(args.course_dir, args.csv, args.lesson)
            if args.csv != "-":
                print(f"{len(rows)} row(s) written to {args.csv}")
    except ClassroomError as err:
        print(f"{PROG} {command}: {err}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = configure(argparse.ArgumentParser(prog=PROG,
                                                description="Lessons as nbgrader assignments, autograded by their "
                                                            "checkers."))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
