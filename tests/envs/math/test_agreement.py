"""The grader gives math-verify's verdict: on replies in real styles, and on its fast path.

math-verify's verdict is computed here, never written down: ``verify(parse(gold),
parse(reply))`` with its default extraction and timeouts on the whole reply, and the gold
written as ``$gold$`` unless it holds its own math ``$`` (not an escaped ``\\$``) or a
``\\boxed`` (how math-verify's users pass a bare gold answer). Any difference fails, except
the rows of :data:`DISAGREEMENTS`, where the reason is given and the difference checked.
"""

import logging
import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from math_verify import parse, verify

from palaestra.envs.math.answers import normalize_gold
from palaestra.envs.math.grader import Grader
from tests.envs.math.answer_styles import HOSTILE, STYLES

for _name in ("math_verify", "latex2sympy2_extended"):
    logging.getLogger(_name).setLevel(logging.CRITICAL + 1)


#: A reply math-verify's own regular expressions take longer than its 5 s timeout on
#: (cubic in the openers): it answers "no answer", while palaestra's fast path reads the box.
SLOW_FOR_MATH_VERIFY = "\\[" * 800 + "\\boxed{5}" + "}" * 800

#: (reply, gold) -> (palaestra's verdict, why it differs from math-verify's).
DISAGREEMENTS = {
    (SLOW_FOR_MATH_VERIFY, "5"): (
        True,
        "math-verify's extraction times out on the reply and finds nothing; the fast path "
        "reads the one box in linear time",
    ),
}


def math_verify_verdict(reply: str, gold: str) -> bool:
    bare = re.search(r"(?<!\\)\$", gold) is None and "\\boxed" not in gold
    return bool(verify(parse(f"${gold}$" if bare else gold), parse(reply)))


ROWS = STYLES + list(DISAGREEMENTS)


@pytest.fixture(scope="module")
def grades() -> dict[tuple[str, str], bool]:
    graded = Grader(timeout=5.0).grade_many(ROWS)
    return {pair: grade.correct for pair, grade in zip(ROWS, graded, strict=True)}


def test_the_table_is_large_and_varied() -> None:
    assert len(STYLES) >= 200
    replies = [reply for reply, _ in STYLES]
    assert sum("\\boxed" in r for r in replies) >= 60
    assert sum("$" in r and "\\boxed" not in r for r in replies) >= 60
    assert sum(r.count("\\boxed") > 1 for r in replies) >= 5
    assert sum("\\(" in r or "\\[" in r for r in replies) >= 40
    assert sum("$" not in r and "\\" not in r for r in replies) >= 15
    verdicts = [math_verify_verdict(r, g) for r, g in STYLES if (r, g) not in HOSTILE]
    # Right and wrong replies both, in numbers.
    assert sum(verdicts) >= 80 and len(verdicts) - sum(verdicts) >= 40


@pytest.mark.parametrize(("reply", "gold"), ROWS, ids=range(len(ROWS)))
def test_agrees_with_math_verify(
    grades: dict[tuple[str, str], bool], reply: str, gold: str
) -> None:
    expected = math_verify_verdict(reply, gold)
    if (reply, gold) in DISAGREEMENTS:
        listed, why = DISAGREEMENTS[(reply, gold)]
        assert grades[(reply, gold)] is listed and expected is not listed, why
    else:
        assert grades[(reply, gold)] is expected, (reply, gold, expected)


# ---------------------------------------------------------------------- the fast path

_INTEGERS = st.integers(-(10**18) + 1, 10**18 - 1)


@st.composite
def numbers(draw: st.DrawFn) -> tuple[str, Fraction]:
    """A number written as an integer, a decimal or a fraction, small or up to 10^18."""
    kind = draw(st.sampled_from(["int", "small", "decimal", "frac", "dfrac", "slash", "odd"]))
    if kind == "int":
        value = draw(_INTEGERS)
        return str(value), Fraction(value)
    if kind == "small":
        value = draw(st.integers(-20, 20))
        return str(value), Fraction(value)
    if kind == "decimal":
        whole = draw(st.one_of(st.integers(-(10**7), 10**7), _INTEGERS))
        places = draw(st.integers(1, 8))
        fraction = draw(st.integers(0, 10**places - 1))
        text = f"{'-' if whole < 0 else ''}{abs(whole)}.{fraction:0{places}d}"
        return text, Fraction(text)
    numerator, denominator = draw(st.integers(-50, 50)), draw(st.integers(1, 50))
    if kind == "slash":
        return f"{numerator}/{denominator}", Fraction(numerator, denominator)
    if kind == "odd":  # forms math-verify reads its own way: left to it
        text = draw(
            st.sampled_from(
                [f"0{abs(numerator)}", f"{numerator},000", f"{numerator} ", "1\u0665", "\uff17"]
            )
        )
        return text, Fraction(0)
    command = "\\frac" if kind == "frac" else "\\dfrac"
    return f"{command}{{{numerator}}}{{{denominator}}}", Fraction(numerator, denominator)


@st.composite
def near(draw: st.DrawFn, gold: Fraction) -> str:
    """A number equal to ``gold``, or at a gap around math-verify's 6-place rounding."""
    gap = draw(
        st.sampled_from([0, 0, Fraction(1, 10**7), Fraction(1, 10**6), Fraction(1, 10**5), 1])
    )
    value = gold + draw(st.sampled_from([1, -1])) * gap
    style = draw(st.sampled_from(["decimal", "fraction"]))
    if style == "fraction" or value.denominator == 1:
        return (
            f"\\frac{{{value.numerator}}}{{{value.denominator}}}"
            if value.denominator != 1
            else str(value.numerator)
        )
    return f"{float(value):.{draw(st.integers(1, 9))}f}"


_BEFORE = [
    "",
    "So ",
    "The answer is ",
    "Answer: ",
    "The final answer is ",
    "**Final Answer**\n",
    "We get $x = 3$ and ",
    "First \\boxed{4}, then ",
    "\\fbox{2} and ",
]
_BOXES = [
    "\\boxed{{{}}}",
    "\\boxed {{{}}}",
    "$\\boxed{{{}}}$",
    "\\[\\boxed{{{}}}\\]",
    "\\(\\boxed{{{}}}\\)",
    "$x = \\boxed{{{}}}$",
    "\\boxed{{ {} }}",
    "\\boxed{{{}}}\\boxed{{1}}",
]
_AFTER = [
    "",
    ".",
    "%",
    "\\%",
    " percent",
    "$ percent",
    " apples",
    ", not 4.",
    " and {x}",
    " I hope it is correct.",
    " final answer is 3",
    "\n\nFinal Answer: 5",
    " pct",
]


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_fast_path_decides_only_as_math_verify_does(data: st.DataObject) -> None:
    gold_text, gold = data.draw(numbers())
    answer = data.draw(st.one_of(near(gold), numbers().map(lambda n: n[0])))
    if "." in answer and data.draw(st.booleans()):  # the same value, more digits written
        answer += "0" * data.draw(st.integers(1, 4))
    # Half the parts are the plain ones, so that the fast path decides often.
    reply = (
        data.draw(st.one_of(st.just(_BEFORE[0]), st.sampled_from(_BEFORE)))
        + data.draw(st.one_of(st.just(_BOXES[0]), st.sampled_from(_BOXES))).format(answer)
        + data.draw(st.one_of(st.just(_AFTER[0]), st.sampled_from(_AFTER)))
    )
    gold_text = data.draw(st.sampled_from(["{}", "${}$", "\\boxed{{{}}}", "$${}$$"])).format(
        gold_text
    )
    for grader in (Grader(), Grader(extraction="boxed")):
        grade, text = grader._here(reply, normalize_gold(gold_text))
        if grade is not None and grade.reason.startswith("fast path"):
            reference = text if grader.extraction == "boxed" else reply
            assert grade.correct is math_verify_verdict(reference, gold_text), (
                reply,
                gold_text,
                grade,
            )


def test_the_fast_path_takes_the_usual_boxed_numbers() -> None:
    grader = Grader()
    for reply, gold in [
        ("Reasoning.\nThe answer is \\boxed{42}.", "42"),
        ("So $\\boxed{-3}$", "-3"),
        ("\\[\\boxed{\\frac{3}{4}}\\]", "3/4"),
        ("\\boxed{0.75}", "\\frac{3}{4}"),
        ("\\boxed{41}", "42"),
    ]:
        grade, _ = grader._here(reply, gold)
        assert grade is not None and grade.reason.startswith("fast path"), (reply, gold)
