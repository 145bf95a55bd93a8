"""latentlab.bench.interleaved_medians: every callable timed once per repeat, in alternating order."""

import pytest

from latentlab.bench import interleaved_medians


def test_interleaved_medians_alternates_the_order_and_skips_the_warmup():
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in ("a", "b", "c")}
    medians = interleaved_medians(fns, repeats=3, warmup=1)
    assert calls == ["a", "b", "c", "c", "b", "a", "a", "b", "c", "c", "b", "a"]
    assert set(medians) == {"a", "b", "c"} and all(m >= 0 for m in medians.values())


def test_interleaved_medians_rejects_no_repeats():
    with pytest.raises(ValueError, match="repeats"):
        interleaved_medians({"a": lambda: None}, repeats=0)
