"""The course's exercise checkers: the `check`/`Mistake` framework (`core.py`) and one module per
lesson (`lesson01.py` …), each listing its function checkers in `CHECKERS` for the test suite.

In a notebook, import a lesson's checkers from its module:

    from latentlab.exercises.lesson03 import check_q_sample
"""

from __future__ import annotations

from .core import CheckResult, Mistake, check

__all__ = ["CheckResult", "Mistake", "check"]
