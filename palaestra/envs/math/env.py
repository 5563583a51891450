"""Math environments: one answer, several attempts with feedback, or a Python tool."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from palaestra.envs.attempts import AttemptsEnv
from palaestra.envs.core import InvalidAction, Transition
from palaestra.envs.math.answers import EXTRACTION_MODES, ExtractionMode, extract_boxed
from palaestra.envs.math.datasets import Layout, load_problems
from palaestra.envs.math.grader import Grade, Grader
from palaestra.envs.math.problems import TASKS, Problem, generate
from palaestra.errors import InvalidArgumentError, did_you_mean
from palaestra.sandbox import SandboxLimits, SandboxResult, isolation, shared_sandbox

_TASK_CHOICES = ("mixed", *TASKS)
#: Openers and closers of a code block: ``<python>...</python>`` or a Markdown fence.
_TAG_OPEN, _TAG_CLOSE = re.compile(r"<python>", re.I), re.compile(r"</python>", re.I)
_FENCE_OPEN = re.compile(r"```(?:python|py)[^\S\n]*\n", re.I)


def code_block(text: str) -> str | None:
    """The code of the first ``<python>...</python>`` or ```` ```python ```` block, if any.

    Linear in the length of ``text``: only the first opener of each kind can start the
    first block (if no closer follows it, none follows a later one either), so each closer
    is searched for once, where a lazy regular expression retried from every opener.
    """
    blocks: list[tuple[int, str]] = []
    tag = _TAG_OPEN.search(text)
    if tag is not None and (close := _TAG_CLOSE.search(text, tag.end())) is not None:
        blocks.append((tag.start(), text[tag.end() : close.start()]))
    fence = _FENCE_OPEN.search(text)
    if fence is not None and (end := text.find("```", fence.end())) >= 0:
        blocks.append((fence.start(), text[fence.end() : end]))
    return min(blocks)[1] if blocks else None


class MathEnv(AttemptsEnv):
    r"""Math problems graded with math-verify, answered in one or several attempts.

    **Task.** Solve the problem in the observation. Problems are generated (``task``,
    ``difficulty``; see :mod:`palaestra.envs.math.problems`) or read from ``data_path``
    (GSM8K, MATH or generic JSONL/JSON/parquet; see :mod:`palaestra.envs.math.datasets`).
    The episode seed picks the problem; ``reset(options={"index": i})`` picks problem ``i``
    of a data file.

    **Observation.** The question, then feedback after each wrong attempt.

    **Action.** The reply. math-verify finds its final answer (``\boxed{}``, "the final
    answer is", ``Answer:``, the last LaTeX expression or number), or a strict
    ``extraction`` rule does. A reply with no final answer is an invalid action and uses up
    an attempt.

    **Reward.** ``attempt_discount ** (k - 1)`` for a correct answer at attempt ``k``
    (1 in one attempt), 0 for a wrong one, plus ``format_reward`` when the answer was given
    in ``\boxed{}``. The invalid-action penalty defaults to 0 here, as in RL with
    verifiable rewards.

    **Episode end.** A correct answer, or ``max_attempts`` attempts. ``success`` = solved.
    ``episode_metrics``: ``correct``, ``attempts``, ``invalid_actions``.

    **Privileged.** With ``expose_ground_truth=True`` every ``info`` carries
    ``ground_truth`` (the gold answer) for trainers such as IGPO; it never appears in an
    observation.

    Args:
        task: ``mixed`` or one of ``arithmetic``, ``word``, ``fractions``, ``linear``.
        difficulty: 0 (warm-up) to 3, for generated problems.
        data_path: A data file or folder to read problems from instead of generating them.
        layout: Data layout: ``auto``, ``gsm8k``, ``math`` or ``generic``.
        question_field: Question field of generic data.
        answer_field: Answer field of generic data.
        max_attempts: Attempts per problem (``palaestra/MathFeedback-v0`` uses 3).
        attempt_discount: Reward factor per extra attempt.
        format_reward: Bonus for giving the answer in ``\boxed{}``.
        extraction: ``auto`` (math-verify finds the answer in the whole reply), or a strict
            rule: ``boxed``, ``answer_line`` or ``last_number``.
        grading_timeout: Seconds math-verify may spend on one reply.
        expose_ground_truth: Put the gold answer in ``info["ground_truth"]``.
        invalid_action_penalty: Reward of a reply without a final answer.
        **kwargs: Other :class:`~palaestra.envs.core.TextEnv` arguments.

    Version History:
        * v0: Initial version.
    """

    def __init__(
        self,
        *,
        task: str = "mixed",
        difficulty: int = 1,
        data_path: str | Path | None = None,
        layout: Layout = "auto",
        question_field: str | None = None,
        answer_field: str | None = None,
        max_attempts: int = 1,
        attempt_discount: float = 0.5,
        format_reward: float = 0.0,
        extraction: ExtractionMode = "auto",
        grading_timeout: float = 5.0,
        expose_ground_truth: bool = False,
        invalid_action_penalty: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            max_attempts=max_attempts,
            attempt_discount=attempt_discount,
            invalid_action_penalty=invalid_action_penalty,
            **kwargs,
        )
        if task not in _TASK_CHOICES:
            raise InvalidArgumentError(
                f"task must be one of {_TASK_CHOICES}, got {task!r}"
                f"{did_you_mean(task, _TASK_CHOICES)}"
            )
        if difficulty not in (0, 1, 2, 3):
            raise InvalidArgumentError(f"difficulty must be 0, 1, 2 or 3, got {difficulty}")
        if extraction not in EXTRACTION_MODES:
            raise InvalidArgumentError(
                f"extraction must be one of {EXTRACTION_MODES}, got {extraction!r}"
                f"{did_you_mean(str(extraction), EXTRACTION_MODES)}"
            )
        self.task = task
        self.difficulty = difficulty
        self.problems: list[Problem] | None = None
        if data_path is not None:
            self.problems = load_problems(
                data_path, layout=layout, question_field=question_field, answer_field=answer_field
            )
        self.format_reward = format_reward
        self.extraction: ExtractionMode = extraction
        self.grader = Grader(extraction=extraction, timeout=grading_timeout)
        # A step grades the reply with math-verify in a worker, which the grading timeout
        # bounds (plus half a second); a worker that runs past it is replaced, which takes
        # up to a second more.
        self.max_step_seconds = grading_timeout + 2.0
        self.expose_ground_truth = expose_ground_truth
        self.problem = Problem("", "")
        self._solved = False
        self._grade: Grade | None = None  # the grade of the reply being stepped

    # ------------------------------------------------------------------ TextEnv

    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        self.problem = self._draw_problem(options or {})
        self._attempts = 0
        self._solved = False
        info: dict[str, Any] = {"instruction": self._instruction()}
        self._add_ground_truth(info)
        return self._question_text(), info

    def _parse_action(self, text: str) -> str:
        # Grading is what finds the answer (math-verify's extraction), so a reply is graded
        # here and the grade kept for the step.
        grade = self.grader.grade(text, self.problem.answer)
        if not grade.answered:
            raise InvalidAction("no final answer found; give it as \\boxed{...}")
        self._grade = grade
        return text

    def _step(self, action: str) -> Transition:
        return self._answer(action)

    def _success(self) -> bool:
        return self._solved

    def _metrics(self) -> dict[str, float]:
        return {"correct": float(self._solved), "attempts": float(self._attempts)}

    def oracle_action(self) -> str:
        r"""The worked solution where the problem has one, else the gold answer (privileged).

        Both end in ``\boxed{gold}``; the solution makes oracle play a demonstration for
        a supervised warm start.
        """
        if self.problem.solution:
            return self.problem.solution
        return f"The answer is \\boxed{{{self.problem.answer}}}."

    @property
    def max_return(self) -> float:
        r"""A first-attempt correct answer in ``\boxed{}``."""
        return 1.0 + self.format_reward

    # ------------------------------------------------------------------ the math

    def _answer(self, reply: str) -> Transition:
        self._attempts += 1
        grade = self._grade  # graded by _parse_action, which every step runs first
        assert grade is not None
        formatted = extract_boxed(reply) is not None
        reward = self.format_reward if formatted else 0.0
        info: dict[str, Any] = {"answer": grade.answer, "grade_reason": grade.reason}
        self._add_ground_truth(info)
        if grade.correct:
            self._solved = True
            reward += self.attempt_discount ** (self._attempts - 1)
            return Transition("Correct!", reward, True, info)
        return Transition(
            self._feedback(
                f"Your answer {grade.answer} is not correct."
                if grade.answer is not None
                else f"Your answer could not be graded ({grade.reason})."
            ),
            reward,
            self._out_of_attempts(),
            info,
        )

    def _draw_problem(self, options: dict[str, Any]) -> Problem:
        if self.problems is not None:
            index = options.get("index")
            if index is None:
                index = int(self.np_random.integers(len(self.problems)))
            if not isinstance(index, int) or not 0 <= index < len(self.problems):
                raise InvalidArgumentError(
                    f"options['index'] must be an int in [0, {len(self.problems)}), got {index!r}"
                )
            return self.problems[index]
        task = self.task
        if task == "mixed":
            task = TASKS[int(self.np_random.integers(len(TASKS)))]
        return generate(task, self.np_random, self.difficulty)

    def _instruction(self) -> str:
        text = (
            "Solve the math problem. You may reason step by step; then give your final answer "
            "as \\boxed{...}."
        )
        if self.max_attempts > 1:
            text += (
                f" You have {self.max_attempts} attempts; after a wrong answer you are told so "
                "and may try again."
            )
        return text

    def _question_text(self) -> str:
        return f"Problem: {self.problem.question}"

    def _add_ground_truth(self, info: dict[str, Any]) -> None:
        if self.expose_ground_truth:
            info["ground_truth"] = self.problem.answer
            # How this env reads answers: "Answer: ..." lines where that is its extraction.
            boxed = self.extraction != "answer_line"
            info["answer_template"] = "\\boxed{{answer}}" if boxed else "Answer: {answer}"


class MathToolEnv(MathEnv):
    r"""Math with a Python tool: run code in a sandbox, then answer.

    **Action.** Either a tool call, a reply containing a ``<python>...</python>`` block or a
    fenced ```` ```python ```` block and no ``\boxed{}`` answer, or an answer as in
    :class:`MathEnv`. The code runs in :mod:`palaestra.sandbox` (a process in its own
    namespaces under seccomp, with CPU-time, memory, wall-clock and output limits, no
    network, no files but the interpreter's, imports limited to computation modules); the
    next observation is its output or its error.
    After ``max_tool_calls`` calls, a further tool call is an invalid action.

    **Episode end, reward.** As :class:`MathEnv`. ``episode_metrics`` add ``tool_calls``
    and ``tool_failures`` (errors, timeouts, memory).

    Args:
        max_tool_calls: Tool calls allowed per episode.
        tool_cpu_seconds: CPU time of one tool call.
        tool_wall_seconds: Wall-clock time of one tool call.
        tool_memory_mb: Memory of one tool call.
        tool_output_chars: Characters of tool output shown.
        unsafe_sandbox: Run the code without the OS sandbox where this machine cannot build
            it (``None``: ``PALAESTRA_UNSAFE_SANDBOX``); without this opt-in, such a machine
            raises :class:`~palaestra.errors.SandboxUnavailableError` here.
        **kwargs: :class:`MathEnv` arguments.

    Version History:
        * v0: Initial version.
    """

    def __init__(
        self,
        *,
        max_tool_calls: int = 4,
        tool_cpu_seconds: float = 2.0,
        tool_wall_seconds: float = 5.0,
        tool_memory_mb: int = 768,
        tool_output_chars: int = 2000,
        unsafe_sandbox: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        isolation.require(unsafe_sandbox, "palaestra/MathTool-v0")
        self.unsafe_sandbox = unsafe_sandbox
        if max_tool_calls < 0:
            raise InvalidArgumentError(f"max_tool_calls must be >= 0, got {max_tool_calls}")
        self.max_tool_calls = max_tool_calls
        self.tool_limits = SandboxLimits(
            cpu_seconds=tool_cpu_seconds,
            wall_seconds=tool_wall_seconds,
            memory_mb=tool_memory_mb,
            max_output_chars=tool_output_chars,
        )
        # A step that runs code takes what the code takes, up to the sandbox's wall-clock
        # limit; every other step (parsing included) stays within max_step_seconds.
        self.max_tool_step_seconds = self.tool_limits.wall_seconds + 1.0
        self._tool_calls = 0
        self._tool_failures = 0

    def step_time_limit(self, info: dict[str, Any]) -> float:
        """A step that ran code (``tool_status`` in its info) may take the tool's time."""
        return self.max_tool_step_seconds if "tool_status" in info else self.max_step_seconds

    @property
    def turn_limit(self) -> int:
        """``max_tool_calls`` tool steps, then the attempts of :class:`MathEnv`."""
        return self.max_tool_calls + self.max_attempts

    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        self._tool_calls = 0
        self._tool_failures = 0
        return super()._reset(options)

    def _parse_action(self, text: str) -> str:
        if self._code(text) is not None:
            if self._tool_calls >= self.max_tool_calls:
                raise InvalidAction(
                    f"all {self.max_tool_calls} tool calls are used; give your final answer "
                    "as \\boxed{...}"
                )
            return text
        return super()._parse_action(text)

    def _step(self, action: str) -> Transition:
        code = self._code(action)
        if code is None:
            return self._answer(action)
        self._tool_calls += 1
        # A seed per call from the episode's generator keeps tool output reproducible.
        result = shared_sandbox(limits=self.tool_limits, unsafe_sandbox=self.unsafe_sandbox).run(
            code, seed=int(self.np_random.integers(2**31))
        )
        self._tool_failures += not result.ok
        info: dict[str, Any] = {"tool_status": result.status}
        self._add_ground_truth(info)
        return Transition(self._tool_text(result), 0.0, False, info)

    def _metrics(self) -> dict[str, float]:
        return {
            **super()._metrics(),
            "tool_calls": float(self._tool_calls),
            "tool_failures": float(self._tool_failures),
        }

    def oracle_action(self) -> str:
        """Run the problem's program once when it has one, then give the gold answer."""
        if self.problem.program and self._tool_calls == 0 and self.max_tool_calls > 0:
            return f"Let me compute it.\n<python>\n{self.problem.program}\n</python>"
        return super().oracle_action()

    def _instruction(self) -> str:
        return (
            f"{super()._instruction()} You may run Python first (up to {self.max_tool_calls} "
            "times): reply with the code in <python>...</python> and no \\boxed{} answer, and "
            "you will see what it prints. Available modules: math, fractions, itertools, "
            "collections, statistics, numpy, sympy. Nothing else can be imported, and there is "
            "no file or network access."
        )

    def _code(self, text: str) -> str | None:
        if extract_boxed(text) is not None:
            return None
        return code_block(text)

    def _tool_text(self, result: SandboxResult) -> str:
        left = self.max_tool_calls - self._tool_calls
        return (
            f"{sandbox_report(result, self.tool_limits.max_output_chars)}\n"
            f"You have {left} tool call{'s' if left != 1 else ''} left.\n\n{self._question_text()}"
        )


def sandbox_report(result: SandboxResult, max_output_chars: int) -> str:
    """What a run of the Python tool shows: its output, whether it was cut, and its error.

    :class:`MathToolEnv` and the MCP server of :mod:`palaestra.integrations.mcp_server`
    both show a run so.
    """
    output = result.output if result.output else "(no output)"
    lines = [f"Tool output:\n{output}"]
    if result.truncated:
        lines.append(f"(output cut to {max_output_chars} characters)")
    if result.error:
        lines.append(f"Error: {result.error}")
    return "\n".join(lines)
