"""How the Markdown tables write numbers (`hawkeye.fmt`): the number, or an en dash."""

from __future__ import annotations

import math
import re

from hawkeye.fmt import cell_text, num, pm
from hawkeye.paths import REPO_ROOT
from hawkeye.tracking import names


def test_a_missing_number_is_an_en_dash() -> None:
    for missing in (None, math.nan):
        assert num(missing) == num(missing, 100) == cell_text(missing) == pm(missing, 0.1) == "–"


def test_num_scales_then_rounds() -> None:
    assert num(0.1234) == "0.1" and num(0.1234, 100) == "12.3" and num(0.1234, digits=3) == "0.123"
    assert num(-0.005, 100, 2) == "-0.50"
    assert num(7) == "7.0" and num(7, 100) == "700.0"  # a count still gets its decimals


def test_cell_text_writes_a_count_as_it_is() -> None:
    assert cell_text(0.5) == "0.50" and cell_text(2.0, 0) == "2"
    assert cell_text(12) == "12" and num(3, 100, counts=True) == "300"


def test_pm_writes_the_spread_only_when_there_is_one() -> None:
    assert pm(0.5, 0.1234, 100) == "50.0 ± 12.3"
    assert pm(0.5, 0.1234, digits=2) == "0.50 ± 0.12"
    assert pm(0.5, math.nan, 100) == pm(0.5, None, 100) == "50.0"  # a single seed: no spread


def test_the_readme_lists_every_metric_prefix() -> None:
    """The README's list of MLflow prefixes is the one in `tracking.names`."""
    prefixes = {v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}
    listed = set(re.findall(r"`(\w+)/`", (REPO_ROOT / "README.md").read_text()))
    assert prefixes <= listed, sorted(prefixes - listed)
