"""The grader against math-verify called directly, on the answer styles real models write.

Each row is a reply as a model writes it and its gold answer. math-verify's own verdict
(default ``parse`` on the gold and on the whole reply, then ``verify``) is computed in the
test, never written down; palaestra's grader must give the same verdict, except on the rows
of :data:`DISAGREEMENTS`, where the reason is given and the disagreement itself is checked.
"""

import pytest
from math_verify import parse, verify

from palaestra.envs.math.grader import Grader

STYLES = [
    # (reply, gold)
    (r"The answer is \boxed{42}.", "42"),
    (r"So the total is $\boxed{17}$.", "17"),
    (r"The answer is $\frac{1}{2}$.", r"\frac{1}{2}"),
    (r"The answer is $\dfrac{1}{2}$.", r"\frac{1}{2}"),
    (r"Therefore the probability is $\frac13$.", r"\frac{1}{3}"),
    (r"The result is \(\frac{3}{4}\).", r"\frac{3}{4}"),
    (r"We get \[x = \frac{5}{2}\]", r"\frac{5}{2}"),
    (r"Hence $$\sqrt{2}$$", r"\sqrt{2}"),
    ("The answer is 42.", "42"),
    ("I think 3, no, 17.", "17"),
    ("Answer: 12", "12"),
    ("Final answer: 7", "7"),
    ("#### 1,234", "1234"),
    ("The population is 1,234,567 people.", "1234567"),
    ("The answer is -5.", "-5"),
    ("So x = -3.", "-3"),
    ("The temperature dropped to $-12$ degrees.", "-12"),
    ("It is 3.75 meters long.", "3.75"),
    ("The answer is 0.5", r"\frac{1}{2}"),
    ("It costs $5 and $10 in total.", "10"),
    (r"It costs \$45.", "45"),
    ("The speed is 60 km/h.", "60"),
    ("The share is 25%.", "25"),
    (r"The answer is $2\frac{1}{2}$.", r"\frac{5}{2}"),
    ("The answer is 2 1/2.", r"\frac{5}{2}"),
    (r"The interval is $(1, +\infty)$.", r"(1, +\infty)"),
    (r"$$(1, +\infty)$$", r"$$(1, +\infty)$$"),
    (r"The solution set is $[-2, 3)$.", r"[-2, 3)"),
    (r"The set is $\{1, 2, 3\}$.", r"\{1,2,3\}"),
    (r"The roots are $x = 2$ and $x = 3$, so \boxed{2, 3}", "2, 3"),
    (r"The answer is $x^2 + 2x + 1$.", r"(x+1)^2"),
    (r"Simplifying, we get $\sqrt{8} = 2\sqrt{2}$.", r"2\sqrt{2}"),
    (r"The area is $16\pi$ square units.", r"16\pi"),
    (r"The answer is $\pi/4$.", r"\frac{\pi}{4}"),
    (r"Let $x$ be the number of apples. Then x = 12.", "12"),
    (r"We have $a = 3$, so the answer is 9.", "9"),
    (r"Thus $f(y) = y$.", r"f(y) = y"),
    ("The answer is $odd$.", "odd"),
    (r"The answer is $\text{Even}$.", r"\text{Even}"),
    (r"\boxed{\frac{1}{2}}", "0.5"),
    (r"The answer is \boxed{3} apples, not 4.", "3"),
    (r"We compute $2 + 3 = 5$.", "5"),
    ("There is no answer here.", "7"),
    (r"The answer is $\frac{1}{2}$.", "2"),
    ("The answer is 41.", "42"),
    (
        r"The matrix is $\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}$.",
        r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}",
    ),
    (r"So $y = 2x + 1$.", "y = 2x + 1"),
    (r"The answer is $10^{3}$.", "1000"),
    (r"The answer is \( 1.5 \times 10^{2} \).", "150"),
    (r"The angle is $45^\circ$.", "45"),
    (r"The answer is 7 (mod $p$).", "7"),
    (r"There are 6 ways to choose $k$.", "6"),
    (r"The answer is 12 $\text{cm}$.", "12"),
]

#: Rows where palaestra's verdict differs from math-verify's, with palaestra's verdict and why.
_TRAILING = (
    True,
    "a math expression after the answer that holds no value is a variable or a unit: "
    "palaestra takes the number before it, math-verify the expression (the rightmost match)",
)
DISAGREEMENTS = {
    r"The answer is 7 (mod $p$).": _TRAILING,
    r"There are 6 ways to choose $k$.": _TRAILING,
    r"The answer is 12 $\text{cm}$.": _TRAILING,
    r"It costs \$45.": (
        True,
        "an escaped dollar is a currency sign: palaestra reads the amount 45, math-verify "
        "takes `\\$` for the opening of a math expression and finds no number",
    ),
}


@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader(timeout=5.0)


def math_verify_verdict(reply: str, gold: str) -> bool:
    gold_text = gold if "$" in gold or "\\boxed" in gold else f"${gold}$"
    return bool(verify(parse(gold_text), parse(reply)))


def test_table_is_large_and_varied() -> None:
    assert len(STYLES) >= 40
    replies = [reply for reply, _ in STYLES]
    assert sum("\\boxed" in r for r in replies) >= 3
    assert sum("$" in r and "\\boxed" not in r for r in replies) >= 15
    assert sum("\\(" in r or "\\[" in r for r in replies) >= 3
    assert sum("$" not in r and "\\" not in r for r in replies) >= 10


@pytest.mark.parametrize(("reply", "gold"), STYLES)
def test_agrees_with_math_verify(grader: Grader, reply: str, gold: str) -> None:
    expected = math_verify_verdict(reply, gold)
    grade = grader.grade(reply, gold)
    if reply in DISAGREEMENTS:
        ours, why = DISAGREEMENTS[reply]
        assert grade.correct is ours and expected is not ours, why
    else:
        assert grade.correct is expected, (grade, expected)


def test_plain_latex_without_a_box_is_the_final_answer(grader: Grader) -> None:
    # The last bare number of these is inside the expression (the 2 of \frac{1}{2}).
    for reply in ("The answer is $\\frac{1}{2}$.", "So $\\dfrac{1}{2}$", "It is \\(\\frac12\\)."):
        grade = grader.grade(reply, "\\frac{1}{2}")
        assert grade.correct, grade
        assert "frac" in (grade.answer or "")
