"""Grade answers against gold answers the way the RLVR field does: with math-verify.

Every answer goes through, in order:

1. extraction of the final answer from the reply (:mod:`palaestra.envs.math.answers`); none
   found, or one over :data:`~palaestra.envs.math.answers.MAX_ANSWER_CHARS`, is wrong with a
   reason;
2. a fast path: identical text, or both sides plain numbers (integers, decimals, fractions,
   percentages, with units stripped) compared exactly, up to ``tolerance``;
3. math-verify for everything else (LaTeX expressions, intervals, sets, ...), in a pool of
   worker processes with a hard per-answer timeout.

math-verify's own timeouts use SIGALRM, which only works in a main thread, and some inputs
(``9^{9^{9^9}}``) spin in C where no signal reaches them; the pool kills a worker
that runs past ``timeout`` and starts a new one, so grading always ends
(:class:`palaestra.processes.WorkerPool`). Workers also cap
their memory and silence math-verify's logging, which otherwise prints whole oversized
inputs.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from palaestra.envs.math.answers import (
    EXTRACTION_MODES,
    MAX_ANSWER_CHARS,
    ExtractionMode,
    extract_answer,
    parse_number,
)
from palaestra.errors import InvalidArgumentError
from palaestra.optional import require
from palaestra.processes import TaskResult, WorkerPool

#: Address-space cap of a grading worker: a pathological input fails there, not the host.
WORKER_MEMORY_BYTES = 2 << 30


@dataclass(frozen=True)
class Grade:
    """The verdict on one answer.

    Attributes:
        correct: Whether the answer equals the gold answer.
        reason: How that was decided, or why the answer could not be graded.
        answer: The extracted answer (``None`` if none was found).
    """

    correct: bool
    reason: str
    answer: str | None


class Grader:
    """Extracts and checks answers; cheap to create and to pickle (the pool is shared).

    Args:
        extraction: Where the final answer is looked for (see
            :func:`~palaestra.envs.math.answers.extract_answer`).
        timeout: Seconds one math-verify check may take before it counts as wrong.
        tolerance: Relative tolerance of the numeric fast path.
    """

    def __init__(
        self, *, extraction: ExtractionMode = "auto", timeout: float = 5.0, tolerance: float = 1e-6
    ) -> None:
        if extraction not in EXTRACTION_MODES:
            raise InvalidArgumentError(
                f"extraction must be one of {EXTRACTION_MODES}, got {extraction!r}"
            )
        if timeout <= 0:
            raise InvalidArgumentError(f"timeout must be positive, got {timeout}")
        self.extraction: ExtractionMode = extraction
        self.timeout = timeout
        self.tolerance = tolerance

    def grade(self, response: str, gold: str) -> Grade:
        """Grade one reply against its gold answer."""
        return self.grade_many([(response, gold)])[0]

    def grade_many(self, pairs: Sequence[tuple[str, str]]) -> list[Grade]:
        """Grade many (reply, gold) pairs; the math-verify checks run in parallel."""
        return self.grade_answers(
            [(extract_answer(response, self.extraction), gold) for response, gold in pairs]
        )

    def grade_answers(self, pairs: Sequence[tuple[str | None, str]]) -> list[Grade]:
        """Grade (answer, gold) pairs whose answers were already extracted from the replies.

        ``None`` stands for a reply without a final answer.
        """
        grades: list[Grade | None] = []
        pending: list[tuple[int, str, str]] = []
        for index, (answer, gold) in enumerate(pairs):
            fast = self._fast_path(answer, gold)
            grades.append(fast)
            if fast is None:
                assert answer is not None
                pending.append((index, gold, answer))
        if pending:
            results = _verify_many([(g, a) for _, g, a in pending], self.timeout)
            for (index, _, answer), result in zip(pending, results, strict=True):
                grades[index] = Grade(*_verdict(result, self.timeout), answer)
        return [g for g in grades if g is not None]

    def _fast_path(self, answer: str | None, gold: str) -> Grade | None:
        if answer is None:
            return Grade(False, "no final answer found", None)
        if len(answer) > MAX_ANSWER_CHARS:
            return Grade(False, f"answer longer than {MAX_ANSWER_CHARS} characters", answer[:80])
        if " ".join(answer.split()) == " ".join(gold.split()):
            return Grade(True, "exact match", answer)
        answer_number, gold_number = parse_number(answer), parse_number(gold)
        if answer_number is not None and gold_number is not None:
            correct = _close(answer_number, gold_number, self.tolerance)
            return Grade(correct, "numeric match" if correct else "numbers differ", answer)
        return None


def _verdict(result: TaskResult, timeout: float) -> tuple[bool, str]:
    if result.ok:
        correct, reason = result.value
        return bool(correct), str(reason)
    if result.error == "timeout":
        return False, f"grading timed out after {timeout:g} s"
    # The worker died (memory limit) or math-verify raised.
    return False, f"grading failed: {result.error}"


def _close(a: Fraction, b: Fraction, tolerance: float) -> bool:
    return a == b or math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance)


# ---------------------------------------------------------------------- the worker pool

_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def _verify_many(pairs: Sequence[tuple[str, str]], timeout: float) -> list[TaskResult]:
    global _pool
    with _pool_lock:
        if _pool is None:
            # Here, not only in the workers: a missing package is an error that names it.
            require("math_verify", "math", "grading beyond plain numbers")
            _pool = WorkerPool(
                "palaestra.envs.math.grader:verify",
                workers=max(1, min(4, os.cpu_count() or 1)),
                initializer="palaestra.envs.math.grader:init_worker",
                memory_bytes=WORKER_MEMORY_BYTES,
            )
        pool = _pool
    seconds = max(1, math.ceil(timeout))
    return pool.map([(gold, answer, seconds) for gold, answer in pairs], timeout=timeout + 0.5)


def shutdown_pool() -> None:
    """Stop the grading workers (they restart on the next grade)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
        _pool = None


atexit.register(shutdown_pool)


def init_worker() -> None:
    """Set up a grading worker: silence math-verify's logging and import it once."""
    for name in ("math_verify", "latex2sympy2_extended"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    import math_verify  # noqa: F401


def _as_latex(text: str) -> str:
    if "$" in text or "\\boxed" in text:
        return text
    return f"${text}$"


def verify(gold: str, answer: str, seconds: int) -> tuple[bool, str]:
    """Check ``answer`` against ``gold`` with math-verify (runs in a grading worker)."""
    from math_verify import parse, verify

    gold_parsed = parse(_as_latex(gold), parsing_timeout=seconds)
    if not gold_parsed:
        return False, "the gold answer could not be parsed"
    answer_parsed = parse(_as_latex(answer), parsing_timeout=seconds)
    if not answer_parsed:
        return False, "the answer could not be parsed"
    correct = bool(verify(gold_parsed, answer_parsed, timeout_seconds=seconds))
    return correct, "math-verify: equivalent" if correct else "math-verify: not equivalent"
