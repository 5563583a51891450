"""Math with verified answers: generated or loaded problems, graded with math-verify."""

from pathlib import Path

from palaestra.envs.math.answers import extract_answer, normalize_gold
from palaestra.envs.math.datasets import DatasetError, load_problems
from palaestra.envs.math.env import MathEnv, MathToolEnv
from palaestra.envs.math.grader import Grade, Grader
from palaestra.envs.math.problems import TASKS, Problem, generate

#: Folder of the small GSM8K- and MATH-layout sample files that ship with palaestra.
SAMPLE_DATA = Path(__file__).parent / "data"

__all__ = [
    "SAMPLE_DATA",
    "TASKS",
    "DatasetError",
    "Grade",
    "Grader",
    "MathEnv",
    "MathToolEnv",
    "Problem",
    "extract_answer",
    "generate",
    "load_problems",
    "normalize_gold",
]
