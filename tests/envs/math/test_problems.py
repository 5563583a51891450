"""Generated problems: seeded, correct (their program prints their answer), graded."""

import contextlib
import io
from fractions import Fraction

import numpy as np
import pytest

from palaestra.envs.math import TASKS, generate
from palaestra.envs.math.answers import extract_boxed


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("difficulty", [0, 1, 2, 3])
def test_program_solution_and_answer_agree(task: str, difficulty: int) -> None:
    for seed in range(40):
        problem = generate(task, np.random.default_rng(seed), difficulty)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(problem.program, {})  # our own generated program
        assert Fraction(out.getvalue().strip()) == Fraction(problem.answer)
        assert extract_boxed(problem.solution) == problem.answer
        assert problem.source == f"generated:{task}"


def test_same_seed_same_problem() -> None:
    a = generate("word", np.random.default_rng(5), 3)
    b = generate("word", np.random.default_rng(5), 3)
    c = generate("word", np.random.default_rng(6), 3)
    assert a == b and a != c


def test_word_problems_have_integer_answers() -> None:
    for seed in range(200):
        answer = generate("word", np.random.default_rng(seed), 3).answer
        assert answer.isdigit()
