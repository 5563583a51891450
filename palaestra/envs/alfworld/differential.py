"""The fast and the PDDL ALFWorld engines driven by the same commands, compared every step.

:func:`compare` plays one game in two :class:`~palaestra.envs.alfworld.ALFWorldEnv`
instances, one per engine, feeding both the commands a :data:`Driver` chooses from what the
PDDL env shows, and returns the first step where their observations, rewards, flags or
infos differ (or their oracles disagree). :data:`DRIVERS` are the sequences the tests and
``benchmarks/alfworld_differential.py`` use: the walkthrough, the oracle after wandering,
and random admissible commands mixed with invalid ones and "put X in/on Y" aliases.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palaestra.envs.alfworld.env import ALFWorldEnv

#: ``driver(env, info, rng) -> command``: the next command, from the PDDL env and its info.
Driver = Callable[[ALFWorldEnv, dict[str, Any], random.Random], str]

#: Commands no ALFWorld game admits, in forms an agent might send.
INVALID = (
    "",
    "   ",
    "go to the moon",
    "take apple 99 from fridge 1",
    "open",
    "put",
    "put apple 1 in",
    "look around",
    "inventory please",
    "examine examine",
    "Nothing happens.",
    "go to " + "x" * 150,
)


@dataclass(frozen=True)
class Divergence:
    """The first step (0: the reset) where the engines disagree, and on what."""

    game: Path
    driver: str
    step: int
    command: str | None
    field: str
    pddl: Any
    fast: Any

    def __str__(self) -> str:
        return (
            f"{self.game} ({self.driver}), step {self.step} after {self.command!r}: "
            f"{self.field} differs\n  pddl: {self.pddl!r}\n  fast: {self.fast!r}"
        )


def walkthrough(env: ALFWorldEnv, info: dict[str, Any], rng: random.Random) -> str:
    """The game's stored walkthrough (then ``look``)."""
    done = len(env.commands)
    return env.walkthrough[done] if done < len(env.walkthrough) else "look"


def wander_then_oracle(steps: int) -> Driver:
    """``steps`` random admissible commands, then the oracle (which must replan)."""

    def driver(env: ALFWorldEnv, info: dict[str, Any], rng: random.Random) -> str:
        if len(env.commands) < steps:
            return str(rng.choice(info["available_actions"]))
        return env.oracle_action()

    return driver


def random_commands(invalid: float = 0.25) -> Driver:
    """Random admissible commands; with probability ``invalid`` an invalid one or an alias.

    Aliases are the "put X in Y" / "put X on Y" / "put X in/on Y" forms of an admissible
    "move X to Y", written with odd case, spacing and a final period now and then.
    """

    def driver(env: ALFWorldEnv, info: dict[str, Any], rng: random.Random) -> str:
        actions = info["available_actions"]
        if rng.random() >= invalid:
            return str(rng.choice(actions))
        moves = [a for a in actions if a.startswith("move ")]
        if moves and rng.random() < 0.5:
            what, where = rng.choice(moves)[len("move ") :].split(" to ", 1)
            command = f"put {what} {rng.choice(['in', 'on', 'in/on', 'into'])} {where}"
            return rng.choice([command, command.upper() + ".", f"  {command}  "])
        return rng.choice(INVALID)

    return driver


DRIVERS: dict[str, Driver] = {
    "walkthrough": walkthrough,
    "wander then oracle": wander_then_oracle(6),
    "random": random_commands(),
}


def env_on(game: Path, engine: str, *, expert: bool = False) -> ALFWorldEnv:
    """An env that plays ``game`` (a ``game.tw-pddl``) on ``engine`` at every reset."""
    env = ALFWorldEnv(data_path=game.parent, engine=engine, expert=expert)
    env.files = [game]
    return env


def compare(
    game: Path,
    driver: str | Driver,
    *,
    steps: int = 30,
    seed: int = 0,
    expert: bool = False,
    oracles: bool | None = None,
    envs: tuple[ALFWorldEnv, ALFWorldEnv] | None = None,
) -> Divergence | None:
    """Play ``game`` on both engines with the same commands; the first divergence or None.

    Args:
        game: A ``game.tw-pddl`` (its folder holds ``traj_data.json``).
        driver: A name in :data:`DRIVERS` or a :data:`Driver`.
        steps: Commands to play at most (the episode may end sooner).
        seed: Seeds the reset and the driver's choices.
        expert: Compare ALFWorld's hand-coded expert's ``expert_action`` too.
        oracles: Compare the envs' ``oracle_action()`` after every step (it replans on the
            engine's facts); by default only for the ``"wander then oracle"`` driver.
        envs: A (pddl, fast) pair to reuse (``files`` is set to ``[game]``).
    """
    name = driver if isinstance(driver, str) else getattr(driver, "__name__", "driver")
    choose = DRIVERS[driver] if isinstance(driver, str) else driver
    pddl, fast = envs or (env_on(game, "pddl", expert=expert), env_on(game, "fast", expert=expert))
    pddl.files = fast.files = [game]
    rng = random.Random(seed)
    oracles = name == "wander then oracle" if oracles is None else oracles
    try:
        first = pddl.reset(seed=seed), fast.reset(seed=seed)
        found = _differ(first[0], first[1], ("observation", "info"))
        if found:
            return Divergence(game, name, 0, None, found[0], found[1], found[2])
        info = first[0][1]
        for step in range(1, steps + 1):
            command = choose(pddl, info, rng)
            ours, theirs = pddl.step(command), fast.step(command)
            fields = ("observation", "reward", "terminated", "truncated", "info")
            found = _differ(ours, theirs, fields)
            if found is None and oracles and not ours[2]:
                plans = pddl.oracle_action(), fast.oracle_action()
                if plans[0] != plans[1]:
                    found = ("oracle_action", *plans)
            if found:
                return Divergence(game, name, step, command, found[0], found[1], found[2])
            info = ours[4]
            if ours[2] or ours[3]:
                break
        return None
    finally:
        if envs is None:
            pddl.close()
            fast.close()


def _differ(ours: Any, theirs: Any, fields: tuple[str, ...]) -> tuple[str, Any, Any] | None:
    for field, a, b in zip(fields, ours, theirs, strict=True):
        if field == "info":
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    return f"info[{key!r}]", a.get(key), b.get(key)
        elif a != b:
            return field, a, b
    return None
