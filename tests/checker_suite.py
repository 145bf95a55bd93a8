"""The tests every function checker of `latentlab.exercises` gets, written once.

    globals().update(checker_tests(CHECKERS, IDS))   # in a test module

CHECKERS: [(checker, reference, mistakes)]. Each checker must pass its reference, catch and name each
of its mistakes with a hint, tell a stub that returns None kindly, and report (never raise) a
student's own error."""

import pytest


def checker_tests(checkers, ids) -> dict:
    cases = [(checker, m) for (checker, _, mistakes) in checkers for m in mistakes]
    only_checkers = [c for c, _, _ in checkers]

    @pytest.mark.parametrize("checker, reference", [(c, r) for c, r, _ in checkers], ids=ids)
    def test_reference_solution_passes(checker, reference, capsys):
        result = checker(reference)
        assert result.passed and result.mistake is None
        assert "✅" in capsys.readouterr().out

    @pytest.mark.parametrize("checker, mistake", cases, ids=[f"{c.__name__}-{m.name}" for c, m in cases])
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
