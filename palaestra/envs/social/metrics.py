"""Social outcome metrics of multi-agent episodes (Perolat et al., 2017; Hughes et al., 2018).

From the per-step rewards of every agent over an episode of T steps and N agents:

* efficiency: the utilitarian return per step, sum over agents of returns / T;
* equality: 1 - Gini coefficient of the agents' returns (1 when all are equal);
* sustainability: the mean time step at which positive rewards were collected (late
  collection means the resource was not exhausted early);
* peace: the number of agent-steps not spent tagged out (N·T when nobody was).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def gini(values: Sequence[float]) -> float:
    """Gini coefficient of ``values`` (0 when all are equal; mean absolute difference form)."""
    n = len(values)
    total = sum(abs(v) for v in values)
    if n == 0 or total == 0:
        return 0.0
    pairs = sum(abs(a - b) for a in values for b in values)
    return pairs / (2 * n * total)


def social_metrics(
    rewards: Sequence[Mapping[str, float]],
    agents: Sequence[str],
    tagged_steps: Mapping[str, int] | None = None,
) -> dict[str, float]:
    """Efficiency, equality, sustainability and peace of one episode.

    Args:
        rewards: One ``{agent: reward}`` per step.
        agents: Every agent of the episode.
        tagged_steps: Steps each agent spent tagged out (none by default).
    """
    steps = len(rewards)
    returns = [sum(r.get(a, 0.0) for r in rewards) for a in agents]
    times = [t for t, r in enumerate(rewards) for a in agents if r.get(a, 0.0) > 0]
    tagged = sum((tagged_steps or {}).values())
    return {
        "efficiency": sum(returns) / steps if steps else 0.0,
        "equality": 1.0 - gini(returns),
        "sustainability": sum(times) / len(times) if times else 0.0,
        "peace": float(len(agents) * steps - tagged),
    }
