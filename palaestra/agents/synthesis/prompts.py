"""The prompts of policy synthesis: the game, the program interface, and the feedback."""

from __future__ import annotations

from typing import Literal

from palaestra.envs.social.grid import GridDilemmaEnv
from palaestra.sandbox.policy import POLICY_IMPORTS, PolicyLimits

Feedback = Literal["sparse", "dense"]

_API = """\
Write a Python function `policy(obs)` that returns the action for one step.
It is called once per step for your player with `obs`, a dict:
  view        list of rows (lists of 1-character strings), the square window of radius
              `radius` around you; view[radius][radius] is you, shown as ^ > v < by facing;
              rows go south, columns east. Cells: '#' wall (also outside the map),
              '.' empty, '@' apple, '~' river, '*' waste, 'A'-'Z' other players.
  radius      int, the window's radius
  position    [row, col] on the map
  orientation 'north', 'east', 'south' or 'west'
  letter      your letter on the other players' views
  apples      apples you ate so far
  tagged_out  steps you are still out of the game (0 when playing)
  step, max_steps
  actions     the action names
Moves are relative to your facing: 'forward', 'backward', 'left', 'right'; 'turn left' and
'turn right' change the facing.
"""


def task_prompt(game: GridDilemmaEnv, limits: PolicyLimits) -> str:
    """The game's rules and the program interface, as the first part of every prompt."""
    return (
        f"{game.instruction()}\n\n{_API}"
        f"Return one of: {', '.join(repr(a) for a in game.action_names())}.\n"
        f"Every player runs its own copy of your function (self-play); your score is the "
        f"mean reward per player. You may import only {', '.join(POLICY_IMPORTS)}; there is "
        f"no file, network or process access, and each call has {limits.call_cpu_seconds:g} s "
        "of CPU. A call that fails, runs too long or returns something else plays 'stay'.\n"
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


#: The social metrics dense feedback reports.
SOCIAL_METRICS = ("efficiency", "equality", "sustainability", "peace")
