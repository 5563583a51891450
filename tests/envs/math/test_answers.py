"""The strict answer extractors, gold normalization, and both on hostile input."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from palaestra.envs.math.answers import extract_answer, extract_boxed, normalize_gold


@pytest.mark.parametrize(
    ("text", "mode", "expected"),
    [
        ("so \\boxed{42}.", "boxed", "42"),
        ("first \\boxed{1} then \\boxed{\\frac{1}{2}}", "boxed", "\\frac{1}{2}"),
        ("\\boxed{\\{1, \\{2\\}\\}}", "boxed", "\\{1, \\{2\\}\\}"),
        ("\\fbox{7}", "boxed", "7"),
        ("\\boxed{unclosed", "boxed", None),
        ("\\boxed{}", "boxed", None),
        ("Answer: 12 apples.", "answer_line", "12 apples"),
        ("Final answer: x = 3", "answer_line", "x = 3"),
        ("blah\n#### 1,234", "answer_line", "1,234"),
        ("The answer is 4", "answer_line", None),
        ("I think 3, no, 17.", "last_number", "17"),
        ("-0.5 is it", "last_number", "-0.5"),
        ("no digits", "last_number", None),
        ("", "boxed", None),
    ],
)
def test_extract(text: str, mode: str, expected: str | None) -> None:
    assert extract_answer(text, mode) == expected  # type: ignore[arg-type]


def test_auto_is_not_an_extractor_here() -> None:
    with pytest.raises(ValueError, match="math-verify extracts in the grader"):
        extract_answer("1", "auto")
    with pytest.raises(ValueError, match="extract_answer takes one of"):
        extract_answer("1", "everything")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("gold", "normalized"),
    [
        ("42", "42"),
        ("  -7 ", "-7"),
        ("\\frac{1}{2}", "\\frac{1}{2}"),
        ("$\\frac{1}{2}$", "\\frac{1}{2}"),
        ("$$(1, +\\infty)$$", "(1, +\\infty)"),
        ("\\(x^2\\)", "x^2"),
        ("\\[ \\sqrt{2} \\]", "\\sqrt{2}"),
        ("\\boxed{\\frac{5}{6}}", "\\frac{5}{6}"),
        ("\\boxed {7}", "7"),
        ("$\\boxed{7}$", "7"),
        ("odd", "odd"),
        ("\\text{Even}", "\\text{Even}"),
        ("25%", "25%"),
        ("\\$18.90", "\\$18.90"),
        ("$\\$18.90$", "$\\$18.90$"),
        ("\\begin{pmatrix} 1 \\\\\n 2 \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\  2 \\end{pmatrix}"),
        # Several answers are kept as they are: math-verify reads them whole.
        ("\\boxed{1},\\boxed{2}", "\\boxed{1},\\boxed{2}"),
        ("\\boxed{1}+{2}", "\\boxed{1}+{2}"),
        ("$a$ and $b$", "$a$ and $b$"),
        ("\\(a\\) and \\(b\\)", "\\(a\\) and \\(b\\)"),
    ],
)
def test_normalize_gold(gold: str, normalized: str) -> None:
    assert normalize_gold(gold) == normalized


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="$\\(){}[]boxed fracpt%1 \n", max_size=40))
def test_normalize_gold_is_idempotent(gold: str) -> None:
    once = normalize_gold(gold)
    assert normalize_gold(once) == once


@pytest.mark.parametrize(
    "text",
    [
        "$" * 200_000,
        "$$" + "x" * 200_000,
        "\\(" * 100_000 + "\\)",
        "\\[" * 100_000,
        "\\boxed{" * 50_000 + "}" * 50_000,
        "\\boxed{" + "{" * 100_000,
        "answer" + " " * 100_000 + "x",
        "Final answer" + " \t" * 50_000,
        "9," * 100_000,
        "%" * 200_000,
    ],
)
def test_hostile_input_is_linear(text: str) -> None:
    # A quadratic pass takes minutes on these (the suite's slowest tests would show it); a
    # linear one milliseconds.
    normalize_gold(text)
    for mode in ("boxed", "answer_line", "last_number"):
        extract_answer(text, mode)  # type: ignore[arg-type]


def test_boxed_on_hostile_input_is_bounded() -> None:
    assert extract_boxed("\\boxed{" + "{" * 100_000) is None
    assert extract_boxed("\\boxed{" * 10_000) is None
