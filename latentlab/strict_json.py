"""JSON that other programs can read: no NaN or Infinity, which Python's `json` writes by default
but the JSON standard (RFC 8259) and most parsers (JavaScript's, jq's) refuse.

A non-finite number becomes null, and the object gains a "null_reasons" field that says, for each
such place (a dotted path, list items in brackets), what the number was: the PSNR of a perfect
reconstruction is +Infinity, the spread of a single value is NaN.

    dumps({"psnr": float("inf"), "stats": {"std": [0.5, float("nan")]}})
    → {"psnr": null, "stats": {"std": [0.5, null]},
       "null_reasons": {"psnr": "was +Infinity", "stats.std[1]": "was NaN"}}

Every JSON the command line prints, and every result file it writes, goes through `dumps`.
"""

from __future__ import annotations

import json
import math


def _finite(obj, path: str, reasons: dict[str, str]):
    """`obj` with every non-finite float replaced by None, noting each in `reasons` by path."""
    if isinstance(obj, float) and not math.isfinite(obj):
        reasons[path or "(the value)"] = "was NaN" if math.isnan(obj) else f"was {'+' if obj > 0 else '-'}Infinity"
        return None
    if isinstance(obj, dict):
        return {key: _finite(value, f"{path}.{key}" if path else str(key), reasons) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value, f"{path}[{i}]", reasons) for i, value in enumerate(obj)]
    return obj


def dumps(obj, indent: int | None = None) -> str:
    """`json.dumps` that never writes NaN/Infinity: null plus a "null_reasons" field (see above).

    A top-level value that is not an object gets no reasons field (there is nowhere to put it)."""
    reasons: dict[str, str] = {}
    clean = _finite(obj, "", reasons)
    if reasons and isinstance(clean, dict):
        clean["null_reasons"] = reasons
    return json.dumps(clean, indent=indent, allow_nan=False)


__all__ = ["dumps"]
