"""latentlab.strict_json: what the CLI prints parses with any JSON parser (no NaN/Infinity)."""

import json
import math

from latentlab.strict_json import dumps


def _strict_loads(text: str):
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_with_their_reason():
    value = {"psnr": math.inf, "stats": {"std": [0.5, math.nan], "min": -math.inf}, "ok": 1.5, "name": "x"}
    out = _strict_loads(dumps(value, indent=2))
    assert out["psnr"] is None and out["stats"]["std"] == [0.5, None] and out["stats"]["min"] is None
    assert out["ok"] == 1.5 and out["name"] == "x"
    assert out["null_reasons"] == {"psnr": "was +Infinity", "stats.std[1]": "was NaN", "stats.min": "was -Infinity"}


def test_finite_results_are_unchanged_and_get_no_reasons_field():
    value = {"rows": [{"ms": 1.25, "shape": (4, 8, 8)}], "flag": True, "none": None}
    assert _strict_loads(dumps(value)) == {"rows": [{"ms": 1.25, "shape": [4, 8, 8]}], "flag": True, "none": None}
    assert value["rows"][0]["shape"] == (4, 8, 8)  # the caller's object is not modified
