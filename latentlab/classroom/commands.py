"""The classroom's commands, each a function (the command line in arguments.py calls them):
`init` writes the course directory (course.py says what goes in it); the others wrap nbgrader's own
command line (`python -m nbgrader …`, run in the course directory so that its `nbgrader_config.py`
applies).

`release` is `generate_assignment` then `release_assignment`; `collect` is `collect --update`;
`import-submissions` puts a folder of notebooks named by student id (`alice.ipynb`, …) where
`collect` would (`submitted/<id>/lessonNN/`, with a `timestamp.txt`); `autograde` is `autograde`
(a submission newer than its graded copy is graded again; `--force` regrades all; manual scores are
kept); `feedback` is `generate_feedback` then `release_feedback` for the students who submitted
through the exchange (an imported submission has no exchange secret: its HTML is for the teacher to
hand out). `grades` reads nbgrader's gradebook and the autograded notebooks and writes one CSV row
per student and exercise: points, max points and the text the checker printed.

nbgrader calls its own console scripts (`alembic`), so the folder of the running Python's scripts is
put first on PATH for everything it runs.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ..lessons import SOURCES, Lesson
from .course import (
    CONFIG,
    CONFIG_TEMPLATE,
    COURSE_ID,
    OPEN_POINTS,
    POINTS,
    PROG,
    TEST_SUFFIX,
    TIMEOUT,
    ClassroomError,
    answer_kind,
    assignment_id,
    course_directory,
    find_lesson,
    graded_lessons,
    nbgrader_notebook,
)

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")   # nbgrader refuses '*' and '+' in ids
TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f %Z"   # nbgrader's timestamp.txt
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CSV_FIELDS = ("student_id", "lesson", "notebook", "exercise", "kind", "points", "max_points", "needs_manual_grade",
              "feedback")


# ----------------------------------------------------------------------------------------------------------------
# init


def init(course_dir, *, course_id: str = COURSE_ID, exchange=None, lessons: list[Lesson] | None = None,
         points: float = POINTS, open_points: float = OPEN_POINTS, lang: str = "en", timeout: int = TIMEOUT,
         force: bool = False, sources: Path = SOURCES) -> dict:
    """Write an nbgrader course directory. Returns {"config": path, "notebooks": [paths],
    "exercises": {assignment: [Exercise]}}."""
    import nbformat

    from ..i18n import UnknownLanguage, normalise, tr
    from ..lessons.build import ANSWER_STUB, CODE_STUB, RAISE_STUB

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
    answer_ids = {cell.metadata["nbgrader"]["grade_id"] for cell in source.cells if answer_kind(cell)}
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
