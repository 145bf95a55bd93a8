"""Every function checker of the course, found through the lessons manifest (no hand list): each passes
its reference, names each of its mistakes, tells a stub kindly and never raises. And the manifest's
checker modules are what the notebooks call."""

import json
import textwrap

import pytest
from checker_suite import checker_tests, checkers_from_manifest

from latentlab.exercises import Mistake
from latentlab.lessons import LESSONS, NOTEBOOKS, load_manifest

globals().update(checker_tests(checkers_from_manifest(LESSONS)))

WITH_CHECKERS = [lesson for lesson in LESSONS if lesson.checker]


@pytest.mark.parametrize("lesson", WITH_CHECKERS, ids=[lesson.stem for lesson in WITH_CHECKERS])
def test_each_checker_module_imports_and_lists_its_checkers(lesson):
    module = lesson.checker_module()
    checkers = getattr(module, "CHECKERS", None)
    assert isinstance(checkers, list), f"{lesson.checker} has no CHECKERS list"
    # A lesson whose exercises are all questions, not functions, says why in WHY_NO_CHECKERS.
    assert checkers or getattr(module, "WHY_NO_CHECKERS", "").strip(), \
        f"{lesson.checker}: CHECKERS is empty and WHY_NO_CHECKERS gives no reason"
    for checker, reference, mistakes in checkers:
        assert checker.__name__.startswith("check_") and callable(reference)
        assert mistakes and all(isinstance(m, Mistake) and m.hint for m in mistakes), checker.__name__
    # Every checker the module defines gets tests: the standard ones (CHECKERS) or its own (OTHER_CHECKERS).
    defined = {name for name, value in vars(module).items()
               if name.startswith("check_") and callable(value) and value.__module__ == module.__name__}
    listed = {c.__name__ for c, _, _ in checkers} | {c.__name__ for c in getattr(module, "OTHER_CHECKERS", [])}
    assert defined == listed, f"{lesson.checker}: checkers defined but not listed: {sorted(defined - listed)}"


@pytest.mark.parametrize("lesson", WITH_CHECKERS, ids=[lesson.stem for lesson in WITH_CHECKERS])
def test_each_checker_a_lesson_calls_is_in_its_checker_module(lesson):
    notebook = NOTEBOOKS / f"{lesson.stem}.ipynb"
    if not notebook.is_file():
        pytest.skip(f"{notebook.name} is not generated yet")
    code = "\n".join("".join(cell["source"]) for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]
                     if cell["cell_type"] == "code")
    called = {word.split("(")[0] for word in code.replace(",", " ").split() if word.startswith("check_")}
    called -= {"check_quiz"}  # every lesson's quiz: latentlab.quiz, not the lesson's checker module
    module = lesson.checker_module()
    assert called, f"{notebook.name} calls no checker, yet the manifest names {lesson.checker}"
    assert all(hasattr(module, name) for name in called), \
        f"{notebook.name} calls {sorted(n for n in called if not hasattr(module, n))}, not in {lesson.checker}"


def _write_lesson_99(tmp_path, module: str, checkers: str) -> list:
    """A manifest with lesson 00 (no checker) and a lesson 99 whose checker module (a fresh name per
    test: imported modules are cached) holds `checkers`."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(f"""
        from latentlab.exercises import Mistake, check

        def double_reference(x):
            return 2 * x

        def check_double(student_fn, **kwargs):
            inputs = lambda generator: {{"x": float(generator.initial_seed() % 7 + 1)}}
            return check(student_fn, double_reference, inputs, MISTAKES, name="double", **kwargs)

        MISTAKES = [Mistake("x squared", "double it, x + x", lambda x: x * x)]
        {checkers}
        """), encoding="utf-8")
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(textwrap.dedent(f"""
        [[lesson]]
        number = 0
        slug = "welcome"
        title = "Welcome"
        learn = "nothing to check"

        [[lesson]]
        number = 99
        slug = "throwaway"
        title = "Throwaway"
        learn = "doubling"
        checker = "{module}"
        """), encoding="utf-8")
    return load_manifest(manifest)


def test_checkers_come_from_any_manifest(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    lessons = _write_lesson_99(tmp_path, "lesson99_listed", "CHECKERS = [(check_double, double_reference, MISTAKES)]")
    [(checker, reference, mistakes)] = checkers_from_manifest(lessons)
    assert checker.__name__ == "check_double" and reference(3) == 6 and mistakes[0].name == "x squared"
    assert checker(lambda x: x * x, quiet=True).mistake == "x squared"
    assert checker(reference, quiet=True).passed


def test_a_checker_module_without_checkers_is_named(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    lessons = _write_lesson_99(tmp_path, "lesson99_unlisted", "")
    with pytest.raises(ValueError, match=r"lesson 99 \(throwaway\).*lesson99_unlisted.*CHECKERS"):
        checkers_from_manifest(lessons)
