"""The checker framework itself (`latentlab.exercises.core`), as a new lesson's checkers will use it."""

import pytest
import torch

from latentlab.exercises import CheckResult, Mistake, check


def _inputs(generator):
    return {"x": torch.randn(3, generator=generator)}


def test_generic_check_on_a_new_exercise():
    mistake = Mistake("a doubled value", "halve it", lambda x: 2 * x)

    assert check(lambda x: x.clone(), lambda x: x, _inputs, [mistake], quiet=True).passed
    assert check(lambda x: 2 * x, lambda x: x, _inputs, [mistake], quiet=True).mistake == "a doubled value"
    assert not check(lambda x: 3 * x, lambda x: x, _inputs, [mistake], quiet=True)


def test_a_mistake_that_raises_is_named_by_its_error(capsys):
    """A bug that crashes (a missing reshape) is named when the mistake crashes with the same error."""
    def unreshaped(x, scale):  # (2,) against (2, 3, 4): the classic missing reshape to (2, 1, 1)
        return scale * x

    def inputs(generator):
        return {"x": torch.randn(2, 3, 4, generator=generator), "scale": torch.rand(2, generator=generator)}

    mistake = Mistake("scale not reshaped", "reshape it to (B, 1, 1)", unreshaped)
    result = check(unreshaped, lambda x, scale: scale[:, None, None] * x, inputs, [mistake])
    assert isinstance(result, CheckResult) and not result.passed and result.mistake == "scale not reshaped"
    out = capsys.readouterr().out
    assert "Hint: reshape it to (B, 1, 1)" in out and "RuntimeError" in out and "Traceback" not in out
    other_error = check(lambda x, scale: x @ scale, lambda x, scale: scale[:, None, None] * x, inputs, [mistake],
                        quiet=True)
    assert other_error.mistake is None and "raised RuntimeError" in other_error.message


def test_a_mistake_with_its_hint_and_function_swapped_is_refused():
    with pytest.raises(TypeError, match="'squared'.*swapped"):
        Mistake("squared", lambda x: x * x, "double, not square")
