"""`latentlab classroom`: the lessons as nbgrader assignments, graded by their own checkers.

End to end on lesson 03 with three simulated students, through nbgrader's real commands:
alice submits the solution through the exchange (`nbgrader submit`, then `collect`), bob makes the
classic mistake (q_sample without the square roots), carol hands in the untouched notebook; bob and
carol come in as a folder of notebooks named by student id (`import-submissions`). Then `autograde`
and `grades --csv`. The cheap tests (the nbgrader copies, the error messages) need no nbgrader run.
"""

from __future__ import annotations

import csv
import hashlib
import os
import resource
import subprocess
import sys
import time

import nbformat
import pytest

from latentlab import classroom
from latentlab.lessons import LESSONS, SOURCES
from latentlab.lessons.build import strip_region

LESSON = next(lesson for lesson in LESSONS if lesson.number == 3)
NOTEBOOK = f"{LESSON.stem}.ipynb"
MISTAKE = "    a = alpha_bar[t].reshape(-1, 1, 1, 1)\n    return a * x0 + (1 - a) * noise   # no square roots"


def _sources_digest() -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(SOURCES.glob("*.ipynb")))).hexdigest()


# ------------------------------------------------------------------------------------------------ the copies


def test_init_writes_a_course_and_leaves_the_lesson_sources_unchanged(tmp_path):
    before = _sources_digest()
    result = classroom.init(tmp_path / "course")
    assert _sources_digest() == before
    graded = classroom.graded_lessons()
    assert [p.parent.name for p in result["notebooks"]] == [classroom.assignment_id(lesson) for lesson in graded]
    assert {lesson.number for lesson in graded} == {1, 2, 3, 4, 5, 6, 7}
    config = (tmp_path / "course" / classroom.CONFIG).read_text()
    assert "c.CourseDirectory.course_id = 'latentlab'" in config and '"exchange"' in config
    assert (tmp_path / "course" / "exchange").is_dir()
    with pytest.raises(classroom.ClassroomError, match="already a course directory"):
        classroom.init(tmp_path / "course")


@pytest.mark.parametrize("lesson", classroom.graded_lessons(), ids=lambda lesson: lesson.stem)
def test_each_answer_is_followed_by_a_test_that_asserts_its_own_checker(lesson):
    nb, exercises = classroom.nbgrader_notebook(lesson)
    source = nbformat.read(SOURCES / f"{lesson.stem}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if "nbgrader" in c.metadata}
    assert [e.grade_id for e in exercises] == list(answers)
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader")
        if not meta or not meta["solution"]:
            continue
        if cell.cell_type == "markdown":   # an open question: graded by hand (nbgrader needs solution + grade)
            assert meta["grade"] and meta["points"] == classroom.OPEN_POINTS
            continue
        test = nb.cells[i + 1]
        tmeta = test.metadata["nbgrader"]
        assert (tmeta["grade"], tmeta["solution"], tmeta["locked"], tmeta["points"]) == (True, False, True, 1)
        assert tmeta["grade_id"] == meta["grade_id"] + "_test"
        call = next(e.checker for e in exercises if e.grade_id == meta["grade_id"])
        assert call.split("(")[0] in cell.source and f"_checked = {call}" in test.source
        holder = "latentlab.quiz" if call.startswith("check_quiz(") else lesson.checker  # the quiz is graded too
        assert f"from {holder} import {call.split('(')[0]}" in test.source
        assert test.source.rstrip().endswith("assert _checked, _checked.message")


def test_the_spanish_edition_grades_with_the_same_checkers_and_speaks_spanish(tmp_path):
    english, exercises = classroom.nbgrader_notebook(LESSON)
    spanish, ejercicios = classroom.nbgrader_notebook(LESSON, lang="es")
    assert ejercicios == exercises   # the same answer cells, checker calls and points
    assert [c.cell_type for c in spanish.cells] == [c.cell_type for c in english.cells]
    assert "## Ejercicios" in "\n".join(c.source for c in spanish.cells if c.cell_type == "markdown")
    classroom.init(tmp_path / "curso", lessons=[LESSON], lang="es")
    config = (tmp_path / "curso" / classroom.CONFIG).read_text()
    assert "os.environ.setdefault(\"LATENTLAB_LANG\", 'es')" in config and "raise NotImplementedError" in config


def test_the_copy_is_valid_for_nbgrader(tmp_path):
    pytest.importorskip("nbgrader", reason="nbgrader is not installed: pip install 'latentlab[classroom]'")
    from nbgrader.nbgraderformat import MetadataValidator

    for lesson in classroom.graded_lessons():
        nb, _ = classroom.nbgrader_notebook(lesson)
        MetadataValidator().validate_nb(nb)


# ------------------------------------------------------------------------------------------------ bad input


def test_bad_input_gets_a_clear_error(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(classroom.ClassroomError, match="no course directory at .*init"):
        classroom.release(missing, 3)
    (tmp_path / "plain").mkdir()
    with pytest.raises(classroom.ClassroomError, match="not a course directory"):
        classroom.autograde(tmp_path / "plain", 3)
    with pytest.raises(classroom.ClassroomError, match=r"unknown lesson '99'; the lessons with exercises are 01"):
        classroom.find_lesson("99")
    assert classroom.find_lesson("lesson03") == classroom.find_lesson("adding_noise") == LESSON
    with pytest.raises(classroom.ClassroomError, match="lesson 00 .welcome. has no exercises"):
        classroom.find_lesson(0)
    course = tmp_path / "course"
    classroom.init(course, lessons=[LESSON])
    with pytest.raises(classroom.ClassroomError, match="has no lesson 05"):
        classroom.release(course, 5)
    folder = tmp_path / "hand-in"
    folder.mkdir()
    (folder / "dave.ipynb").write_text("this is not JSON")
    (folder / "erin.pdf").write_bytes(b"%PDF-1.4")
    nbformat.write(nbformat.v4.new_notebook(), folder / "frank.ipynb")
    with pytest.raises(classroom.ClassroomError) as err:
        classroom.import_submissions(course, 3, folder)
    message = str(err.value)
    assert "nothing imported, 3 file(s)" in message
    assert "dave.ipynb: not a readable notebook" in message and "erin.pdf: not a notebook" in message
    assert "frank.ipynb: not lesson 03's assignment" in message
    assert not (course / "submitted").exists()
    assert classroom.main(["grades", "--csv", "-", "-C", str(missing)]) == 1
    assert classroom.main(["autograde", "42", "-C", str(course)]) == 1


# ------------------------------------------------------------------------------------------------ end to end


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (nbgrader, its kernels)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _answers(nb, replace: dict[str, str]):
    """The release notebook with every answer filled in from the lesson's source (the solution),
    except the bodies in `replace` ({grade_id: code between the markers})."""
    source = nbformat.read(SOURCES / NOTEBOOK, as_version=4)
    solved = {}
    for cell in source.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid and cell.cell_type == "code":
            if gid in replace:
                head, rest = cell.source.split("    ### BEGIN SOLUTION\n", 1)
                _, tail = rest.split("    ### END SOLUTION\n", 1)
                solved[gid] = head + replace[gid] + "\n" + tail
            else:
                solved[gid] = strip_region(cell.source, gid)[1]
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in solved:
            cell.source = solved[gid]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    pytest.importorskip("nbgrader", reason="nbgrader is not installed: pip install 'latentlab[classroom]'")
    with pytest.MonkeyPatch.context() as patch:  # the English course, whatever LATENTLAB_LANG the suite runs with
        patch.setenv("LATENTLAB_LANG", "en")
        yield from _graded(tmp_path_factory)


def _graded(tmp_path_factory):
    start, cpu = time.perf_counter(), _cpu_seconds()
    root = tmp_path_factory.mktemp("classroom")
    course = root / "course"
    env = {"LATENTLAB_FAST": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    classroom.init(course, lessons=[LESSON])
    released = classroom.release(course, "03", quiet=True)
    release_nb = nbformat.read(released / NOTEBOOK, as_version=4)

    # alice: the solution, through the exchange, as a student does it (`nbgrader submit` in her own folder)
    home = root / "alice"
    (home / "lesson03").mkdir(parents=True)
    nbformat.write(_answers(release_nb, {}), home / "lesson03" / NOTEBOOK)
    student = dict(os.environ, **env)
    student["PATH"] = os.path.dirname(sys.executable) + os.pathsep + student.get("PATH", "")
    subprocess.run([sys.executable, "-m", "nbgrader", "submit", "lesson03", "--student=alice",
                    "--CourseDirectory.course_id=latentlab",
                    f"--Exchange.root={course / 'exchange'}"], cwd=home, env=student, check=True, capture_output=True)
    assert classroom.collect(course, 3, quiet=True) == ["alice"]

    # bob and carol: a folder of notebooks named by student id
    folder = root / "hand-in"
    folder.mkdir()
    nbformat.write(_answers(release_nb, {"ex03_2": MISTAKE}), folder / "bob.ipynb")
    nbformat.write(release_nb, folder / "carol.ipynb")   # untouched
    assert classroom.import_submissions(course, "lesson03", folder) == ["bob", "carol"]

    totals = classroom.autograde(course, 3, quiet=True, env=env)
    out = root / "grades.csv"
    assert classroom.main(["grades", "--csv", str(out), "-C", str(course)]) == 0
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    seconds = time.perf_counter() - start
    print(f"classroom end to end (init, release, submit, collect, import, autograde ×3, grades): {seconds:.1f} s, "
          f"{_cpu_seconds() - cpu:.1f} s of CPU")
    yield {"course": course, "totals": totals, "rows": rows, "seconds": seconds}


def test_scores_full_partial_and_zero(graded):
    scores = {row["student_id"]: (row["score"], row["max_score"]) for row in graded["totals"]}
    assert scores == {"alice": (4, 4), "bob": (3, 4), "carol": (0, 4)}   # three exercises and the quiz


def test_csv_has_one_row_per_student_and_exercise_with_the_checkers_feedback(graded):
    rows = graded["rows"]
    assert list(rows[0]) == list(classroom.CSV_FIELDS)
    table = {(r["student_id"], r["exercise"]): r for r in rows}
    items = ["ex03_1", "ex03_2", "ex03_3", "quiz03"]
    assert sorted(table) == [(s, item) for s in ("alice", "bob", "carol") for item in items]
    points = {key: (r["points"], r["max_points"]) for key, r in table.items()}
    assert points == {**{("alice", item): ("1", "1") for item in items},
                      ("bob", "ex03_1"): ("1", "1"), ("bob", "ex03_2"): ("0", "1"), ("bob", "ex03_3"): ("1", "1"),
                      ("bob", "quiz03"): ("1", "1"), **{("carol", item): ("0", "1") for item in items}}
    assert all(r["lesson"] == "lesson03" and r["kind"] == "auto" and r["needs_manual_grade"] == "no" for r in rows)
    mistake = table["bob", "ex03_2"]["feedback"]
    assert mistake.startswith("❌ q_sample") and "square root" in mistake and "Hint:" in mistake
    assert table["alice", "ex03_2"]["feedback"].startswith("✅ q_sample")
    assert table["bob", "ex03_1"]["feedback"].startswith("✅ compute_alpha_bar")
    assert all("not written yet" in table["carol", f"ex03_{n}"]["feedback"] for n in (1, 2, 3))
    assert "not answered yet" in table["carol", "quiz03"]["feedback"]

