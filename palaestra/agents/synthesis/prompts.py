"""The prompts of policy synthesis: the game, the program interface, and the feedback."""

from __future__ import annotations

from typing import Literal

from palaestra.agents.synthesis.selfplay import SOCIAL_METRICS, SocialGame, fallback_action
from palaestra.sandbox.policy import POLICY_IMPORTS, PolicyLimits

Feedback = Literal["sparse", "dense"]


def task_prompt(game: SocialGame, limits: PolicyLimits) -> str:
    """The game's rules and the program interface, as the first part of every prompt."""
    return (
        f"{game.instruction()}\n\nWrite a Python function `policy(obs)` that returns your "
        f"action for one step; it is called once per step.\n{game.PROGRAM_API}"
        f"Return one of: {', '.join(repr(a) for a in game.action_names())}.\n"
        f"Every player runs its own copy of your function (self-play); your score is the "
        f"mean reward per player. You may import only {', '.join(POLICY_IMPORTS)}; there is "
        f"no file, network or process access, and each call has {limits.call_cpu_seconds:g} s "
        f"of CPU. A call that fails, runs too long or returns something else plays "
        f"{fallback_action(game)!r}.\n"
        "Reply with exactly one ```python code block defining policy(obs)."
    )


def feedback_text(
    mode: Feedback, reward: float, metrics: dict[str, float], failures: dict[str, int],
    errors: dict[str, str], episodes: int,
) -> str:  # fmt: skip
    """What the writer is told about a candidate after its evaluation."""
    lines = [f"Mean reward per player over {episodes} self-play episodes: {reward:.3f}."]
    if mode == "dense":
        lines.append(
            "Social outcome: "
            + ", ".join(f"{k} {metrics.get(k, 0.0):.3f}" for k in SOCIAL_METRICS)
            + " (efficiency: reward of all players per step; equality: 1 - Gini of returns; "
            "sustainability: mean step of the rewards; peace: player-steps not tagged out)."
        )
    if any(failures.values()):
        counts = ", ".join(f"{n} {kind}" for kind, n in failures.items() if n)
        lines.append(f"Failed calls (played 'stay'): {counts}.")
        for kind, message in errors.items():
            lines.append(f"  first {kind}: {message}")
    return "\n".join(lines)
