"""The lesson as the unit: the manifest, the sources and the notebooks generated from them.

A lesson is a source notebook, a checker module and one manifest entry; everything that lists lessons
(README, lesson 00's map, the notebook tests, the checker suite, the widget bench, `latentlab lab`)
reads the manifest. The last test adds a throwaway lesson 99 the way a newcomer would and checks that
it shows up everywhere with no other edit."""

import shutil
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from latentlab import cli
from latentlab.lessons import LESSONS, MANIFEST, SOURCES, lesson_notebooks, lesson_table, load_manifest
from latentlab.lessons.build import BEGIN, END, LessonSourceError, build, strip_region, student_and_solution

ROOT = Path(__file__).resolve().parent.parent


def test_generated_notebooks_and_readme_are_up_to_date():
    stale = build(check=True)
    assert stale == [], f"stale generated files: {stale}; run `latentlab lessons build`"
    assert cli.main(["lessons", "build", "--check"]) == 0


def _copy_course(tmp_path: Path) -> dict:
    shutil.copytree(SOURCES, tmp_path / "sources")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    return {"sources": tmp_path / "sources", "notebooks": tmp_path / "notebooks", "readme": tmp_path / "README.md"}


def test_editing_a_source_without_rebuilding_is_caught(tmp_path):
    where = _copy_course(tmp_path)
    assert build(check=True, **where) == []
    path = where["sources"] / f"{LESSONS[3].stem}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source += "\n\nA sentence added to the source."
    nbformat.write(nb, path)
    stale = build(check=True, **where)
    assert where["notebooks"] / f"{LESSONS[3].stem}.ipynb" in stale
    assert build(**where) and build(check=True, **where) == []  # rebuilding fixes it


def test_check_via_the_cli_fails_on_a_stale_notebook(tmp_path, monkeypatch, capsys):
    where = _copy_course(tmp_path)
    (where["notebooks"] / f"{LESSONS[1].stem}.ipynb").write_text("{}", encoding="utf-8")
    import latentlab.lessons.build as build_module

    monkeypatch.setattr(build_module, "SOURCES", where["sources"])
    monkeypatch.setattr(build_module, "NOTEBOOKS", where["notebooks"])
    monkeypatch.setattr(build_module, "README", where["readme"])
    monkeypatch.setattr(build_module.targets, "__defaults__",
                        (None, where["sources"], where["notebooks"], where["readme"]))
    assert cli.main(["lessons", "build", "--check"]) == 1
    assert "stale" in capsys.readouterr().err


def test_student_notebooks_hold_no_solution_and_solutions_no_markers():
    for lesson in LESSONS:
        source = nbformat.read(SOURCES / f"{lesson.stem}.ipynb", as_version=4)
        student = nbformat.read(ROOT / "notebooks" / f"{lesson.stem}.ipynb", as_version=4).cells
        regions = [c for c in source.cells if BEGIN in c.source]
        if not regions:
            continue
        solution = nbformat.read(ROOT / "notebooks" / "solutions" / f"{lesson.stem}_solutions.ipynb", as_version=4)
        assert all(BEGIN not in c.source and END not in c.source for c in student + solution.cells)
        for cell in regions:
            answer = cell.source.split(BEGIN, 1)[1].split(END, 1)[0]
            key_lines = [line.strip() for line in answer.split("\n") if line.strip() and not line.strip().startswith("#")]
            text = "\n".join(c.source for c in student)
            assert not any(line in text for line in key_lines if len(line) > 25), f"{lesson.stem}: an answer leaked"
        # every solution region carries nbgrader's metadata, with a unique grade id, for the classroom
        ids = [c.metadata["nbgrader"]["grade_id"] for c in regions]
        assert len(ids) == len(set(ids)) and all(c.metadata["nbgrader"]["solution"] for c in regions)


def test_a_region_becomes_a_stub_at_its_indentation():
    source = f"def f(x):\n    {BEGIN}\n    return 2 * x\n    {END}\n\ncheck(f)"
    student, solution = strip_region(source, "test")
    assert student == "def f(x):\n    # your code here\n    raise NotImplementedError\n\ncheck(f)"
    assert solution == "def f(x):\n    return 2 * x\n\ncheck(f)"
    top_level, _ = strip_region(f"answer = None\n{BEGIN}\nanswer = 3\n{END}", "test")
    assert top_level == "answer = None\n# your code here"   # no raise at top level: the checker must run


@pytest.mark.parametrize("source, problem", [
    (f"{BEGIN}\nx = 1", "never closed"),
    (f"x = 1\n{END}", "without"),
    (f"{BEGIN}\n{BEGIN}\n{END}", "inside another"),
])
def test_unbalanced_markers_are_refused_with_the_place(source, problem):
    with pytest.raises(LessonSourceError, match=problem) as info:
        strip_region(source, "lesson 42, cell 7")
    assert "cell 7" in str(info.value)


def test_a_whole_solution_cell_becomes_an_answer_cell():
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_markdown_cell("Because attention is quadratic.")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "q1", "locked": False,
                                   "schema_version": 3, "task": False}
    nb.cells = [nbformat.v4.new_markdown_cell("# 42 · Test"), answer]
    student, solution = student_and_solution(nb, LESSONS[1])
    assert "quadratic" not in student.cells[1].source and "answer here" in student.cells[1].source
    assert solution.cells[2].source == "Because attention is quadratic."
    assert "nbgrader" not in solution.cells[2].metadata


def test_readme_table_is_the_manifest():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert lesson_table(LESSONS) in readme
    assert "coming soon" not in readme.lower()


def test_a_manifest_with_a_bad_entry_names_the_field(tmp_path):
    bad = tmp_path / "manifest.toml"
    bad.write_text('[[lesson]]\nnumber = "one"\nslug = "x"\ntitle = "X"\nlearn = "x"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="'number' should be a int"):
        load_manifest(bad)
    bad.write_text('[[lesson]]\nnumber = 1\nslug = "x"\ntitle = "X"\nlearn = "x"\ncolour = "red"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown field"):
        load_manifest(bad)


def test_lab_opens_the_first_lesson_of_the_manifest(monkeypatch):
    import subprocess

    seen = {}
    monkeypatch.setattr(subprocess, "call", lambda command, cwd: seen.update(command=command) or 0)
    assert cli.main(["lab"]) == 0
    assert any(arg.endswith(f"{LESSONS[0].stem}.ipynb") for arg in seen["command"])


LESSON_99_CHECKER = '''
from latentlab.exercises import Mistake, check

def double_reference(x):
    return 2 * x

MISTAKES = [Mistake("squared", "double, not square", lambda x: x * x)]

def check_double(student_fn, **kwargs):
    import torch
    return check(student_fn, double_reference, lambda g: {"x": torch.randn(3, generator=g)}, MISTAKES, **kwargs)

CHECKERS = [(check_double, double_reference, MISTAKES)]
'''


def test_a_new_lesson_is_three_things(tmp_path, monkeypatch, capsys):
    """Lesson 99 = a source + a checker module + a manifest entry; nothing else is edited."""
    where = _copy_course(tmp_path)
    package = tmp_path / "lesson99pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "lesson99.py").write_text(textwrap.dedent(LESSON_99_CHECKER))
    monkeypatch.syspath_prepend(str(tmp_path))
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(MANIFEST.read_text(encoding="utf-8") + textwrap.dedent('''
        [[lesson]]
        number = 99
        slug = "throwaway"
        title = "A throwaway lesson"
        learn = "that adding a lesson touches three places"
        checker = "lesson99pkg.lesson99"
        apps = []
        '''), encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    exercise = nbformat.v4.new_code_cell(
        f"from lesson99pkg.lesson99 import check_double\n\ndef double(x):\n    {BEGIN}\n    return 2 * x\n    {END}\n\n"
        "check_double(double)")
    exercise.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "ex99_1", "locked": False,
                                     "schema_version": 3, "task": False}
    nb.cells = [nbformat.v4.new_markdown_cell("# 99 · A throwaway lesson"), exercise]
    nbformat.write(nb, where["sources"] / "99_throwaway.ipynb")

    lessons = load_manifest(manifest)
    assert lessons[-1].stem == "99_throwaway"
    written = build(lessons=lessons, **where)
    # the student and solution notebooks and README's table
    assert where["notebooks"] / "99_throwaway.ipynb" in written
    assert where["notebooks"] / "solutions" / "99_throwaway_solutions.ipynb" in written
    assert "| `99_throwaway` | A throwaway lesson |" in where["readme"].read_text(encoding="utf-8")
    # the notebook tests
    assert where["notebooks"] / "99_throwaway.ipynb" in lesson_notebooks(lessons, where["notebooks"])
    # lesson 00's map
    from latentlab.lessons import show_lesson_map

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    show_lesson_map(here=where["notebooks"], lessons=lessons)
    assert "A throwaway lesson" in shown[0] and "99_throwaway.ipynb" in shown[0]
    # the checker suite
    sys.path.insert(0, str(ROOT / "tests"))
    from checker_suite import checkers_from_manifest

    checkers = checkers_from_manifest(lessons)
    names = [checker.__name__ for checker, _, _ in checkers]
    assert "check_double" in names
    checker, reference, mistakes = checkers[names.index("check_double")]
    assert checker(reference).passed and checker(mistakes[0].fn).mistake == "squared"
    capsys.readouterr()
