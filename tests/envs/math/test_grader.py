"""The grader: fast path, math-verify in workers, and hostile answers within the timeout."""

import time

import pytest

from palaestra.envs.math.grader import Grader
from palaestra.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader(timeout=3.0)


@pytest.mark.parametrize(
    ("reply", "gold", "correct", "reason"),
    [
        ("\\boxed{42}", "42", True, "exact match"),
        ("Answer: 1,234", "1234", True, "numeric match"),
        ("\\boxed{0.5}", "\\frac{1}{2}", True, "numeric match"),
        ("\\boxed{50\\%}", "50", True, "numeric match"),
        ("\\boxed{\\$12 dollars}", "12", True, "numeric match"),
        ("\\boxed{41}", "42", False, "numbers differ"),
        ("\\boxed{0.3333}", "1/3", False, "numbers differ"),
        ("\\boxed{\\sqrt{4}}", "2", True, "math-verify: equivalent"),
        ("\\boxed{5\\sqrt{2}}", "\\sqrt{50}", True, "math-verify: equivalent"),
        ("\\boxed{[-1, 3]}", "[-1, 3]", True, "exact match"),
        ("\\boxed{(1, 3]}", "(1,3]", True, "math-verify: equivalent"),
        ("\\boxed{(1, 3)}", "(1,3]", False, "math-verify: not equivalent"),
        ("\\boxed{\\{3, 1, 2\\}}", "\\{1,2,3\\}", True, "math-verify: equivalent"),
        ("\\boxed{2(x+1)}", "2x+2", True, "math-verify: equivalent"),
        ("nothing", "2", False, "no final answer found"),
    ],
)
def test_verdicts(grader: Grader, reply: str, gold: str, correct: bool, reason: str) -> None:
    grade = grader.grade(reply, gold)
    assert grade.correct is correct
    assert grade.reason == reason


def test_grade_many_matches_grade(grader: Grader) -> None:
    pairs = [("\\boxed{\\sqrt{9}}", "3"), ("\\boxed{7}", "7"), ("\\boxed{x^2}", "x*x"), ("no", "1")]
    assert grader.grade_many(pairs) == [grader.grade(r, g) for r, g in pairs]


@pytest.mark.parametrize(
    "reply",
    [
        "\\boxed{" + "x" * (1 << 20) + "}",
        "\\boxed{" + "{" * 300 + "1" + "}" * 300 + "}",
        "\\boxed{9^{9^{9^9}}}",
        "\\boxed{(10^{100})!}",
        "\\boxed{\\frac{1}{\\frac{1}{\\frac{1}{\\frac{1}{"
        + "\\frac{1}{" * 50
        + "2"
        + "}" * 54
        + "}",
        "\\boxed{}}}}{{{\\left(\\right.",
        "\\boxed{\x00\xff\ufffd}",
        "\\boxed{" + "\\sqrt{" * 200 + "2" + "}" * 200 + "}",
    ],
    ids=[
        "1MB",
        "nested-braces",
        "tower",
        "huge-factorial",
        "nested-frac",
        "unbalanced",
        "binary",
        "nested-sqrt",
    ],
)
def test_hostile_answers_end_within_the_timeout_and_score_zero(reply: str) -> None:
    grader = Grader(timeout=2.0)
    grader.grade("\\boxed{\\sqrt{4}}", "2")  # start the workers outside the timed part
    start = time.monotonic()
    grade = grader.grade(reply, "3")
    elapsed = time.monotonic() - start
    assert grade.correct is False
    assert grade.reason
    assert elapsed < 2.0 + 2.5  # the timeout plus worker replacement margin
    # The grader stays usable.
    assert grader.grade("\\boxed{\\sqrt{9}}", "3").correct


def test_bad_configuration() -> None:
    with pytest.raises(InvalidArgumentError, match="extraction must be one of"):
        Grader(extraction="first")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="timeout must be positive"):
        Grader(timeout=0)
