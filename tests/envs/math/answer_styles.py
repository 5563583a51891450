r"""Replies in the styles models write, with gold answers in the layouts datasets use.

Each row is ``(reply, gold)``. No verdict is written down: the agreement test computes
math-verify's own verdict on every row and holds palaestra's grader to it. The rows cover
the final-answer formats of instruction-tuned and reasoning models (``\boxed{}`` inside
``$``/``\[``, "**Final Answer**" blocks, "The answer is: ...", GSM8K's ``####``), answers
without a box, words, intervals and inequalities, sets, tuples and several boxes,
equations and labels around values, expressions, matrices, units, percentages and
currency, right and wrong.
"""

_COT = "Let me work through this step by step.\n\nFirst we set up the problem.\n"


def _final(answer: str) -> str:
    return f"{_COT}**Final Answer**\n\\[\n\\boxed{{{answer}}}\n\\]"


def _therefore(answer: str) -> str:
    return f"{_COT}Therefore, the final answer is $\\boxed{{{answer}}}$."


def _qwen(answer: str) -> str:
    return f"{_COT}So the result is \\(\\boxed{{{answer}}}\\)."


def _metamath(answer: str) -> str:
    return f"{_COT}The answer is: {answer}"


def _gsm8k(answer: str) -> str:
    steps = "Natalia sold 48/2 = <<48/2=24>>24 clips in May."
    return f"{steps}\nSo in total {answer} clips.\n#### {answer}"


BOXED_NUMBERS = [
    (_final("42"), "42"),
    (_final("41"), "42"),
    (_therefore("17"), "17"),
    (_therefore("-3"), "-3"),
    (_therefore("3"), "-3"),
    (_qwen("\\frac{3}{4}"), "3/4"),
    (_qwen("\\frac{6}{8}"), "\\frac{3}{4}"),
    (_qwen("0.75"), "\\frac{3}{4}"),
    (_final("0.5"), "$\\frac{1}{2}$"),
    (_final("\\dfrac{1}{3}"), "1/3"),
    (_final("0.333333"), "1/3"),
    (_final("0.33"), "1/3"),
    (_final("1,234"), "1234"),
    (_final("1234"), "1,234"),
    (_final("3.75"), "3.75"),
    (_final("3.750"), "3.75"),
    (_final("3.76"), "3.75"),
    (_final("12.499999"), "12.5"),
    (_final("100"), "\\boxed{100}"),
    (_final("007"), "7"),
    (_therefore("2"), "$$2$$"),
    ("The answer is \\boxed{3} apples, not 4.", "3"),
    ("\\boxed{5}", "5"),
    ("\\boxed{5}.\n\nFinal Answer: The final answer is 6. I hope it is correct.", "6"),
    ("So \\boxed{8}, and the final answer is 9.", "8"),
    ("\\boxed{25}\\%", "25"),
    ("$\\boxed{25}$ percent", "25"),
    ("$\\boxed{0.25}$", "25\\%"),
    ("\\boxed {5}", "5"),
    ("\\fbox{5}", "5"),
    ("The answer is \\boxed{123456789012345678}.", "123456789012345678"),
    ("The answer is \\boxed{123456789012345679}.", "123456789012345678"),
    ("The answer is \\boxed{-\\frac{7}{2}}.", "-3.5"),
    ("The answer is \\boxed{\\frac{-7}{2}}.", "-7/2"),
    ("Hence $x = \\boxed{12}$.", "12"),
    ("\\boxed{2}\\quad\\boxed{3}", "2"),
    ("The answer is \\boxed{1\u0665}.", "15"),
    ("The answer is \\boxed{\uff11\uff15}.", "15"),
    ("\\boxed{1000000007.1}", "1000000007.100000"),
    ("\\boxed{18359828904.22}", "18359828904.22000"),
    ("\\boxed{1000000007.1}", "1000000007.1"),
    ("$x = \\boxed{1}$ or $x = \\boxed{-3}$.", "1,-3"),
    ("\\boxed{-3}", "1,-3"),
]

NO_BOX = [
    ("The answer is $odd$.", "odd"),
    ("The function is odd, so the answer is $odd$.", "$odd$"),
    ("The parity of the sum is $\\text{Even}$.", "\\text{Even}"),
    ("The parity of the sum is $\\text{Even}$.", "\\text{Odd}"),
    ("Thus the only solution is\n$$f(y) = y$$", "$$f(y) = y$$"),
    ("Thus the only solution is\n$$f(y) = 2y$$", "$$f(y) = y$$"),
    ("The answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
    ("The answer is $\\dfrac{1}{2}$.", "\\frac{1}{2}"),
    ("Therefore the probability is $\\frac13$.", "\\frac{1}{3}"),
    ("The result is \\(\\frac{3}{4}\\).", "\\frac{3}{4}"),
    ("We get \\[x = \\frac{5}{2}\\]", "\\frac{5}{2}"),
    ("Hence $$\\sqrt{2}$$", "\\sqrt{2}"),
    ("Hence $$\\sqrt{3}$$", "\\sqrt{2}"),
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
    ("The answer is 0.5", "\\frac{1}{2}"),
    ("It costs $5 and $10 in total.", "10"),
    ("It costs \\$45.", "45"),
    ("The speed is 60 km/h.", "60"),
    ("The share is 25%.", "25"),
    ("The answer is $2\\frac{1}{2}$.", "\\frac{5}{2}"),
    ("The answer is 2 1/2.", "\\frac{5}{2}"),
    ("Let $x$ be the number of apples. Then x = 12.", "12"),
    ("We have $a = 3$, so the answer is 9.", "9"),
    ("We compute $2 + 3 = 5$.", "5"),
    ("There is no answer here.", "7"),
    ("The answer is $\\frac{1}{2}$.", "2"),
    ("The answer is 41.", "42"),
    ("The answer is 7 (mod $p$).", "7"),
    ("There are 6 ways to choose $k$.", "6"),
    ("The answer is 12 $\\text{cm}$.", "12"),
    (_metamath("18"), "18"),
    (_metamath("19"), "18"),
    (_metamath("\\frac{7}{3}"), "\\frac{7}{3}"),
    (_gsm8k("72"), "72"),
    (_gsm8k("71"), "72"),
    (
        "Final Answer: The final answer is $\\frac{\\sqrt{3}}{2}$. I hope it is correct.",
        "\\frac{\\sqrt{3}}{2}",
    ),
    (
        "Final Answer: The final answer is $\\frac{\\sqrt{2}}{2}$. I hope it is correct.",
        "\\frac{\\sqrt{3}}{2}",
    ),
    ("The final answer is 2015.", "2015"),
    ("**Answer:** 64", "64"),
    ("**Answer:** 63", "64"),
    ("答案是 $\\frac{2}{3}$。", "\\frac{2}{3}"),
]

INTERVALS = [
    ("$$(1, +\\infty)$$", "$$(1, +\\infty)$$"),
    ("The interval is $(1, +\\infty)$.", "(1, +\\infty)"),
    ("The interval is $(1, \\infty)$.", "(1, +\\infty)"),
    ("The interval is $[1, +\\infty)$.", "(1, +\\infty)"),
    ("The solution set is $[-2, 3)$.", "[-2, 3)"),
    ("The solution set is $[-2, 3]$.", "[-2, 3)"),
    ("So $$-793 < a < 10$$", "$$(-793, 10)$$"),
    ("So $$-793 \\le a < 10$$", "$$(-793, 10)$$"),
    ("We need $x > 2$.", "(2, \\infty)"),
    ("We need $x \\geq 2$.", "(2, \\infty)"),
    ("Hence $1\\leq|z|\\leq \\frac{3}{2}$.", "[-\\frac{3}{2}, -1] \\cup [1, \\frac{3}{2}]"),
    ("The range is $(-\\infty, -1) \\cup (1, \\infty)$.", "(-\\infty,-1)\\cup(1,\\infty)"),
    ("The range is $(-\\infty, -1] \\cup [1, \\infty)$.", "(-\\infty,-1)\\cup(1,\\infty)"),
    (_final("(0, 1]"), "(0,1]"),
    (_final("[0, 1]"), "(0,1]"),
    (_final("\\left(-\\frac{1}{2}, 3\\right)"), "(-\\frac{1}{2}, 3)"),
    ("Thus $a \\in (2, 5)$.", "(2,5)"),
    ("Thus $a \\in (2, 6)$.", "(2,5)"),
    (_therefore("x \\in [3, 7]"), "[3,7]"),
    (_therefore("3 \\le x \\le 7"), "[3,7]"),
    (
        "The domain is all $x$ with $x \\neq 0$, i.e. $(-\\infty,0)\\cup(0,\\infty)$.",
        "(-\\infty, 0) \\cup (0, \\infty)",
    ),
]

SETS_AND_TUPLES = [
    ("\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}", "(2, 2), (6, 2)"),
    ("\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 3)}", "(2, 2), (6, 2)"),
    ("\\boxed{1},\\boxed{2},\\boxed{3}", "\\{1,2,3\\}"),
    ("\\boxed{1},\\boxed{2},\\boxed{4}", "\\{1,2,3\\}"),
    ("The solutions are \\boxed{1} and \\boxed{2}.", "1, 2"),
    ("The set is $\\{1, 2, 3\\}$.", "\\{1,2,3\\}"),
    ("The set is $\\{3, 2, 1\\}$.", "\\{1,2,3\\}"),
    ("The set is $\\{1, 2\\}$.", "\\{1,2,3\\}"),
    ("The roots are $x = 2$ and $x = 3$, so \\boxed{2, 3}", "2, 3"),
    ("The roots are \\boxed{3, 2}", "2, 3"),
    ("The point is $(3, -4)$.", "(3,-4)"),
    ("The point is $(-4, 3)$.", "(3,-4)"),
    (_final("(1, 2, 3)"), "(1,2,3)"),
    (_final("(1, 3, 2)"), "(1,2,3)"),
    ("The solutions are $x=1$ and $x=-1$.", "\\pm 1"),
    (_final("\\pm 1"), "1, -1"),
    ("So $(a,b) = (5,2)$ or $(7,2)$.", "$(5,2),(7,2)$"),
    ("So $p=5,q=2;p=7,q=2$", "$(5,2),(7,2)$"),
    (_final("\\varnothing"), "\\emptyset"),
    ("The sides are $3$, $4$ and $5$.", "3, 4, 5"),
    (_therefore("A, C"), "A, C"),
]

EQUATIONS = [
    ("Thus $f(y) = y$.", "f(y) = y"),
    ("So $y = 2x + 1$.", "y = 2x + 1"),
    ("So $y = 2x + 2$.", "y = 2x + 1"),
    ("The line is $2x - y + 1 = 0$.", "y = 2x + 1"),
    ("We find $\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}$", "$\\frac{1}{\\sqrt{6}}$"),
    ("We find $\\frac{NO}{BO}=\\frac{\\sqrt{6}}{6}$", "$\\frac{1}{\\sqrt{6}}$"),
    ("We find $\\frac{NO}{BO}=\\frac{1}{6}$", "$\\frac{1}{\\sqrt{6}}$"),
    ("The ratio is $V_{1}:V_{2}=11:21$", "$11:21$"),
    ("The ratio is $V_{1}:V_{2}=11:20$", "$11:21$"),
    ("So $x = 4$.", "4"),
    ("So $x = 4$.", "x = 4"),
    ("So $x = 5$.", "x = 4"),
    (_final("x = 3"), "3"),
    (_final("a = 2, b = 5"), "(2, 5)"),
    ("Hence $k=\\frac{1}{2}$.", "\\frac{1}{2}"),
    ("The maximum value is $M = 9$.", "9"),
    ("The area is $S_{\\triangle ABC} = 6\\sqrt{3}$.", "6\\sqrt{3}"),
    ("The circle is $x^2 + y^2 = 4$.", "x^2+y^2=4"),
    ("The circle is $(x-1)^2 + y^2 = 4$.", "x^2+y^2=4"),
    ("So $a_n = 2n - 1$.", "a_n=2n-1"),
    ("So $a_n = 2n + 1$.", "a_n=2n-1"),
    ("So the general term is $a_n=3^{n-1}$.", "3^{n-1}"),
]

EXPRESSIONS = [
    ("The answer is $x^2 + 2x + 1$.", "(x+1)^2"),
    ("The answer is $x^2 + 2x + 2$.", "(x+1)^2"),
    ("Simplifying, we get $\\sqrt{8} = 2\\sqrt{2}$.", "2\\sqrt{2}"),
    ("The area is $16\\pi$ square units.", "16\\pi"),
    ("The area is $16\\pi$ square units.", "8\\pi"),
    ("The answer is $\\pi/4$.", "\\frac{\\pi}{4}"),
    ("The answer is $\\frac{\\pi}{3}$.", "60^\\circ"),
    (_final("\\sqrt{50}"), "5\\sqrt{2}"),
    (_final("2\\sqrt{3}"), "\\sqrt{12}"),
    (_final("\\sqrt{13}"), "\\sqrt{12}"),
    (_final("e^{2}"), "e^2"),
    (_final("\\ln 2"), "\\log 2"),
    (_final("\\frac{\\sqrt{2}}{2}"), "\\frac{1}{\\sqrt{2}}"),
    (_final("2(x+1)"), "2x+2"),
    (_final("2(x-1)"), "2x+2"),
    (_final("\\binom{5}{2}"), "10"),
    (_final("5!"), "120"),
    (_final("2^{10}"), "1024"),
    (_final("10^{3}"), "1000"),
    ("The answer is \\( 1.5 \\times 10^{2} \\).", "150"),
    (_final("3+4i"), "3+4i"),
    (_final("3-4i"), "3+4i"),
    (_final("\\frac{1+\\sqrt{5}}{2}"), "\\frac{1+\\sqrt{5}}{2}"),
    (_final("\\frac{1-\\sqrt{5}}{2}"), "\\frac{1+\\sqrt{5}}{2}"),
    (
        "The matrix is $\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}$.",
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
    ),
    (
        "The matrix is $\\begin{pmatrix} 1 & 2 \\\\ 3 & 5 \\end{pmatrix}$.",
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
    ),
    (
        _final("\\begin{pmatrix} -1 \\\\ 2 \\end{pmatrix}"),
        "\\begin{pmatrix} -1 \\\\ 2 \\end{pmatrix}",
    ),
    (_final("\\sin^2 x + \\cos^2 x"), "1"),
    (_final("\\frac{a+b}{2}"), "\\frac{b+a}{2}"),
    (_final("\\infty"), "\\infty"),
]

UNITS_AND_WORDS = [
    ("The angle is $45^\\circ$.", "45"),
    (_final("45^\\circ"), "45"),
    (_final("45^{\\circ}"), "\\frac{\\pi}{4}"),
    (_final("12\\text{ cm}"), "12"),
    (_final("12 \\text{ cm}^2"), "12"),
    (_final("\\$18.90"), "18.90"),
    (_final("18.90"), "\\$18.90"),
    ("It costs \\$13.50 in all, so the answer is \\boxed{13.50}.", "\\$13.50"),
    ("It costs \\$13.50 in all, so the answer is \\boxed{13.05}.", "\\$13.50"),
    (_final("\\$18.90"), "18.9"),
    (_final("18.9 \\text{ dollars}"), "18.90"),
    (_final("50\\%"), "50"),
    (_final("50\\%"), "0.5"),
    (_final("50\\%"), "\\frac{1}{2}"),
    (_final("5\\%"), "50"),
    (_final("\\text{(C)}"), "\\text{(C)}"),
    (_final("C"), "\\text{(C)}"),
    (_final("\\text{No}"), "\\text{No}"),
    (_final("\\text{Yes}"), "\\text{No}"),
    (_final("\\text{Tuesday}"), "\\text{Tuesday}"),
    ("The day is $\\text{Tuesday}$.", "\\text{Tuesday}"),
    (_final("7 \\text{ hours}"), "7"),
    (_final("7 \\text{ hours}"), "420 \\text{ minutes}"),
]

HOSTILE = [
    ("\\boxed{" + "x" * 5000 + "}", "3"),
    ("\\boxed{9^{9^{9^{9}}}}", "3"),
    ("\\boxed{" + "\\sqrt{" * 50 + "2" + "}" * 50 + "}", "3"),
    ("\\boxed{}}}}{{{\\left(\\right.", "3"),
    ("\\boxed{\x00\xff\ufffd}", "3"),
    ("$" * 30, "3"),
]

STYLES = (
    BOXED_NUMBERS
    + NO_BOX
    + INTERVALS
    + SETS_AND_TUPLES
    + EQUATIONS
    + EXPRESSIONS
    + UNITS_AND_WORDS
    + HOSTILE
)
