"""Answer extraction and the exact number reader."""

from fractions import Fraction

import pytest

from palaestra.envs.math.answers import extract_answer, extract_boxed, math_spans, parse_number


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
        ("The answer is $\\frac{1}{2}$.", "auto", "\\frac{1}{2}"),
        ("Let $x$ be the count. Then x = 12.", "auto", "12"),
        ("It costs $5 and $10.", "auto", "10"),
        ("so \\(7\\) and \\[ 8 \\]", "last_math", "8"),
        ("$$ (1, +\\infty) $$", "last_math", "(1, +\\infty)"),
        ("costs \\$5, \\$6", "last_math", None),
        ("$ $ and 4", "auto", "4"),
        # An expression after the number that holds no value is a variable or a unit.
        ("The answer is 7 (mod $p$).", "auto", "7"),
        ("There are 6 ways to choose $k$.", "auto", "6"),
        ("The answer is 12 $\\text{cm}$.", "auto", "12"),
        ("The answer is $odd$.", "auto", "odd"),
        # A LaTeX line break (two backslashes) before a dollar ends the math.
        ("$a = 1 \\\\$ so 3", "auto", "3"),
        ("$a = 1 \\\\$", "last_math", "a = 1 \\\\"),
        ("\\boxed{}", "boxed", None),
        ("", "auto", None),
    ],
)
def test_extract(text: str, mode: str, expected: str | None) -> None:
    assert extract_answer(text, mode) == expected  # type: ignore[arg-type]


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match="extraction mode must be one of"):
        extract_answer("1", "everything")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "$a" * 200_000,
        "\\(x" * 200_000,
        "$$ \\$" * 100_000,
        "\\$" * 200_000,
        "$" * 400_000,
        "\\(" * 100_000 + "\\\\)",  # the only ")" after a backslash closes nothing
        "\\[" * 100_000 + "\\\\]",
        "$" + "\\(" * 100_000 + "\\\\)",
        "\\(x" * 60_000 + "\\\\)",
    ],
)
def test_math_delimiters_on_hostile_input_are_linear(text: str) -> None:
    # A scan from every opener takes minutes on these (it does not finish); one pass takes
    # milliseconds. The conformance suite's step-time check times the same shapes.
    spans = math_spans(text)
    extract_answer(text)
    assert all(0 <= a <= b <= len(text) for a, b in spans)


def test_a_latex_line_break_before_a_parenthesis_opens_nothing() -> None:
    reply = (
        "$$\\begin{aligned} a &= 2 \\\\(a+1) &= 3 \\end{aligned}$$ "
        "so the value is \\(\\frac{1}{2}\\)."
    )
    assert extract_answer(reply) == "\\frac{1}{2}"
    assert math_spans("\\\\(x\\)") == []  # "\\\\" is a line break, "(" plain text


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
