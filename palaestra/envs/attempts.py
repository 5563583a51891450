"""Questions answered in one or several attempts, with feedback after each wrong one."""

from __future__ import annotations

from typing import Any

from palaestra.envs.core import TextEnv, Transition
from palaestra.errors import InvalidArgumentError


class AttemptsEnv(TextEnv):
    """Base of the envs where every step is an attempt at answering one question.

    The math and Reasoning Gym envs: a reply without an answer is an invalid action that
    uses up an attempt as a wrong answer does, so an agent cannot stall; after
    ``max_attempts`` attempts the episode is over. Subclasses reset ``_attempts`` to 0 at
    reset, add 1 per answer, and give the question in :meth:`_question_text`; each extra
    attempt is worth ``attempt_discount`` times the one before (how, is theirs to say).

    Args:
        max_attempts: Attempts per question.
        attempt_discount: Reward factor per extra attempt, in [0, 1].
        **kwargs: Other :class:`~palaestra.envs.core.TextEnv` arguments.
    """

    free_text_actions = True
    max_action_length = 65_536

    def __init__(
        self, *, max_attempts: int = 1, attempt_discount: float = 0.5, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidArgumentError(
                f"max_attempts must be at least 1 (an int), got {max_attempts!r}"
            )
        if not (is_number(attempt_discount) and 0.0 <= attempt_discount <= 1.0):
            raise InvalidArgumentError(
                f"attempt_discount must lie in [0, 1], got {attempt_discount!r}"
            )
        self.max_attempts = max_attempts
        self.attempt_discount = attempt_discount
        self._attempts = 0

    @property
    def turn_limit(self) -> int:
        """``max_attempts``: every step, invalid ones included, uses one up."""
        return self.max_attempts

    def _invalid_transition(self, reason: str) -> Transition:
        # A reply without an answer uses up an attempt, so an agent cannot stall forever.
        self._attempts += 1
        info: dict[str, Any] = {}
        self._add_ground_truth(info)
        return Transition(
            self._feedback(f"Invalid answer: {reason}."), 0.0, self._out_of_attempts(), info
        )

    def _out_of_attempts(self) -> bool:
        return self._attempts >= self.max_attempts

    def _feedback(self, verdict: str) -> str:
        """``verdict``, then the attempts left and the question again (or the end)."""
        left = self.max_attempts - self._attempts
        if left <= 0:
            return f"{verdict} No attempts left; the episode is over."
        return (
            f"{verdict} You have {left} attempt{'s' if left != 1 else ''} left. Try again.\n\n"
            f"{self._question_text()}"
        )

    def _question_text(self) -> str:
        raise NotImplementedError

    def _add_ground_truth(self, info: dict[str, Any]) -> None:
        """Privileged keys a subclass adds to every ``info`` (none by default)."""


def is_number(value: object) -> bool:
    """An int or a float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)
