"""Answer extraction and the exact number reader."""

from fractions import Fraction

import pytest

from palaestra.envs.math.answers import extract_answer, extract_boxed, parse_number


@pytest.mark.parametrize(
    ("text", "mode", "expected"),
    [
        ("so \\boxed{42}.", "auto", "42"),
        ("first \\boxed{1} then \\boxed{\\frac{1}{2}}", "auto", "\\frac{1}{2}"),
        ("\\boxed{\\{1, \\{2\\}\\}}", "boxed", "\\{1, \\{2\\}\\}"),
        ("\\fbox{7}", "boxed", "7"),
        ("Answer: 12 apples.", "auto", "12 apples"),
        ("Final answer: x = 3", "answer_line", "x = 3"),
        ("blah\n#### 1,234", "auto", "1,234"),
        ("I think 3, no, 17.", "auto", "17"),
        ("I think 3, no, 17.", "last_number", "17"),
        ("-0.5 is it", "last_number", "-0.5"),
        ("no digits", "auto", None),
        ("\\boxed{unclosed", "boxed", None),
        ("\\boxed{}", "boxed", None),
        ("", "auto", None),
    ],
)
def test_extract(text: str, mode: str, expected: str | None) -> None:
    assert extract_answer(text, mode) == expected  # type: ignore[arg-type]


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match="extraction mode must be one of"):
        extract_answer("1", "everything")  # type: ignore[arg-type]


def test_boxed_on_hostile_input_is_bounded() -> None:
    assert extract_boxed("\\boxed{" + "{" * 100_000) is None
    assert extract_boxed("\\boxed{" * 10_000) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", Fraction(42)),
        ("-3.5", Fraction(-7, 2)),
        ("1,234", Fraction(1234)),
        ("3/4", Fraction(3, 4)),
        ("\\frac{3}{4}", Fraction(3, 4)),
        ("-\\dfrac{1}{2}", Fraction(-1, 2)),
        ("50%", Fraction(50)),
        ("50\\%", Fraction(50)),
        ("$5", Fraction(5)),
        ("\\$5.00", Fraction(5)),
        ("12 cm", Fraction(12)),
        ("\\text{12 apples}", Fraction(12)),
        ("x = 7", Fraction(7)),
        ("$\\frac{5}{6}$", Fraction(5, 6)),
    ],
)
def test_parse_number(text: str, value: Fraction) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(
    "text",
    ["", "x", "\\sqrt{2}", "1/0", "\\frac{1}{0}", "1.5/2", "2x+1", "1e5", "3 and 4", "9" * 200],
)
def test_parse_number_declines(text: str) -> None:
    assert parse_number(text) is None
