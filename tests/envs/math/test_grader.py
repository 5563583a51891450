"""The grader: fast path, math-verify in workers, and hostile answers within the timeout."""

import time

import pytest

from palaestra.envs.math.grader import NO_ANSWER, Grader
from palaestra.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader(timeout=3.0)


@pytest.mark.parametrize(
    ("reply", "gold", "correct", "reason", "answer"),
    [
        ("\\boxed{42}", "42", True, "fast path: the same number", "42"),
        ("\\boxed{0.5}", "\\frac{1}{2}", True, "fast path: the same number", "0.5"),
        ("\\boxed{41}", "42", False, "fast path: different numbers", "41"),
        ("\\boxed{0.3333}", "1/3", False, "fast path: different numbers", "0.3333"),
        ("Answer: 1,234", "1234", True, "math-verify: equivalent", "1234"),
        ("\\boxed{50\\%}", "50", True, "math-verify: equivalent", "50\\%"),
        ("\\boxed{0.333333}", "1/3", True, "math-verify: equivalent", "0.333333"),
        ("\\boxed{\\sqrt{4}}", "2", True, "math-verify: equivalent", "\\sqrt{4}"),
        ("\\boxed{5\\sqrt{2}}", "\\sqrt{50}", True, "math-verify: equivalent", "5\\sqrt{2}"),
        ("\\boxed{(1, 3]}", "(1,3]", True, "math-verify: equivalent", "(1, 3]"),
        ("\\boxed{(1, 3)}", "(1,3]", False, "math-verify: not equivalent", "(1, 3)"),
        ("\\boxed{\\{3, 1, 2\\}}", "\\{1,2,3\\}", True, "math-verify: equivalent", None),
        ("\\boxed{2(x+1)}", "2x+2", True, "math-verify: equivalent", "2(x+1)"),
        ("The answer is $odd$.", "odd", True, "math-verify: equivalent", "odd"),
        ("nothing", "2", False, "no final answer found", None),
        ("\\boxed{7}", "", False, "the gold answer could not be parsed", "7"),
    ],
)
def test_verdicts(
    grader: Grader, reply: str, gold: str, correct: bool, reason: str, answer: str | None
) -> None:
    grade = grader.grade(reply, gold)
    assert (grade.correct, grade.reason) == (correct, reason), grade
    if answer is not None or reason == NO_ANSWER:
        assert grade.answer == answer
    assert grade.answered is (reason != NO_ANSWER)


def test_strict_extraction_grades_what_it_finds(grader: Grader) -> None:
    boxed = Grader(extraction="boxed", timeout=3.0)
    # math-verify alone takes the last number; the boxed rule insists on the box.
    assert grader.grade("\\boxed{3} or maybe 4", "3").correct
    assert not boxed.grade("The answer is 3.", "3").answered
    assert boxed.grade("\\boxed{\\sqrt{9}} (not 4)", "3").reason == "math-verify: equivalent"
    line = Grader(extraction="answer_line", timeout=3.0).grade("x\nAnswer: 12 apples.", "12")
    assert line.correct and line.answer == "12"
    long = Grader(extraction="boxed").grade("\\boxed{" + "1" * 2000 + "}", "1")
    assert not long.correct and "longer than" in long.reason


def test_grade_many_matches_grade(grader: Grader) -> None:
    pairs = [("\\boxed{\\sqrt{9}}", "3"), ("\\boxed{7}", "7"), ("\\boxed{x^2}", "x*x"), ("no", "1")]
    assert grader.grade_many(pairs) == [grader.grade(r, g) for r, g in pairs]


_TIMED_OUT = "grading timed out after 2 s"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("\\boxed{" + "x" * (1 << 16) + "}", _TIMED_OUT),
        ("\\(" * 30_000 + "\\\\)", _TIMED_OUT),
        ("\\boxed{" + "{" * 300 + "1" + "}" * 300 + "}", _TIMED_OUT),
        ("\\boxed{9^{9^{9^9}}}", _TIMED_OUT),
        ("\\boxed{(10^{100})!}", _TIMED_OUT),
        (
            "\\boxed{\\frac{1}{\\frac{1}{\\frac{1}{\\frac{1}{"
            + "\\frac{1}{" * 50
            + "2"
            + "}" * 54
            + "}",
            _TIMED_OUT,
        ),
        ("\\boxed{}}}}{{{\\left(\\right.", NO_ANSWER),
        ("\\boxed{\x00\xff\ufffd}", "math-verify: not equivalent"),
        ("\\boxed{" + "\\sqrt{" * 200 + "2" + "}" * 200 + "}", "math-verify: not equivalent"),
    ],
    ids=[
        "64k",
        "bracket-openers",
        "nested-braces",
        "tower",
        "huge-factorial",
        "nested-frac",
        "unbalanced",
        "binary",
        "nested-sqrt",
    ],
)
def test_hostile_answers_end_within_the_timeout_and_score_zero(reply: str, reason: str) -> None:
    grader = Grader(timeout=2.0)
    grader.grade("\\boxed{\\sqrt{4}}", "2")  # start the workers outside the timed part
    start = time.monotonic()
    grade = grader.grade(reply, "3")
    elapsed = time.monotonic() - start
    # math-verify's own timeout would answer "not equivalent" or "no answer": the reason
    # says it was a timeout, and a timed-out reply is answered (wrong), not invalid.
    assert (grade.correct, grade.reason) == (False, reason)
    assert elapsed < 2.0 + 2.5  # the timeout plus worker replacement margin
    # The grader stays usable.
    assert grader.grade("\\boxed{\\sqrt{9}}", "3").correct


def test_fast_path_reads_ascii_digits_and_short_decimals_only(grader: Grader) -> None:
    # Other scripts' digits, and decimals math-verify keeps as many-digit floats (where
    # trailing zeros can make equal values unequal), are left to math-verify.
    for reply, gold in [
        ("The answer is \\boxed{1\u0665}.", "15"),
        ("\\boxed{15}", "1\uff15"),
        ("\\boxed{1000000007.1}", "1000000007.100000"),
    ]:
        grade = grader.grade(reply, gold)
        assert not grade.reason.startswith("fast path") and not grade.correct, grade


def test_bad_configuration() -> None:
    with pytest.raises(InvalidArgumentError, match="extraction must be one of"):
        Grader(extraction="first")  # type: ignore[arg-type]
    for timeout in (0, -1, float("nan"), float("inf"), 3e9):
        with pytest.raises(InvalidArgumentError, match="timeout must be positive"):
            Grader(timeout=timeout)
