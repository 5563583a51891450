r"""Procedurally generated math problems with exact answers, worked solutions and programs.

Four families, each with difficulty 0-3 and generated from a ``numpy`` generator so the
same seed gives the same problem (0 is a warm-up level small models can learn):

* ``arithmetic``: integer expressions (0: single digits a + b; 1: a ± b; 2: a * b + c;
  3: (a + b) * c - d * e);
* ``word``: multi-step GSM8K-style stories with integer answers (more steps at higher
  levels; level 0 uses small numbers);
* ``fractions``: sums and products of fractions, answered in lowest terms (0: two fractions
  with the same denominator);
* ``linear``: one linear equation in x with an integer solution (0: x + b = c).

Every problem carries a worked ``solution`` ending in ``\boxed{answer}`` (for supervised
warm starts) and a Python ``program`` that prints the answer (for the tool-use oracle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

TASKS: tuple[str, ...] = ("arithmetic", "word", "fractions", "linear")

_NAMES = ("Ava", "Ben", "Chloe", "Diego", "Elif", "Farah", "Goran", "Hana", "Ines", "Jonas")
_ITEMS = (
    ("apple", "apples"),
    ("marble", "marbles"),
    ("sticker", "stickers"),
    ("book", "books"),
    ("cookie", "cookies"),
    ("pencil", "pencils"),
    ("stamp", "stamps"),
    ("shell", "shells"),
)


@dataclass(frozen=True)
class Problem:
    r"""One math problem.

    Attributes:
        question: The problem text shown to the agent.
        answer: The gold answer (plain number, fraction ``p/q`` or LaTeX).
        solution: A worked solution ending in ``\boxed{answer}``, where known.
        program: Python that prints the answer, where known.
        source: Where the problem comes from (``"generated:word"``, a file name, ...).
    """

    question: str
    answer: str
    solution: str = ""
    program: str = ""
    source: str = ""


def generate(task: str, rng: np.random.Generator, difficulty: int = 1) -> Problem:
    """Generate one problem of ``task`` (one of :data:`TASKS`) at ``difficulty`` 1-3."""
    return _GENERATORS[task](rng, difficulty)


def _int(rng: np.random.Generator, low: int, high: int) -> int:
    return int(rng.integers(low, high + 1))


def _boxed(steps: list[str], answer: str) -> str:
    return "\n".join([*steps, f"The answer is \\boxed{{{answer}}}."])


def _arithmetic(rng: np.random.Generator, difficulty: int) -> Problem:
    if difficulty == 0:
        a, b = _int(rng, 0, 9), _int(rng, 0, 9)
        expression = f"{a} + {b}"
        steps = [f"{expression} = {a + b}"]
    elif difficulty == 1:
        a, b = _int(rng, 10, 99), _int(rng, 10, 99)
        op = "+" if rng.random() < 0.5 else "-"
        expression = f"{a} {op} {b}"
        steps = [f"{expression} = {eval(expression)}"]
    elif difficulty == 2:
        a, b, c = _int(rng, 3, 30), _int(rng, 3, 30), _int(rng, 10, 200)
        expression = f"{a} * {b} + {c}"
        steps = [f"{a} * {b} = {a * b}", f"{a * b} + {c} = {a * b + c}"]
    else:
        a, b, c, d, e = (
            _int(rng, 10, 99),
            _int(rng, 10, 99),
            _int(rng, 3, 19),
            _int(rng, 3, 19),
            _int(rng, 3, 19),
        )
        expression = f"({a} + {b}) * {c} - {d} * {e}"
        steps = [
            f"{a} + {b} = {a + b}",
            f"{a + b} * {c} = {(a + b) * c}",
            f"{d} * {e} = {d * e}",
            f"{(a + b) * c} - {d * e} = {(a + b) * c - d * e}",
        ]
    answer = str(eval(expression))  # our own integer expression, never user input
    return Problem(
        question=f"Compute {expression}.",
        answer=answer,
        solution=_boxed(steps, answer),
        program=f"print({expression})",
        source="generated:arithmetic",
    )


def _word(rng: np.random.Generator, difficulty: int) -> Problem:
    name = _NAMES[_int(rng, 0, len(_NAMES) - 1)]
    friend = _NAMES[(_NAMES.index(name) + _int(rng, 1, len(_NAMES) - 1)) % len(_NAMES)]
    one, many = _ITEMS[_int(rng, 0, len(_ITEMS) - 1)]
    small = difficulty == 0
    start = _int(rng, 1, 9) if small else _int(rng, 5, 40)
    packs, per_pack = (
        (_int(rng, 1, 3), _int(rng, 1, 3)) if small else (_int(rng, 2, 6), _int(rng, 3, 12))
    )
    total = start + packs * per_pack
    sentences = [
        f"{name} has {start} {many}.",
        f"{name} buys {packs} packs of {many} with {per_pack} {many} in each pack.",
    ]
    steps = [
        f"The packs hold {packs} * {per_pack} = {packs * per_pack} {many}.",
        f"{name} then has {start} + {packs * per_pack} = {total} {many}.",
    ]
    program = [f"total = {start} + {packs} * {per_pack}"]
    if difficulty >= 2:
        given = _int(rng, 1, total - 1)
        sentences.append(f"{name} gives {given} {many if given != 1 else one} to {friend}.")
        steps.append(f"After giving {given} away, {total} - {given} = {total - given} remain.")
        program.append(f"total -= {given}")
        total -= given
    if difficulty >= 3:
        share = _int(rng, 2, 4)
        remainder = total % share
        if remainder:  # keep the answer an integer: lose the few that do not divide evenly
            sentences.append(f"{name} eats {remainder} of them.")
            steps.append(f"Eating {remainder} leaves {total} - {remainder} = {total - remainder}.")
            program.append(f"total -= {remainder}")
            total -= remainder
        sentences.append(f"{name} splits the rest equally into {share} boxes.")
        steps.append(f"Each box gets {total} / {share} = {total // share} {many}.")
        program.append(f"total //= {share}")
        total //= share
        question_end = f"How many {many} are in each box?"
    else:
        question_end = f"How many {many} does {name} have now?"
    answer = str(total)
    return Problem(
        question=" ".join([*sentences, question_end]),
        answer=answer,
        solution=_boxed(steps, answer),
        program="\n".join([*program, "print(total)"]),
        source="generated:word",
    )


def _fraction_text(value: Fraction) -> str:
    return (
        str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    )


def _fractions(rng: np.random.Generator, difficulty: int) -> Problem:
    count = max(difficulty, 1) + 1
    shared = _int(rng, 2, 12)
    terms = [
        Fraction(_int(rng, 1, 9), shared if difficulty == 0 else _int(rng, 2, 12))
        for _ in range(count)
    ]
    ops = ["+" if difficulty <= 1 or rng.random() < 0.6 else "*" for _ in range(count - 1)]
    expression = " ".join(
        [
            f"{t.numerator}/{t.denominator}"
            if i == 0
            else f"{ops[i - 1]} {t.numerator}/{t.denominator}"
            for i, t in enumerate(terms)
        ]
    )
    # Python precedence on Fractions gives the exact value (products before sums).
    program_expression = " ".join(
        [
            f"Fraction({t.numerator}, {t.denominator})"
            if i == 0
            else f"{ops[i - 1]} Fraction({t.numerator}, {t.denominator})"
            for i, t in enumerate(terms)
        ]
    )
    value = eval(program_expression, {"Fraction": Fraction})  # our own expression
    answer = _fraction_text(value)
    return Problem(
        question=f"Compute {expression}. Give the answer as a fraction in lowest terms.",
        answer=answer,
        solution=_boxed([f"{expression} = {answer}"], answer),
        program=f"from fractions import Fraction\nprint({program_expression})",
        source="generated:fractions",
    )


def _linear(rng: np.random.Generator, difficulty: int) -> Problem:
    x = _int(rng, -12, 12)
    a = _int(rng, 2, 9) * (1 if rng.random() < 0.7 else -1)
    b = _int(rng, -30, 30)
    if difficulty == 0:
        a = 1
        left, right = f"x + {b}", str(x + b)
        steps = [f"x = {x + b} - ({b}) = {x}"]
    elif difficulty == 1:
        left, right = f"{a}x + {b}", str(a * x + b)
        steps = [f"{a}x = {a * x + b} - ({b}) = {a * x}", f"x = {a * x} / {a} = {x}"]
    else:
        c = _int(rng, 2, 9)
        while c == a:
            c += 1
        d = a * x + b - c * x
        left, right = f"{a}x + {b}", f"{c}x + {d}"
        steps = [
            f"Move x terms left: ({a} - {c})x = {d} - ({b})",
            f"{a - c}x = {d - b}",
            f"x = {d - b} / {a - c} = {x}",
        ]
        if difficulty == 3:
            k = _int(rng, 2, 5)
            left, right = f"{k}({left})", f"{k}({right})"
            steps.insert(0, f"Divide both sides by {k}.")
    equation = f"{left} = {right}".replace("+ -", "- ")
    condition = f"{_python_side(left)} == {_python_side(right)}"
    return Problem(
        question=f"Solve for x: {equation}",
        answer=str(x),
        solution=_boxed(steps, str(x)),
        program=(
            "from fractions import Fraction\n"
            f"print(next(x for x in range(-100, 101) if {condition}))"
        ),
        source="generated:linear",
    )


def _python_side(side: str) -> str:
    return side.replace("x", "*x").replace("(", "*(").lstrip("*")


_GENERATORS: dict[str, Callable[[np.random.Generator, int], Problem]] = {
    "arithmetic": _arithmetic,
    "word": _word,
    "fractions": _fractions,
    "linear": _linear,
}
