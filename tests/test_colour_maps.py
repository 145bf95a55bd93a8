"""Colours that carry meaning use a colour-blind-safe map: every map a widget names is in the kit's list,
and the kit refuses any other (so a new widget cannot slip in a rainbow)."""

import ast
from pathlib import Path

import numpy as np
import pytest

from latentlab.widgets import kit

WIDGETS = Path(kit.__file__).parent


def test_every_colour_map_a_widget_names_is_colour_blind_safe():
    named = []
    for path in WIDGETS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("colormap", "heatmap_png"):
                args = list(node.args[3:4]) + [k.value for k in node.keywords if k.arg == "name"]
                named += [(path.name, a.value) for a in args if isinstance(a, ast.Constant)]
    assert named, "no widget names a colour map: the scan is broken"
    assert all(name in kit.COLOUR_BLIND_SAFE for _, name in named), named


def test_the_kit_refuses_a_rainbow():
    with pytest.raises(ValueError, match="colour-blind-safe"):
        kit.colormap(np.zeros((2, 2)), 0.0, 1.0, "jet")
    assert kit.colormap(np.zeros((2, 2)), 0.0, 1.0).shape == (2, 2, 3)  # the default (magma) is safe
