"""Where the questions of :class:`~palaestra.envs.mcp.MCPToolEnv` come from, and how answers score.

* ``searchqa``: SearchQA's two-hop questions about an invented world, scored by word F1;
  the default server is palaestra's search over the same corpus.
* ``math``: palaestra's generated math problems, graded by math-verify; the default server
  is palaestra's sandboxed Python tool.
* ``custom``: questions with answers given by the user (a list, or a JSON/JSONL file of
  ``{"question": ..., "answer": ...}`` objects), scored by word F1; the server is the
  user's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from palaestra.envs.mcp.config import ServerConfig, palaestra_server
from palaestra.errors import InvalidArgumentError

Task = Literal["searchqa", "math", "custom"]
TASKS: tuple[str, ...] = ("searchqa", "math", "custom")


@dataclass(frozen=True)
class Item:
    """One question.

    Attributes:
        question: What the agent is asked.
        answer: The gold answer.
        calls: The calls an oracle makes with palaestra's own server, in order, each a
            tool name and its arguments.
    """

    question: str
    answer: str
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass(frozen=True)
class Score:
    """An answer's score: its reward, and whether it counts as a success."""

    reward: float
    success: bool


class QuestionSource:
    """Questions to draw, a way to score answers, and the tools they go with by default."""

    #: The task's first sentence in the instruction.
    preamble = "Answer the question."

    def draw(self, rng: np.random.Generator) -> Item:
        """A question drawn with ``rng``."""
        raise NotImplementedError

    def score(self, answer: str, item: Item) -> Score:
        """How ``answer`` scores against ``item``'s gold answer."""
        from palaestra.envs.searchqa import word_f1

        f1 = word_f1(answer, item.answer)
        return Score(f1, f1 == 1.0)

    def default_server(self) -> ServerConfig | None:
        """Palaestra's own server of the task's tool (``None``: the task has none)."""
        return None

    @property
    def step_seconds(self) -> float:
        """How long scoring an answer may take."""
        return 0.05


class SearchQAQuestions(QuestionSource):
    """SearchQA's questions (:mod:`palaestra.envs.searchqa.corpus`)."""

    preamble = (
        "Answer the question about people, cities and companies you have never heard of; "
        "the tools can look them up."
    )

    def __init__(self, corpus_seed: int, people: int, top_k: int) -> None:
        from palaestra.envs.searchqa.corpus import build_world

        if people < 4:
            raise InvalidArgumentError(f"people must be at least 4, got {people}")
        if top_k < 1:
            raise InvalidArgumentError(f"top_k must be at least 1, got {top_k}")
        self.env_kwargs = {"corpus_seed": corpus_seed, "people": people, "top_k": top_k}
        self.world = build_world(corpus_seed, people)

    def draw(self, rng: np.random.Generator) -> Item:
        """A two-hop question; the oracle searches each hop's entity."""
        from palaestra.envs.searchqa.corpus import make_question

        question = make_question(self.world, rng)
        calls = tuple(("search", {"query": hop}) for hop in question.hops)
        return Item(question.text, question.answer, calls)

    def default_server(self) -> ServerConfig:
        """Palaestra's search over the same corpus."""
        return palaestra_server("palaestra/SearchQA-v0", self.env_kwargs)


class MathQuestions(QuestionSource):
    """palaestra's generated math problems (:mod:`palaestra.envs.math.problems`)."""

    preamble = "Solve the math problem; give the final answer alone, e.g. answer[42]."

    def __init__(self, difficulty: int, grading_timeout: float) -> None:
        from palaestra.envs.math.grader import Grader

        if difficulty not in (0, 1, 2, 3):
            raise InvalidArgumentError(f"difficulty must be 0, 1, 2 or 3, got {difficulty}")
        self.difficulty = difficulty
        self.grader = Grader(extraction="boxed", timeout=grading_timeout)

    def draw(self, rng: np.random.Generator) -> Item:
        """A problem of a random kind; the oracle runs its program where it has one."""
        from palaestra.envs.math.problems import TASKS as KINDS
        from palaestra.envs.math.problems import generate

        problem = generate(KINDS[int(rng.integers(len(KINDS)))], rng, self.difficulty)
        calls = (("python", {"code": problem.program}),) if problem.program else ()
        return Item(problem.question, problem.answer, calls)

    def score(self, answer: str, item: Item) -> Score:
        """1 for an answer math-verify finds equal to the gold answer, else 0."""
        grade = self.grader.grade(f"\\boxed{{{answer}}}", item.answer)
        return Score(float(grade.correct), grade.correct)

    def default_server(self) -> ServerConfig:
        """Palaestra's sandboxed Python."""
        return palaestra_server("palaestra/MathTool-v0", {})

    @property
    def step_seconds(self) -> float:
        """math-verify's timeout, plus the worker's start (as :class:`MathEnv` allows)."""
        return self.grader.timeout + 2.0


class CustomQuestions(QuestionSource):
    """The user's questions with their answers.

    Args:
        questions: ``{"question": ..., "answer": ...}`` objects, or a JSON (a list of them)
            or JSONL file of them.
    """

    def __init__(self, questions: Sequence[Mapping[str, Any]] | str | Path) -> None:
        if isinstance(questions, (str, Path)):
            questions = _read(Path(questions))
        if not isinstance(questions, Sequence) or not questions:
            raise InvalidArgumentError("questions must be a non-empty list (or file) of questions")
        self.items = tuple(_item(k, q) for k, q in enumerate(questions))

    def draw(self, rng: np.random.Generator) -> Item:
        """A question drawn uniformly."""
        return self.items[int(rng.integers(len(self.items)))]


def _read(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidArgumentError(f"questions: cannot read {path}: {exc.strerror}") from exc
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"questions: {path} is not valid JSON: {exc.msg}") from exc
    if not isinstance(value, list):
        raise InvalidArgumentError(f"questions: {path} must hold a JSON list of questions")
    return value


def _item(index: int, value: Any) -> Item:
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"questions[{index}] must be an object, got {value!r:.100}")
    question, answer = value.get("question"), value.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise InvalidArgumentError(f"questions[{index}] has no text 'question'")
    if not isinstance(answer, (str, int, float)) or isinstance(answer, bool) or not str(answer):
        raise InvalidArgumentError(f"questions[{index}] has no 'answer' (text or a number)")
    return Item(question.strip(), str(answer))


def make_source(
    task: str,
    *,
    questions: Sequence[Mapping[str, Any]] | str | Path | None,
    corpus_seed: int,
    people: int,
    top_k: int,
    difficulty: int,
    grading_timeout: float,
) -> QuestionSource:
    """The question source of ``task`` (see the module docstring).

    Raises:
        InvalidArgumentError: An unknown task, ``questions`` without ``task="custom"``, or
            ``custom`` without ``questions``.
    """
    from palaestra.errors import did_you_mean

    if task not in TASKS:
        raise InvalidArgumentError(
            f"task must be one of {TASKS}, got {task!r}{did_you_mean(str(task), TASKS)}"
        )
    if (questions is not None) != (task == "custom"):
        raise InvalidArgumentError(
            "questions= go with task='custom' (and task='custom' needs questions=)"
        )
    if task == "searchqa":
        return SearchQAQuestions(corpus_seed, people, top_k)
    if task == "math":
        return MathQuestions(difficulty, grading_timeout)
    assert questions is not None
    return CustomQuestions(questions)
