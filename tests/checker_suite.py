"""The tests every function checker of `latentlab.exercises` gets, written once, and the checkers
found through the lessons manifest.

    globals().update(checker_tests(checkers_from_manifest(LESSONS)))   # in a test module

A checker entry is (checker, reference, mistakes), as a lesson module lists them in `CHECKERS`. Each
checker must pass its reference, catch and name each of its mistakes with a hint, tell a stub that
returns None kindly, and report (never raise) a student's own error."""

import pytest

from latentlab.lessons import Lesson


def checkers_from_manifest(lessons: list[Lesson]) -> list[tuple]:
    """Every (checker, reference, mistakes) of every lesson in `lessons` that names a checker module,
    in lesson order. A module without a `CHECKERS` list raises a ValueError naming the lesson."""
    found = []
    for lesson in lessons:
        module = lesson.checker_module()
        if module is None:
            continue
        checkers = getattr(module, "CHECKERS", None)
        if not isinstance(checkers, list):
            raise ValueError(f"lesson {lesson.number:02d} ({lesson.slug}): its checker module {lesson.checker} has "
                             f"no CHECKERS list; add CHECKERS = [(check_fn, reference_fn, MISTAKES), ...]")
        found.extend(checkers)
    return found


def checker_id(checker) -> str:
    """'q_sample' for check_q_sample: the test id of a checker."""
    return checker.__name__.removeprefix("check_")


def checker_tests(checkers, ids=None) -> dict:
    """The four standard tests, parametrised over `checkers`; put them in a test module's globals."""
    ids = ids or [checker_id(c) for c, _, _ in checkers]
    cases = [(checker, m) for (checker, _, mistakes) in checkers for m in mistakes]
    only_checkers = [c for c, _, _ in checkers]
    # Two mistakes may share a name (ᾱ indexed one step early or late): the index keeps their ids apart.
    mistake_ids = [f"{checker_id(c)}-{i}-{m.name}" for c, _, mistakes in checkers for i, m in enumerate(mistakes)]

    @pytest.mark.parametrize("checker, reference", [(c, r) for c, r, _ in checkers], ids=ids)
    def test_reference_solution_passes(checker, reference, capsys):
        result = checker(reference)
        assert result.passed and result.mistake is None
        assert "✅" in capsys.readouterr().out

    @pytest.mark.parametrize("checker, mistake", cases, ids=mistake_ids)
    def test_each_named_mistake_is_caught_and_named(checker, mistake, capsys):
        result = checker(mistake.fn)
        assert not result.passed
        assert result.mistake == mistake.name
        out = capsys.readouterr().out
        assert "❌" in out and mistake.name in out and "Hint:" in out

    @pytest.mark.parametrize("checker", only_checkers, ids=ids)
    def test_a_stub_returning_none_is_told_kindly(checker, capsys):
        def stub(*args, **kwargs):
            # your code here
            return None

        result = checker(stub)
        assert not result.passed and "not written yet" in result.message
        assert "❌" in capsys.readouterr().out

    @pytest.mark.parametrize("checker", only_checkers, ids=ids)
    def test_a_crashing_function_is_reported_not_raised(checker, capsys):
        def crashes(*args, **kwargs):
            return 1 / 0

        result = checker(crashes)
        assert not result.passed and "ZeroDivisionError" in result.message
        assert "Traceback" not in capsys.readouterr().out

    return {f.__name__: f for f in (test_reference_solution_passes, test_each_named_mistake_is_caught_and_named,
                                    test_a_stub_returning_none_is_told_kindly,
                                    test_a_crashing_function_is_reported_not_raised)}
