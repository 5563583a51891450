r"""Grade replies against gold answers the way the RLVR field does: with math-verify.

The verdict is math-verify's: ``verify(parse(gold), parse(reply))`` on the whole reply, with
math-verify's own extraction (``parse`` with its LaTeX and expression targets), and the gold
answer in the form :func:`~palaestra.envs.math.answers.normalize_gold` gives it, written as
``$...$``. palaestra adds two things around it:

1. **A fast path** that decides in this process only the cases where math-verify's verdict
   is certain: the reply holds exactly one ``\boxed{}``, no "final answer" phrase (the only
   matches math-verify ranks above a box) and no percent sign after the box, so
   math-verify takes that box; the box and the gold are both exact numbers in ASCII digits
   (an integer, a fraction of integers, or a decimal of at most 6 places under a million:
   a longer one is a float of as many digits as written, where trailing zeros can make
   equal values unequal); and the numbers are equal, or differ where math-verify's
   comparison cannot call them equal (two exact rationals compare exactly; a decimal is
   rounded to 6 places, so only a gap well beyond that is certain).
   ``tests/envs/math/test_agreement.py`` checks this against math-verify on generated
   replies. The one exception: on some hostile replies (thousands of unclosed ``\[``
   around the box) math-verify's own regular expressions run out of time and it finds no
   answer, where the fast path still reads the box.
2. **Worker processes** (one per usable core) for everything else, with a hard timeout on
   the whole grading of a reply (math-verify gives each of its parses and its comparison
   a timeout of its own). math-verify's timeouts use SIGALRM, which works only in a main
   thread, and some inputs (``9^{9^{9^9}}``) spin in C where no signal reaches them; the
   pool kills a worker that runs past ``timeout`` and starts a new one, so grading always
   ends (:class:`palaestra.processes.WorkerPool`). Where math-verify's own timeout fires,
   it answers "not equivalent" or "no answer"; the grade says "timed out" instead. Workers
   cap their memory, keep math-verify's logging quiet (it prints whole oversized inputs)
   and cache the parsed gold answers.

With a strict ``extraction`` mode (``boxed``, ``answer_line``, ``last_number``) the answer
is first taken by that rule, and math-verify then checks it, written as ``$...$``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from palaestra.envs.math.answers import (
    EXTRACTION_MODES,
    MAX_ANSWER_CHARS,
    ExtractionMode,
    extract_answer,
    has_math_dollar,
    normalize_gold,
)
from palaestra.errors import InvalidArgumentError
from palaestra.optional import require
from palaestra.processes import SharedPool, TaskResult, usable_cores

#: Address-space cap of a grading worker: a pathological input fails there, not the host.
WORKER_MEMORY_BYTES = 2 << 30

#: The reason of a grade whose reply has no final answer (an invalid action in the envs).
NO_ANSWER = "no final answer found"

#: The longest grading timeout accepted, in seconds.
MAX_TIMEOUT = 600.0

#: What a worker answers when math-verify's own timeout cut a parse or a comparison.
_TIMED_OUT = "timed out"

#: Characters of an extracted answer kept in a :class:`Grade`.
_SHOWN_CHARS = 200


@dataclass(frozen=True)
class Grade:
    """The verdict on one reply.

    Attributes:
        correct: Whether the reply's answer equals the gold answer.
        reason: How that was decided (``fast path: ...``, ``math-verify: equivalent`` /
            ``not equivalent``), or why the reply could not be graded
            (:data:`NO_ANSWER`, a timeout, an unparsable gold answer).
        answer: The answer found in the reply (cut to 200 characters), ``None`` if none
            was found or grading did not finish.
    """

    correct: bool
    reason: str
    answer: str | None

    @property
    def answered(self) -> bool:
        """Whether the reply had a final answer to grade."""
        return self.reason != NO_ANSWER


class Grader:
    """Grades replies with math-verify; cheap to create and to pickle (the pool is shared).

    Args:
        extraction: ``auto`` (math-verify finds the answer in the whole reply) or a strict
            rule (see :mod:`palaestra.envs.math.answers`).
        timeout: Seconds one math-verify check may take before it counts as wrong.
    """

    def __init__(self, *, extraction: ExtractionMode = "auto", timeout: float = 5.0) -> None:
        if extraction not in EXTRACTION_MODES:
            raise InvalidArgumentError(
                f"extraction must be one of {EXTRACTION_MODES}, got {extraction!r}"
            )
        if not 0 < timeout <= MAX_TIMEOUT:  # also refuses NaN
            raise InvalidArgumentError(
                f"timeout must be positive and at most {MAX_TIMEOUT:g} s, got {timeout}"
            )
        self.extraction: ExtractionMode = extraction
        self.timeout = timeout

    def grade(self, reply: str, gold: str) -> Grade:
        """Grade one reply against its gold answer."""
        return self.grade_many([(reply, gold)])[0]

    def grade_many(self, pairs: Sequence[tuple[str, str]]) -> list[Grade]:
        """Grade many (reply, gold) pairs; the math-verify checks run in parallel."""
        grades: list[Grade | None] = []
        pending: list[tuple[int, str, str]] = []  # (index, gold, text for math-verify)
        for index, (reply, gold) in enumerate(pairs):
            gold = normalize_gold(gold)
            grade, text = self._here(reply, gold)
            grades.append(grade)
            if grade is None:
                pending.append((index, as_latex(gold), text))
        if pending:
            results = _verify_many([(g, t) for _, g, t in pending], self.timeout)
            for (index, _, _), result in zip(pending, results, strict=True):
                grades[index] = _from_worker(result, self.timeout)
        return [g for g in grades if g is not None]

    def _here(self, reply: str, gold: str) -> tuple[Grade | None, str]:
        """The grade where it is certain without math-verify, and the text math-verify gets."""
        if self.extraction == "auto":
            return _fast_grade(_sole_boxed(reply), gold), reply
        answer = extract_answer(reply, self.extraction)
        if answer is None:
            return Grade(False, NO_ANSWER, None), ""
        if len(answer) > MAX_ANSWER_CHARS:
            reason = f"answer longer than {MAX_ANSWER_CHARS} characters"
            return Grade(False, reason, _shown(answer)), ""
        return _fast_grade(answer, gold), as_latex(answer)


def as_latex(text: str) -> str:
    r"""``text`` as math-verify reads one expression: in ``$...$`` unless it has its own.

    Kept as written when it holds a math ``$`` (not an escaped ``\$``) or a ``\boxed``.
    """
    if has_math_dollar(text) or "\\boxed" in text:
        return text
    return f"${text}$"


def _shown(answer: str) -> str:
    return answer if len(answer) <= _SHOWN_CHARS else answer[:_SHOWN_CHARS] + "..."


def _from_worker(result: TaskResult, timeout: float) -> Grade:
    # Timed out: math-verify's own timeout fired (the worker says so), or the pool's did.
    if (result.value[1] if result.ok else result.error) in (_TIMED_OUT, "timeout"):
        return Grade(False, f"grading timed out after {timeout:g} s", None)
    if result.ok:
        correct, reason, answer = result.value
        return Grade(bool(correct), str(reason), None if answer is None else _shown(answer))
    # The worker died (memory limit) or math-verify raised.
    return Grade(False, f"grading failed: {result.error}", None)


# ---------------------------------------------------------------------- the fast path

_INTEGER = r"-?(?:0|[1-9]\d{0,17})"
_EXACT = re.compile(
    rf"(?P<int>{_INTEGER})(?:\.(?P<dec>\d{{1,6}}))?"
    rf"|(?P<sign>-?)\\[dt]?frac\{{(?P<num>{_INTEGER})\}}\{{(?P<den>[1-9]\d{{0,17}})\}}"
    rf"|(?P<slashnum>{_INTEGER})/(?P<slashden>[1-9]\d{{0,17}})",
    re.ASCII,  # "\d" would take any script's digits, which math-verify does not read
)
#: Every match math-verify ranks above (or with) a box needs this phrase.
_FINAL_ANSWER = re.compile(r"(?i:final answer)")
#: What math-verify reads as a percent sign after a math expression (and then some).
_PERCENT = re.compile(r"%|percent|pct", re.IGNORECASE)
#: Decimals math-verify rounds to 6 places; beyond this gap and size, rounding cannot meet.
_DECIMAL_GAP, _DECIMAL_LIMIT = Fraction(1, 10**5), 10**6


def _sole_boxed(reply: str) -> str | None:
    r"""The content of the one ``\boxed{}`` math-verify is certain to take, else ``None``.

    Certain when the reply has a single ``\boxed{`` (and no ``\fbox``), braces matched, no
    "final answer" phrase and no percent sign after the box. Linear in the reply.
    """
    start = reply.find("\\boxed{")
    if start < 0 or reply.count("\\boxed") != 1 or "\\fbox" in reply:
        return None
    depth, begin = 1, start + len("\\boxed{")
    for index in range(begin, min(len(reply), begin + 64)):  # a number is short
        depth += (reply[index] == "{") - (reply[index] == "}")
        if depth == 0:
            if _FINAL_ANSWER.search(reply) or _PERCENT.search(reply, index):
                return None
            return reply[begin:index].strip()
    return None


def _exact(text: str) -> tuple[Fraction, bool] | None:
    """``text`` as (value, is a decimal) when it is an exact number in a canonical form."""
    match = _EXACT.fullmatch(text)
    if match is None:
        return None
    if match["int"] is not None:
        decimals = match["dec"]
        return Fraction(f"{match['int']}.{decimals}" if decimals else match["int"]), bool(decimals)
    if match["num"] is not None:
        value = Fraction(int(match["num"]), int(match["den"]))
        return (-value if match["sign"] else value), False
    return Fraction(int(match["slashnum"]), int(match["slashden"])), False


def _fast_grade(answer: str | None, gold: str) -> Grade | None:
    """The verdict where math-verify's is certain (see the module's notes), else ``None``."""
    if answer is None:
        return None
    ours, theirs = _exact(answer), _exact(gold)
    if ours is None or theirs is None:
        return None
    (value, decimal), (gold_value, gold_decimal) = ours, theirs
    if (decimal or gold_decimal) and max(abs(value), abs(gold_value)) >= _DECIMAL_LIMIT:
        # A long decimal is a float of as many digits as written: math-verify can call
        # equal values unequal (trailing zeros) there.
        return None
    if value == gold_value:
        return Grade(True, "fast path: the same number", answer)
    if not (decimal or gold_decimal) or abs(value - gold_value) > _DECIMAL_GAP:
        return Grade(False, "fast path: different numbers", answer)
    return None  # close decimals: math-verify's rounding decides


# ---------------------------------------------------------------------- the worker pool

# One per core this process may use: more would only take turns.
_POOL = SharedPool(
    "palaestra.envs.math.grader:verify",
    workers=max(1, min(4, usable_cores())),
    initializer="palaestra.envs.math.grader:init_worker",
    memory_bytes=WORKER_MEMORY_BYTES,
    # Here, not only in the workers: a missing package is an error that names it.
    before_start=lambda: require("math_verify", "math", "grading with math-verify"),
)


def _verify_many(pairs: Sequence[tuple[str, str]], timeout: float) -> list[TaskResult]:
    seconds = max(1, math.ceil(timeout))
    return _POOL.map([(gold, text, seconds) for gold, text in pairs], timeout=timeout + 0.5)


def shutdown_pool() -> None:
    """Stop the grading workers (they restart on the next grade)."""
    _POOL.close()


class _TimeoutLog(logging.Handler):
    """Notes math-verify's timeouts, which it logs and then answers ``[]`` or ``False``."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.fired = False

    def emit(self, record: logging.LogRecord) -> None:
        # The message is not formatted: a parse timeout's holds the whole reply.
        self.fired = self.fired or str(record.msg).startswith("Timeout during")


_timeouts = _TimeoutLog()


def init_worker() -> None:
    """Set up a grading worker: route math-verify's logging to the timeout log, import it."""
    for name in ("math_verify", "latex2sympy2_extended"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [_timeouts] if name == "math_verify" else []
        logger.propagate = False  # nothing printed: it would print whole oversized inputs
    import math_verify  # noqa: F401


@lru_cache(maxsize=1024)
def _parse_gold(gold: str, seconds: int) -> list[object]:
    """math-verify's parse of a gold answer: a rollout grades many replies against one."""
    from math_verify import parse

    return list(parse(gold, parsing_timeout=seconds))


def verify(gold: str, text: str, seconds: int) -> tuple[bool, str, str | None]:
    """math-verify's verdict on ``text`` against ``gold`` (runs in a grading worker).

    Returns:
        ``(correct, reason, answer)``, the answer being the text math-verify extracted.
        Where math-verify's own timeout cut a step, the reason says so (math-verify itself
        would only answer "not equivalent").
    """
    from math_verify import parse, verify

    _timeouts.fired = False
    found = parse(text, parsing_timeout=seconds)
    if _timeouts.fired:
        return False, _TIMED_OUT, None
    if not found:
        return False, NO_ANSWER, None
    # parse gives the value, then the extracted text (or the text alone if it would not
    # parse); the text is what a person reads back.
    answer = found[-1] if isinstance(found[-1], str) else str(found[0])
    gold_found = _parse_gold(gold, seconds)
    if _timeouts.fired:
        _parse_gold.cache_clear()  # a gold cut short is not kept
        return False, _TIMED_OUT, answer
    if not gold_found:
        return False, "the gold answer could not be parsed", answer
    correct = bool(verify(gold_found, found, timeout_seconds=seconds))
    if _timeouts.fired and not correct:  # one comparison ran out; another may have matched
        return False, _TIMED_OUT, answer
    return correct, "math-verify: equivalent" if correct else "math-verify: not equivalent", answer
