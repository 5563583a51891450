"""Classic bandit algorithms as palaestra agents: the curve an LLM agent must beat.

They play through the same text interface as any agent: arms come from
``info["available_actions"]`` and the last payout from ``info["arm"]`` and
``info["arm_reward"]`` (both also written in the observation). Statistics are kept per
``info["context"]``, so on a contextual bandit they run one instance per context.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from palaestra.errors import InvalidArgumentError


class _ArmStatistics:
    """Pull counts and reward sums per (context, arm), learned from the ``info`` stream."""

    def __init__(self, seed: int | None) -> None:
        self.rng = np.random.default_rng(seed)
        self.counts: dict[tuple[Any, str], int] = {}
        self.sums: dict[tuple[Any, str], float] = {}
        self.squares: dict[tuple[Any, str], float] = {}
        self.unit_payouts = True  # every payout so far in [0, 1]: picks the posterior family
        self._context: Any = None

    def reset(self, instruction: str) -> None:
        """Forget everything: every episode draws new arm means."""
        self.counts.clear()
        self.sums.clear()
        self.squares.clear()
        self.unit_payouts = True
        self._context = None

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """Record the last payout, then choose an arm for the current context."""
        arm = info.get("arm")
        if arm is not None:
            key = (self._context, arm)
            reward = float(info["arm_reward"])
            self.counts[key] = self.counts.get(key, 0) + 1
            self.sums[key] = self.sums.get(key, 0.0) + reward
            self.squares[key] = self.squares.get(key, 0.0) + reward * reward
            self.unit_payouts = self.unit_payouts and 0.0 <= reward <= 1.0
        self._context = info.get("context")
        arms = list(info.get("available_actions") or [])
        if not arms:
            raise InvalidArgumentError(
                f"{type(self).__name__} plays bandits: this env lists no available_actions"
            )
        untried = [a for a in arms if (self._context, a) not in self.counts]
        if untried:
            return str(untried[int(self.rng.integers(len(untried)))])
        return self.choose(arms)

    def stats(self, arm: str) -> tuple[int, float]:
        """Pull count and mean payout of ``arm`` in the current context."""
        n = self.counts[(self._context, arm)]
        return n, self.sums[(self._context, arm)] / n

    def choose(self, arms: list[str]) -> str:
        """Pick among arms that have all been pulled at least once."""
        raise NotImplementedError

    def argmax(self, scores: list[float], arms: list[str]) -> str:
        """Arm of highest score, ties broken at random (never by position)."""
        best = np.flatnonzero(np.isclose(scores, max(scores)))
        return str(arms[int(best[self.rng.integers(len(best))])])


class UCB1Agent(_ArmStatistics):
    """UCB1 (Auer, Cesa-Bianchi and Fischer, 2002): mean + c * sqrt(2 ln t / n).

    Args:
        seed: Seed for tie-breaking.
        c: Exploration scale (1 is UCB1; payouts are assumed to lie in about [0, 1]).
    """

    def __init__(self, seed: int | None = None, c: float = 1.0) -> None:
        super().__init__(seed)
        self.c = c

    def choose(self, arms: list[str]) -> str:
        """Arm with the highest upper confidence bound."""
        stats = [self.stats(a) for a in arms]
        log_t = math.log(sum(n for n, _ in stats))
        scores = [mean + self.c * math.sqrt(2 * log_t / n) for n, mean in stats]
        return self.argmax(scores, arms)


class ThompsonSamplingAgent(_ArmStatistics):
    """Thompson sampling: sample each arm's mean from its posterior, pull the largest.

    Payouts in [0, 1] use a Beta(1 + s, 1 + n - s) posterior (exact for Bernoulli arms);
    other payouts a Gaussian posterior N(mean, sigma^2 / n) with the sample variance.

    Args:
        seed: Seed of the posterior samples.
    """

    def choose(self, arms: list[str]) -> str:
        """Arm whose posterior sample is largest."""
        samples = []
        for arm in arms:
            n, mean = self.stats(arm)
            if self.unit_payouts:
                s = mean * n
                samples.append(float(self.rng.beta(1 + s, 1 + n - s)))
            else:
                var = max(self.squares[(self._context, arm)] / n - mean * mean, 1e-2)
                samples.append(float(self.rng.normal(mean, math.sqrt(var / n))))
        return self.argmax(samples, arms)


class EpsilonGreedyAgent(_ArmStatistics):
    """Epsilon-greedy: a random arm with probability ``epsilon``, else the best mean.

    Args:
        seed: Seed of the exploration draws.
        epsilon: Exploration probability.
    """

    def __init__(self, seed: int | None = None, epsilon: float = 0.1) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise InvalidArgumentError(f"epsilon must lie in [0, 1], got {epsilon}")
        super().__init__(seed)
        self.epsilon = epsilon

    def choose(self, arms: list[str]) -> str:
        """Explore with probability epsilon, else exploit."""
        if self.rng.random() < self.epsilon:
            return arms[int(self.rng.integers(len(arms)))]
        return self.argmax([self.stats(a)[1] for a in arms], arms)
