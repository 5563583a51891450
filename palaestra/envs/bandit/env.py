"""Multi-armed and contextual bandits with text observations and actions."""

from __future__ import annotations

import re
import string
from collections import deque
from typing import Any, Literal

import numpy as np

from palaestra.envs.core import InvalidAction, TextEnv, Transition, shorten
from palaestra.errors import InvalidArgumentError, did_you_mean

Distribution = Literal["bernoulli", "gaussian"]
_DISTRIBUTIONS = ("bernoulli", "gaussian")

#: How many of the latest pulls the observation lists verbatim.
_RECENT_PULLS = 5

#: An arm name, optionally preceded by "arm" and wrapped in quotes or brackets, optionally
#: followed by a full stop: "B", "arm b", "'B'", "[B].", "Arm 12".
_ARM_PATTERN = re.compile(r"""["'`\[(<]*\s*(?:arm\s*)?([a-z]+|\d+)\s*[\]"'`)>]*\s*[.!]?""", re.I)

#: Longest answer read as an arm name ("[Arm 12]." and the like are far shorter).
_MAX_ARM_TEXT = 32

_VISITORS = (
    "a student",
    "a retiree",
    "a chef",
    "a nurse",
    "a tourist",
    "a farmer",
    "a programmer",
    "a musician",
    "a teacher",
    "a cyclist",
    "a painter",
    "a pilot",
)


def arm_labels(n_arms: int) -> list[str]:
    """Names of the arms: letters ``A``-``Z`` up to 26 arms, else ``1``-``n``."""
    if n_arms <= len(string.ascii_uppercase):
        return list(string.ascii_uppercase[:n_arms])
    return [str(i + 1) for i in range(n_arms)]


class BanditEnv(TextEnv):
    """K-armed bandit played in text.

    **Task.** Each arm pays a random reward from a fixed distribution the agent does not know;
    over ``horizon`` rounds the agent should find and exploit the best arm.

    **Observation.** The round number, the last pull and its reward, every arm's pull count
    and average reward so far, the latest pulls, and the list of arm names. ``info`` also
    carries ``arm`` and ``arm_reward`` (the last pull, as shown in the text) so that
    classic bandit algorithms can play through the same interface.

    **Action.** The name of one arm (``"B"``; ``"arm b"``, ``"'B'"`` and ``"B."`` are also
    accepted). Anything else is an invalid action: the round is lost (it counts in the
    regret as a pull of the worst arm) and pays ``invalid_action_penalty``.

    **Reward.** The arm's payout: 0 or 1 (Bernoulli) or a real number (Gaussian).

    **Episode end.** Terminates after ``horizon`` rounds (invalid ones included). ``success``
    means an optimal arm was pulled in at least half of the rounds of the second half of the
    episode (the agent identified the best arm). ``episode_metrics``: ``regret`` (cumulative
    pseudo-regret, the sum over rounds of the best mean minus the pulled arm's mean),
    ``optimal_arm_rate`` and ``invalid_actions``.

    **Arm means** are drawn at every reset from ``self.np_random``, so the seed fixes them:
    uniform on [0, 1] (Bernoulli) or standard normal (Gaussian); with ``gap``, one best arm
    sits ``gap`` above all others (a hard, close-gap instance); with ``means``, they are fixed.

    Args:
        n_arms: Number of arms (at least 2). Arms are named A-Z, or 1-n beyond 26 arms.
        horizon: Number of rounds.
        distribution: ``"bernoulli"`` or ``"gaussian"`` payouts.
        means: Fixed arm means instead of random ones (length ``n_arms``).
        gap: Draw instances whose best arm is exactly ``gap`` above every other arm.
        noise_std: Standard deviation of Gaussian payouts.
        **kwargs: :class:`~palaestra.envs.core.TextEnv` arguments (render mode, penalty,
            invalid-action allowance).

    Version History:
        * v0: Initial version.
    """

    def __init__(
        self,
        *,
        n_arms: int = 5,
        horizon: int = 50,
        distribution: Distribution = "bernoulli",
        means: list[float] | None = None,
        gap: float | None = None,
        noise_std: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if n_arms < 2:
            raise InvalidArgumentError(f"n_arms must be at least 2, got {n_arms}")
        if horizon < 1:
            raise InvalidArgumentError(f"horizon must be at least 1, got {horizon}")
        if distribution not in _DISTRIBUTIONS:
            raise InvalidArgumentError(
                f"distribution must be one of {_DISTRIBUTIONS}, got {distribution!r}"
                f"{did_you_mean(str(distribution), _DISTRIBUTIONS)}"
            )
        if means is not None and gap is not None:
            raise InvalidArgumentError("give either means or gap, not both")
        bernoulli = distribution == "bernoulli"
        if means is not None:
            if len(means) != n_arms:
                raise InvalidArgumentError(f"means has {len(means)} values; n_arms is {n_arms}")
            if bernoulli and not all(0.0 <= m <= 1.0 for m in means):
                raise InvalidArgumentError(f"Bernoulli means must lie in [0, 1], got {means}")
        if gap is not None and not (0.0 < gap <= (0.5 if bernoulli else float("inf"))):
            raise InvalidArgumentError(
                f"gap must be in (0, {0.5 if bernoulli else 'inf'}] for {distribution}, got {gap}"
            )
        if noise_std <= 0:
            raise InvalidArgumentError(f"noise_std must be positive, got {noise_std}")
        self.n_arms = n_arms
        self.horizon = horizon
        self.distribution: Distribution = distribution
        self.fixed_means = None if means is None else np.asarray(means, dtype=np.float64)
        self.gap = gap
        self.noise_std = noise_std
        self.labels = arm_labels(n_arms)
        self._label_index = {label.upper(): i for i, label in enumerate(self.labels)}
        self._choices = ", ".join(self.labels)
        self._init_episode_state()

    # ------------------------------------------------------------------ hooks for contexts

    @property
    def n_contexts(self) -> int:
        """Number of distinct contexts (1: a plain bandit)."""
        return 1

    def _context_line(self) -> str:
        return ""

    def _task_text(self) -> str:
        return (
            f"You are playing a {self.n_arms}-armed bandit. The arms are {self._choices}. "
            f"Each arm pays {self._payout_text()} drawn from its own fixed distribution, "
            "which you do not know."
        )

    # ------------------------------------------------------------------ TextEnv

    @property
    def turn_limit(self) -> int:
        """``horizon``: every step, invalid ones included, uses one up."""
        return self.horizon

    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        self._init_episode_state()
        self._means = self._draw_means()
        self._context = self._draw_context()
        instruction = (
            f"{self._task_text()} You play {self.horizon} rounds; in each round you pull one "
            "arm and receive its payout. Maximize your total payout. Reply with the name of "
            "one arm and nothing else."
        )
        info: dict[str, Any] = {"instruction": instruction}
        self._add_context(info)
        return self._render_round(None), info

    def _parse_action(self, text: str) -> int:
        # Whitespace collapsed and the length capped first, so the pattern's optional parts
        # cannot backtrack over a long run of spaces (a 16k-character action took seconds).
        text = " ".join(text.split())
        match = _ARM_PATTERN.fullmatch(text) if len(text) <= _MAX_ARM_TEXT else None
        index = self._label_index.get(match.group(1).upper()) if match else None
        if index is None:
            raise InvalidAction(
                f"there is no arm {shorten(text)}; answer with one of {self._choices}"
            )
        return index

    def _step(self, action: int) -> Transition:
        mean = self._means[self._context, action]
        if self.distribution == "bernoulli":
            reward = float(self.np_random.random() < mean)
        else:
            reward = float(mean + self.noise_std * self.np_random.standard_normal())
        best = self._means[self._context].max()
        self._regret += best - mean
        optimal = bool(mean >= best)
        self._optimal_pulls += optimal
        self._late_optimal_pulls += optimal and self._round >= self.horizon // 2
        stats = self._stats[self._context]
        stats[0, action] += 1
        stats[1, action] += reward
        label = self.labels[action]
        self._recent.append(f"{label}:{self._format(reward)}")
        last = f"You pulled {label} and got {self._format(reward)}."
        return self._advance(reward, last, {"arm": label, "arm_reward": reward})

    def _invalid_transition(self, reason: str) -> Transition:
        # The round is lost: time passes and the regret grows as for the worst arm, so an
        # agent gains nothing by stalling.
        row = self._means[self._context]
        self._regret += row.max() - row.min()
        self._recent.append("-:invalid")
        return self._advance(0.0, f"Invalid action: {reason}.", {"arm": None})

    def _available_actions(self) -> list[str]:
        return list(self.labels)

    def _success(self) -> bool:
        late_rounds = self.horizon - self.horizon // 2
        return self._late_optimal_pulls * 2 >= late_rounds

    def _metrics(self) -> dict[str, float]:
        return {
            "regret": float(self._regret),
            "optimal_arm_rate": self._optimal_pulls / max(self._round, 1),
        }

    def oracle_action(self) -> str:
        """Name of the arm with the highest mean in the current context (privileged)."""
        return self.labels[int(np.argmax(self._means[self._context]))]

    # ------------------------------------------------------------------ public state

    @property
    def means(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Arm means of the current episode, shape ``(n_contexts, n_arms)`` (privileged)."""
        return np.array(self._means, dtype=np.float64)

    @property
    def regret(self) -> float:
        """Cumulative pseudo-regret of the current episode so far (privileged)."""
        return float(self._regret)

    # ------------------------------------------------------------------ numeric view
    def numeric_actions(self) -> list[str]:
        """The action text of each discrete action of the numeric view (the arm labels)."""
        return list(self.labels)

    def numeric_observation(self) -> np.ndarray:
        """Sufficient statistics for non-LLM baselines.

        Per arm in the current context: pulls / horizon and mean reward so far; then the
        context one-hot and the fraction of rounds played.
        """
        counts, sums = self._stats[self._context]
        means = np.divide(sums, counts, out=np.zeros(self.n_arms), where=counts > 0)
        context = np.zeros(self.n_contexts)
        context[self._context] = 1.0
        return np.concatenate(
            [counts / self.horizon, means, context, [self._round / self.horizon]]
        ).astype(np.float32)

    # ------------------------------------------------------------------ internals

    def _init_episode_state(self) -> None:
        self._round = 0
        self._regret = 0.0
        self._optimal_pulls = 0
        self._late_optimal_pulls = 0
        self._context = 0
        self._means = np.zeros((self.n_contexts, self.n_arms))
        # Per context: row 0 pull counts, row 1 reward sums.
        self._stats = np.zeros((self.n_contexts, 2, self.n_arms))
        self._recent: deque[str] = deque(maxlen=_RECENT_PULLS)

    def _draw_means(self) -> np.ndarray:
        shape = (self.n_contexts, self.n_arms)
        rng = self.np_random
        if self.fixed_means is not None:
            return np.array(np.broadcast_to(self.fixed_means, shape), dtype=np.float64)
        if self.gap is not None:
            if self.distribution == "bernoulli":
                # Centre the pair (others, best) on [0.3, 0.7] so both stay inside [0, 1].
                low = rng.uniform(0.3, 0.7, size=(self.n_contexts, 1)) - self.gap / 2
            else:
                low = np.zeros((self.n_contexts, 1))
            means = np.repeat(low, self.n_arms, axis=1)
            best = rng.integers(self.n_arms, size=self.n_contexts)
            means[np.arange(self.n_contexts), best] += self.gap
            return means
        if self.distribution == "bernoulli":
            return rng.uniform(0.0, 1.0, size=shape)
        return rng.standard_normal(size=shape)

    def _draw_context(self) -> int:
        return 0

    def _add_context(self, info: dict[str, Any]) -> None:
        pass

    def _advance(self, reward: float, last: str, info: dict[str, Any]) -> Transition:
        self._round += 1
        terminated = self._round >= self.horizon
        if not terminated:
            self._context = self._draw_context()
            self._add_context(info)
        return Transition(self._render_round(last), reward, terminated, info)

    def _format(self, reward: float) -> str:
        return f"{reward:.0f}" if self.distribution == "bernoulli" else f"{reward:.3f}"

    def _payout_text(self) -> str:
        if self.distribution == "bernoulli":
            return "1 or 0"
        return "a real number"

    def _render_round(self, last: str | None) -> str:
        counts, sums = self._stats[self._context]
        arms = " | ".join(
            f"{label}: {int(n)} pull{'' if n == 1 else 's'}"
            + (f", average {s / n:.2f}" if n else "")
            for label, n, s in zip(self.labels, counts, sums, strict=True)
        )
        lines = [last] if last else []
        if self._round >= self.horizon:
            lines.append(f"The game is over after {self.horizon} rounds.")
            return "\n".join(lines)
        lines.append(f"Round {self._round + 1} of {self.horizon}.")
        context = self._context_line()
        if context:
            lines.append(context)
        lines.append(f"History{' in this context' if context else ''}: {arms}")
        if self._recent:
            lines.append(f"Latest pulls (oldest first): {', '.join(self._recent)}")
        lines.append(f"Choose an arm: {self._choices}.")
        return "\n".join(lines)


class ContextualBanditEnv(BanditEnv):
    """Contextual bandit: which arm is best depends on a text context shown every round.

    Each round shows who the visitor is (``"The visitor is a chef."``); every context has its
    own arm means, drawn at reset from ``self.np_random``, and the context of each round is
    drawn uniformly. The observation's history and averages are those of the current
    context. ``info["context"]`` holds the context text. Everything else, including the
    regret (against the best arm of each round's context), is as in :class:`BanditEnv`.

    Args:
        n_contexts: Number of distinct contexts (2 to 12).
        **kwargs: :class:`BanditEnv` arguments.

    Version History:
        * v0: Initial version.
    """

    def __init__(self, *, n_contexts: int = 3, **kwargs: Any) -> None:
        if not 2 <= n_contexts <= len(_VISITORS):
            raise InvalidArgumentError(
                f"n_contexts must be between 2 and {len(_VISITORS)}, got {n_contexts}"
            )
        self._n_contexts = n_contexts
        super().__init__(**kwargs)

    @property
    def n_contexts(self) -> int:
        """Number of distinct contexts."""
        return self._n_contexts

    def _context_text(self) -> str:
        return f"The visitor is {_VISITORS[self._context]}."

    def _context_line(self) -> str:
        return f"Context: {self._context_text()}"

    def _task_text(self) -> str:
        return (
            f"You are running a {self.n_arms}-armed bandit with arms {self._choices}. Each "
            "round a visitor arrives, described in a context line; each arm pays "
            f"{self._payout_text()} from a distribution that depends on the visitor, which "
            "you do not know, so the best arm can differ from visitor to visitor."
        )

    def _draw_context(self) -> int:
        return int(self.np_random.integers(self._n_contexts))

    def _add_context(self, info: dict[str, Any]) -> None:
        info["context"] = self._context_text()
