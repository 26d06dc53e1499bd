"""How the Markdown tables write a number: the one home of "the number, or – when there is none". It
sits below evaluation and reporting, which both write tables.

The evaluation's `results.md` and `latency.md` and the report's `summary.md` all write their numbers
here, so a missing value (None, or NaN: a metric with nothing to average) reads the same in every
table, and mean ± sd over seeds is written one way.
"""

from __future__ import annotations

import math
from typing import Any

NO_NUMBER = "–"  # an en dash


def missing(x: Any) -> bool:
    """No number to write: None, or a float NaN."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x: Any, scale: float = 1, digits: int = 1, *, counts: bool = False) -> str:
    """`x · scale` with `digits` decimals, or "–" when there is no number. `counts=True`: a value that
    is not a float (an int count) is written as it is, without decimals."""
    if x is None:
        return NO_NUMBER
    if scale != 1:  # unscaled values keep their type: an int stays a count
        x = x * scale
    if missing(x):
        return NO_NUMBER
    if counts and not isinstance(x, float):
        return str(x)
    return f"{x:.{digits}f}"


def cell_text(x: Any, digits: int = 2) -> str:
    """`num` for the evaluation's tables, whose columns mix measurements with counts: two decimals by
    default, and a count written as it is."""
    return num(x, digits=digits, counts=True)


def pm(mean: Any, sd: Any, scale: float = 1, digits: int = 1) -> str:
    """`mean ± sd`, both scaled and with `digits` decimals: the mean alone when there is no sd (a
    single seed), "–" when there is no mean."""
    if missing(mean):
        return NO_NUMBER
    return num(mean, scale, digits) + ("" if missing(sd) else f" ± {num(sd, scale, digits)}")


def count(n: int, noun: str) -> str:
    """`n noun`, the noun plural unless n is 1 ("1 warm start", "3 warm starts")."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
