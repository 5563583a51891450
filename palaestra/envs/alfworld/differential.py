"""The fast and the PDDL ALFWorld engines driven by the same commands, compared every step.

:func:`compare` plays one game in two :class:`~palaestra.envs.alfworld.ALFWorldEnv`
instances, one per engine, feeding both the commands a :data:`Driver` chooses from what the
PDDL env shows, and returns the first step where their observations, rewards, flags or
infos differ (or their oracles disagree). :data:`DRIVERS` are the sequences the tests and
``benchmarks/alfworld_differential.py`` use: the walkthrough, the oracle after wandering,
and random admissible commands mixed with invalid ones and "put X in/on Y" aliases.
:func:`compare_engines` compares the engines themselves, fed :func:`raw_commands` (padded,
odd-cased and invalid commands, which the env never passes on) and going on after the end.
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
    fallback: bool = False,
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
        fallback: Accept the fast env handing the game to the PDDL engine; otherwise that
            is reported (field ``"engine"``): the comparison would prove nothing.
    """
    name = driver if isinstance(driver, str) else getattr(driver, "__name__", "driver")
    choose = DRIVERS[driver] if isinstance(driver, str) else driver
    pddl, fast = envs or (env_on(game, "pddl", expert=expert), env_on(game, "fast", expert=expert))
    pddl.files = fast.files = [game]
    rng = random.Random(seed)
    oracles = name == "wander then oracle" if oracles is None else oracles
    try:
        first = pddl.reset(seed=seed), fast.reset(seed=seed)
        found = _differ(first[0], first[1], ("observation", "info")) or _engine(fast, fallback)
        if found:
            return Divergence(game, name, 0, None, found[0], found[1], found[2])
        info = first[0][1]
        for step in range(1, steps + 1):
            command = choose(pddl, info, rng)
            ours, theirs = pddl.step(command), fast.step(command)
            fields = ("observation", "reward", "terminated", "truncated", "info")
            found = _differ(ours, theirs, fields)
            found = found or _engine(fast, fallback)
            if found is None and oracles and not ours[2]:
                plans = pddl.oracle_action(), fast.oracle_action()
                if plans[0] != plans[1]:
                    found = ("oracle_action", *plans)
                elif not fallback and fast.oracle_engine != "fast":
                    found = ("oracle engine", "pddl", fast.oracle_engine)
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


def _engine(fast: ALFWorldEnv, fallback: bool) -> tuple[str, Any, Any] | None:
    return None if fallback or fast._kind == "fast" else ("engine", "pddl", fast._kind)


#: What :func:`compare_engines` compares in every state the engines return.
STATE_KEYS = (
    "feedback", "admissible_commands", "won", "lost", "score", "done", "last_command",
    "extra.gamefile", "extra.expert_plan",
)  # fmt: skip


def compare_engines(game: Path, commands: list[str], *, expert: bool = False) -> Divergence | None:
    """Both engines themselves (no env in between) fed ``commands``, as they are.

    The env accepts only admissible commands (cleaned up, aliases rewritten); the engines
    also answer anything else ("Nothing happens."), strip what they get, and go on after
    the end. Compares :data:`STATE_KEYS` and, with ``expert``, the facts in order.
    """
    from palaestra.envs.alfworld.engine import start_engine
    from palaestra.envs.fd_output import silenced

    engines = [start_engine(game, expert=expert, engine=kind) for kind in ("pddl", "fast")]
    try:
        with silenced():
            states = [engine.reset() for engine in engines]
        for step, command in enumerate([None, *commands]):
            if command is not None:
                with silenced():
                    states = [engine.step(command)[0] for engine in engines]
            keys = STATE_KEYS + (("facts",) if expert else ())
            for key in keys:
                ours, theirs = (_plain(state.get(key)) for state in states)
                if ours != theirs:
                    return Divergence(game, "engines", step, command, key, ours, theirs)
        return None
    finally:
        for engine in engines:
            engine.close()


def raw_commands(game: Path, steps: int, seed: int = 0) -> list[str]:
    """Commands to feed the engines themselves, drawn as the fast engine plays.

    Admissible ones, some in odd case or padded with whitespace, and invalid ones
    (:data:`INVALID`).
    """
    from palaestra.envs.alfworld.engine import start_engine

    rng = random.Random(f"{game}:{seed}")
    engine = start_engine(game, engine="fast")
    state, commands = engine.reset(), []
    for _ in range(steps):
        draw, command = rng.random(), rng.choice(state.admissible_commands)
        if draw >= 0.85:
            command = rng.choice(INVALID)
        elif draw >= 0.75:
            command = f" \t{command.upper() if draw >= 0.8 else command}\n "
        commands.append(command)
        state = engine.step(command)[0]
    engine.close()
    return commands


def _plain(value: Any) -> Any:
    if isinstance(value, list) and value and hasattr(value[0], "names"):
        return [str(v) for v in value]  # propositions
    return value


def _differ(ours: Any, theirs: Any, fields: tuple[str, ...]) -> tuple[str, Any, Any] | None:
    for field, a, b in zip(fields, ours, theirs, strict=True):
        if field == "info":
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    return f"info[{key!r}]", a.get(key), b.get(key)
        elif a != b:
            return field, a, b
    return None
