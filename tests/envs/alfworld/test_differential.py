"""The fast engine against ALFWorld's PDDL engine: the same text, infos and ends, step by step."""

import json
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from palaestra.envs.alfworld import TASK_TYPES, ALFWorldEnv, generated_game
from palaestra.envs.alfworld.differential import (
    DRIVERS,
    INVALID,
    compare,
    compare_engines,
    env_on,
    raw_commands,
)

SPLITS = ("train", "unseen")


def check(game: Path, driver: str, **kwargs: object) -> None:
    divergence = compare(game, driver, **kwargs)  # type: ignore[arg-type]
    assert divergence is None, str(divergence)


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_engines_agree_on_every_task_type_and_split(task_type: str, split: str) -> None:
    game = generated_game(split, task_type, 0)
    envs = env_on(game, "pddl"), env_on(game, "fast")
    for driver in DRIVERS:
        check(game, driver, steps=20, envs=envs)  # and the fast engine played, no fallback
    divergence = compare_engines(game, raw_commands(game, 25))
    assert divergence is None, str(divergence)


@pytest.mark.slow
@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_engines_agree_on_ten_games_per_task_type_and_split(task_type: str, split: str) -> None:
    game = generated_game(split, task_type, 0)
    envs = env_on(game, "pddl"), env_on(game, "fast")
    for index in range(10):
        game = generated_game(split, task_type, index)
        for seed, driver in enumerate(DRIVERS):
            check(game, driver, steps=30, seed=seed, envs=envs)
        divergence = compare_engines(game, raw_commands(game, 30, seed=index))
        assert divergence is None, str(divergence)


# Codes past the available actions pick an invalid command or a "put" alias.
_CHOICES = st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=12)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(choices=_CHOICES, which=st.sampled_from([("train", 0), ("unseen", 3)]))
def test_engines_agree_on_generated_sequences(choices: list[int], which: tuple[str, int]) -> None:
    split, type_index = which
    game = generated_game(split, TASK_TYPES[type_index], 1)
    picks = iter(choices)

    def driver(env: ALFWorldEnv, info: dict[str, object], rng: random.Random) -> str:
        actions = list(info["available_actions"])  # type: ignore[call-overload]
        code = next(picks, 0)
        if code < 150:
            return actions[code % len(actions)]
        moves = [a for a in actions if a.startswith("move ")]
        if moves and code % 2:
            what, where = moves[code % len(moves)][len("move ") :].split(" to ", 1)
            return f"Put {what} {('in', 'on', 'in/on')[code % 3]} {where}."
        return INVALID[code % len(INVALID)]

    check(game, driver, steps=len(choices))


def test_expert_actions_agree() -> None:
    game = generated_game("train", "pick_heat_then_place_in_recep", 0)
    check(game, "random", steps=15, expert=True)
    check(game, "walkthrough", steps=12, expert=True)
    # The facts ALFWorld's expert reads, in the order the PDDL engine holds them.
    divergence = compare_engines(game, raw_commands(game, 15), expert=True)
    assert divergence is None, str(divergence)


def test_official_data_goes_through_the_fast_engine(tmp_path: Path) -> None:
    # Games in ALFWorld's json_2.1.1 layout, as alfworld-download leaves them.
    root = tmp_path / "json_2.1.1"
    for split, folder in (("train", "train"), ("unseen", "valid_unseen")):
        for task_type in TASK_TYPES[:3]:
            source = generated_game(split, task_type, 1).parent
            shutil.copytree(source, root / folder / f"{task_type}-Apple-None-Fridge-1" / "trial_0")
    for split in ("train", "unseen"):
        pddl = ALFWorldEnv(data_path=root, split=split, engine="pddl")
        fast = ALFWorldEnv(data_path=root, split=split, engine="fast")
        assert fast.files is not None and len(fast.files) == 3
        for game in list(fast.files):
            divergence = compare(game, "random", steps=15, envs=(pddl, fast))
            assert divergence is None, str(divergence)


def test_a_fallback_counts_as_a_divergence(monkeypatch: pytest.MonkeyPatch) -> None:
    from palaestra.envs.alfworld import fast_engine

    def refuse(data: object) -> object:
        raise fast_engine.UnsupportedGameError("refused for the test")

    game = generated_game("train", "pick_and_place_simple", 0)
    monkeypatch.setattr(fast_engine, "_load", lambda *args: refuse(args))
    monkeypatch.setattr(fast_engine, "_games", type(fast_engine._games)())
    monkeypatch.setattr(fast_engine, "_refused", type(fast_engine._refused)())
    divergence = compare(game, "walkthrough", steps=3)
    assert divergence is not None and (divergence.step, divergence.field) == (0, "engine")
    assert compare(game, "walkthrough", steps=3, fallback=True) is None


def test_a_divergence_is_reported_with_where_and_what() -> None:
    game = generated_game("train", "pick_and_place_simple", 0)
    walkthrough = json.loads(game.read_text())["walkthrough"]

    class Lying(ALFWorldEnv):  # a fast engine that misreports one step's observation
        def _step(self, action):  # type: ignore[no-untyped-def]
            transition = super()._step(action)
            return transition._replace(observation=transition.observation + "!")

    pddl, liar = env_on(game, "pddl"), Lying(data_path=game.parent, engine="fast")
    liar.files = [game]
    divergence = compare(game, "walkthrough", envs=(pddl, liar))
    assert divergence is not None
    assert (divergence.step, divergence.command, divergence.field) == (
        1,
        walkthrough[0],
        "observation",
    )
    assert divergence.fast == divergence.pddl + "!" and walkthrough[0] in str(divergence)
