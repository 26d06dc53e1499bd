"""The shared answer checker: extraction, normalisation and math-verify equivalence."""

from __future__ import annotations

import threading

import pytest

from hawkeye.answers import answers_match, canonical_answer, exact_match, extract_answer, spell_out_e_notation

EXTRACT_CASES = [
    ("So the total is \\boxed{42}.", "42"),
    ("First \\boxed{3}, then corrected: \\boxed{5}", "5"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("answer \\boxed{\\frac{\\sqrt{3}}{2}} done", "\\frac{\\sqrt{3}}{2}"),
    ("The result is $\\boxed 5$.", "5"),
    ("\\fbox{7}", "7"),
    ("Natalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72", "72"),
    ("#### 1,000", "1,000"),
    ("The answer is 18.", "18"),
    ("So the final answer is $-3$. Thanks", "$-3$"),
    ("Answer: 3.5", "3.5"),
    ("The answer is 4. Wait, no. The answer is 6.", "6"),
    ("#### 9\nThe answer is 10", "9"),  # `####` outranks a later prose statement
    ("\\boxed{8} and #### 9", "8"),  # \boxed outranks everything
    ("I think about 12 apples and 13 pears", None),
    ("", None),
    ("\\boxed{", None),  # cut off inside the box
    # stated answers without "the", in markdown, or under a heading
    ("So answer is 7.", "7"),
    ("**Answer:** 7", "7"),
    ("**Answer**: 7", "7"),
    ("Answer: **7**", "7"),
    ("Final Answer\n7", "7"),
    ("## Final Answer\n\n$7$", "$7$"),
    ("The answer isn't 5", None),
    # a stated number followed by prose is the number; math words are not prose
    ("The answer is 18 because 16-3-4=9 and 9*2=18 dollars", "18"),
    ("the answer is 1,800, since 18*100 = 1800", "1,800"),
    ("The answer is 4 pi.", "4 pi"),
    ("The answer is (1, 2).", "(1, 2)"),
    # scientific e-notation is one number, boxed or stated
    ("So \\boxed{1.5e-2}", "1.5e-2"),
    ("The answer is 2E+5 atoms.", "2E+5"),
    ("The answer is -3.2e4 because the sign flips", "-3.2e4"),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACT_CASES)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


def test_extract_fallback_last_number() -> None:
    assert extract_answer("12 apples and 13 pears", fallback_last_number=True) == "13"
    assert extract_answer("no digits at all", fallback_last_number=True) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so the total is 1e3", "1e3"),
        ("about 1.5e-2 of it", "1.5e-2"),
        ("2E+5 cells", "2E+5"),
        ("it ends at -3.2e4.", "-3.2e4"),
        ("7 then 1e3x", "3"),  # "1e3x" is no e-notation number: its exponent runs into a word
    ],
)
def test_extract_fallback_last_number_in_e_notation(text: str, expected: str) -> None:
    assert extract_answer(text, fallback_last_number=True) == expected


MATCH_CASES = [
    # (gold, pred, equal?)
    ("0.5", "\\frac{1}{2}", True),
    ("1/2", "0.5", True),
    ("\\frac{1}{2}", "1/2", True),
    ("\\frac{1}{2}", "\\dfrac{1}{2}", True),
    ("\\frac{1}{3}", "0.5", False),
    ("1/2", "1/3", False),
    ("1000", "1,000", True),
    ("1,000", "1000", True),
    ("1000", "100", False),
    ("1234567", "1,234,567", True),
    ("-3", "-3", True),
    ("-3", "3", False),
    ("3", "-3", False),
    ("50", "50%", True),
    ("50", "50\\%", True),
    ("50", "5", False),
    ("18", "$18", True),
    ("18", "\\$18.00", True),
    ("18", "18 dollars", True),
    ("5", "5 apples", True),
    ("12", "12\\text{ cm}", True),
    ("90", "90^\\circ", True),
    ("079", "79", True),
    ("79", "079", True),
    ("079", "97", False),
    ("2\\sqrt{2}", "\\sqrt{8}", True),
    ("\\pi", "3.14", False),
    ("x=5", "5", True),
    ("5", "x = 5", True),
    ("7", "7.", True),
    ("3.5", "7/2", True),
    ("4", "four", False),
    ("4", "", False),
    ("4", None, False),
    ("10", "10.0", True),
    ("10", "\\!10", True),
    # scientific e-notation, in the gold or in the prediction (math-verify alone reads "1e3" as 3e)
    ("1e3", "1000", True),
    ("1000", "1e3", True),
    ("1.5e-2", "0.015", True),
    ("0.015", "1.5e-2", True),
    ("2E+5", "200000", True),
    ("200000", "2E+5", True),
    ("-3.2e4", "-32000", True),
    ("-32000", "-3.2e4", True),
    ("1e-3", "\\frac{1}{1000}", True),
    ("1e3", "10^{3}", True),
    ("3", "3e0", True),
    ("1000", "1e3 apples", True),
    ("(1e3, 2e-1)", "(1000, 0.2)", True),
    ("1e3", "1003", False),
    ("1003", "1e3", False),
    ("1e3", "-1000", False),
    ("1.5e-2", "1.5", False),
    ("1.5", "1.5e-2", False),
    ("e3", "1000", False),  # an identifier, not a number
    ("1000", "e3", False),
    ("1000", "1e3x", False),
    ("1e3", "e", False),
    ("1000", "one thousand", False),
    ("2e", "2e", True),  # 2 times Euler's number stays that
    ("1e400", "1e400", True),  # too big to spell out: equal only to itself
    ("1000", "1e999999999", False),
]


@pytest.mark.parametrize(("gold", "pred", "equal"), MATCH_CASES)
def test_answers_match(gold: str, pred: str | None, equal: bool) -> None:
    assert answers_match(gold, pred) is equal


def test_answers_match_never_raises() -> None:
    assert answers_match("\\frac{", "}{{") is False
    assert answers_match("1", object()) is False  # type: ignore[arg-type]


def test_answers_match_off_main_thread() -> None:
    # math-verify's SIGALRM timeout would raise off the main thread; the checker disables it.
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.append(answers_match("1/2", "0.5")))
    worker.start()
    worker.join()
    assert results == [True]


def test_spell_out_e_notation() -> None:
    assert spell_out_e_notation("1.50e1") == "15"
    assert spell_out_e_notation("(1e3, -2E-1)") == "(1000, -0.2)"
    assert spell_out_e_notation("e3 + 2e + x1e3 + 1e3x") == "e3 + 2e + x1e3 + 1e3x"  # no mantissa, or glued
    assert spell_out_e_notation("1e300") == "1" + "0" * 300
    assert spell_out_e_notation("1e301") is None  # a megabyte of zeros would be no answer
    assert spell_out_e_notation("1e-301") is None


def test_canonical_answer() -> None:
    assert canonical_answer(" $1,234.00$. ") == "1234"
    assert canonical_answer("\\$18 per hour") == "18"
    assert canonical_answer("-007") == "-7"


@pytest.mark.parametrize(
    ("text", "gold", "score"),
    [
        ("6 + 4 = 10, so \\boxed{10}", "10", 1.0),
        ("6 + 4 = 10, so \\boxed{11}", "10", 0.0),
        ("6 + 4 = 10", "10", 1.0),  # last-number fallback
        ("no answer here", "10", 0.0),
        ("The answer is \\frac{3}{4}.", "0.75", 1.0),
    ],
)
def test_exact_match(text: str, gold: str, score: float) -> None:
    assert exact_match(text, gold) == score


def test_exact_match_without_fallback() -> None:
    assert exact_match("6 + 4 = 10", "10", fallback_last_number=False) == 0.0
