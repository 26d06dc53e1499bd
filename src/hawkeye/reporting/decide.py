"""How the report turns an interval into words: the one home of every decision rule.

Each verdict reads the nested 95% interval (warm starts, seeds, questions: `evaluation.nested`), never the
point estimate, and says "cannot tell" when the interval straddles the line it judges:

- a difference is a difference only when its interval excludes 0;
- "within m points" holds only when the interval's lower bound is >= -m, and fails only when its upper
  bound is below -m;
- "at least t" (a reduction in tokens) holds only when the lower bound is >= t, and fails only when the upper
  bound is below t;
- and every verdict rests on at least `MIN_WARM_STARTS` independent warm starts. With fewer, the interval
  leaves out (one warm start) or barely samples (two) the spread between warm-started models, which moved the
  testbed's default arm by 5 points between two machines: such a run says "cannot tell", whatever its interval.
"""

from __future__ import annotations

from hawkeye.fmt import count

YES, NO, CANNOT_TELL = "yes", "no", "cannot tell"
MIN_WARM_STARTS = 3


def replicated(answer: str, n_warm_starts: int) -> str:
    """`answer` when it rests on at least `MIN_WARM_STARTS` warm starts, else cannot tell."""
    return answer if n_warm_starts >= MIN_WARM_STARTS else CANNOT_TELL


def too_few_warm_starts(n_warm_starts: int) -> str:
    """Why a verdict was withheld, or "" when it was not."""
    if n_warm_starts >= MIN_WARM_STARTS:
        return ""
    return f"{count(n_warm_starts, 'warm start')}; a verdict needs {MIN_WARM_STARTS}, as `make replicate` runs"


def at_least(low: float | None, high: float | None, threshold: float) -> str:
    """Is the quantity >= threshold? yes / no / cannot tell, by the interval [low, high] (none: cannot tell)."""
    if low is None or high is None or low != low or high != high:
        return CANNOT_TELL
    if low >= threshold:
        return YES
    return NO if high < threshold else CANNOT_TELL


def within(low: float | None, high: float | None, margin: float) -> str:
    """Is a difference no worse than -margin? (the target's "within m points")."""
    return at_least(low, high, -margin)


def difference(low: float | None, high: float | None) -> str:
    """"higher", "lower", or "cannot tell" (the interval contains 0, or there is none)."""
    if low is None or high is None or low != low or high != high:
        return CANNOT_TELL
    if low > 0:
        return "higher"
    return "lower" if high < 0 else CANNOT_TELL


def combine(*answers: str) -> str:
    """All must hold: no if any fails, yes if all hold, else cannot tell."""
    if NO in answers:
        return NO
    return YES if all(a == YES for a in answers) else CANNOT_TELL
