"""The offline task generator: splits, determinism, ALFWorld's folder format, the cache."""

import hashlib
import json
from pathlib import Path

import pytest

from palaestra.envs.alfworld import TASK_TYPES, generate_task, generated_game, solve
from palaestra.envs.alfworld import generator as generator_module
from palaestra.envs.alfworld.engine import downward_plan, start_engine
from palaestra.envs.alfworld.games import GENERATOR_VERSION
from palaestra.envs.alfworld.generator import (
    MAX_PLAN_STEPS,
    GenerationError,
    scenes,
    task_type_name,
)

#: SHA-256 of game.tw-pddl + traj_data.json of train task 0 of each type. A change here
#: means the generator writes other games for the same seeds: bump GENERATOR_VERSION (the
#: cache key) and update these.
PINNED = {
    "pick_and_place_simple": "e433f12dddc39744412f04402baabb2d031c4ae7a05530bd92b7aede58fe5cd9",
    "look_at_obj_in_light": "29df118244e29a4979c8b35f4eea4e578dd00c311843e1f61804b2da7cb4fda8",
    "pick_clean_then_place_in_recep": (
        "fcf521659f6b563b35013dadc9323f1ed5ea5ff0bd6a8c190f5bf4e2a25552dc"
    ),
    "pick_heat_then_place_in_recep": (
        "075b1015fd16b298d35f0be4917acacee1ac38bf01b5b7f83ec930c7692e372d"
    ),
    "pick_cool_then_place_in_recep": (
        "1b3d1b7a322038344c14c7102188dfa7de0d21baf7daf8e499bf457f6fa638a8"
    ),
    "pick_two_obj_and_place": "caf1e3707e9d2907302974ec683c58f310cb147afde5ab854772e0125fb6e932",
}


def test_unseen_floor_plans_never_appear_in_train() -> None:
    train, unseen = set(scenes("train")), set(scenes("unseen"))
    assert train and unseen and not train & unseen
    assert {n // 100 for n in unseen} == {0, 2, 3, 4}  # every room type


def test_generation_is_seeded_and_writes_alfworld_folders(tmp_path: Path) -> None:
    first = generate_task("heat", "unseen", 7, tmp_path / "a")
    second = generate_task("heat", "unseen", 7, tmp_path / "b")
    assert first.scene in scenes("unseen")
    game_a = json.loads(first.game_file.read_text())
    game_b = json.loads(second.game_file.read_text())
    assert game_a == game_b and first.walkthrough == second.walkthrough
    assert set(game_a) >= {"pddl_domain", "grammar", "pddl_problem", "solvable", "walkthrough"}
    assert game_a["solvable"] is True and "(:domain alfred)" in game_a["pddl_problem"]
    traj = json.loads((first.folder / "traj_data.json").read_text())
    assert traj["task_type"] == "pick_heat_then_place_in_recep"
    assert traj["pddl_params"]["object_target"] and traj["pddl_params"]["parent_target"]
    assert first.goal in game_a["grammar"]
    # The stored walkthrough is the shortest plan, and replays to a win on the engine.
    assert solve(first.game_file) == list(game_a["walkthrough"]) == list(first.walkthrough)


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_same_seed_same_bytes_on_any_machine(task_type: str) -> None:
    game = generated_game("train", task_type, 0)
    digest = hashlib.sha256()
    for name in ("game.tw-pddl", "traj_data.json"):
        digest.update((game.parent / name).read_bytes())
    assert digest.hexdigest() == PINNED[task_type], (
        f"the generator changed what it writes: bump GENERATOR_VERSION "
        f"(now {GENERATOR_VERSION}) and the pinned hashes"
    )


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_walkthroughs_fit_the_limit_and_win(task_type: str) -> None:
    game = generated_game("train", task_type, 0)
    walkthrough = json.loads(game.read_text())["walkthrough"]
    assert 3 <= len(walkthrough) <= MAX_PLAN_STEPS
    engine = start_engine(game)
    try:
        state = engine.reset()
        for command in walkthrough:
            assert command in state.admissible_commands
            assert not state["won"]  # no prefix of a shortest plan already wins
            state, _, _ = engine.step(command)
        assert state["won"]
    finally:
        engine.close()


def test_never_longer_than_fast_downward() -> None:
    # ALFWorld's own planner (satisficing search) on small households: ours is a shortest
    # plan, so never longer; and both win.
    for task_type in ("pick_and_place_simple", "look_at_obj_in_light"):
        game = generated_game("train", task_type, 0)
        ours = json.loads(game.read_text())["walkthrough"]
        engine = start_engine(game)
        try:
            engine.reset()
            theirs = downward_plan(engine)
        finally:
            engine.close()
        assert theirs and len(ours) <= len(theirs), (ours, theirs)


def test_draws_whose_plan_is_too_long_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = generate_task("pick", "train", 2, tmp_path / "default")
    assert len(default.walkthrough) == 5
    monkeypatch.setattr(generator_module, "MAX_PLAN_STEPS", 4)
    short = generate_task("pick", "train", 2, tmp_path / "short")
    assert len(short.walkthrough) <= 4
    assert (short.scene, short.goal) != (default.scene, default.goal)
    again = generate_task("pick", "train", 2, tmp_path / "again")  # the same next draw
    assert (again.scene, again.goal, again.walkthrough) == (
        short.scene,
        short.goal,
        short.walkthrough,
    )


def test_generation_gives_up_after_bounded_draws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def nothing_fits(*args: object) -> None:
        calls.append(1)

    monkeypatch.setattr(generator_module, "_choose_targets", nothing_fits)
    with pytest.raises(
        GenerationError,
        match=r"no pick_two_obj_and_place task in split 'unseen' for seed 5: none of 50 draws",
    ):
        generate_task("pick_two", "unseen", 5, tmp_path / "task")
    assert len(calls) == generator_module.MAX_DRAWS
    assert not (tmp_path / "task").exists()


def test_different_seeds_give_different_tasks(tmp_path: Path) -> None:
    tasks = [generate_task("pick", "train", s, tmp_path / str(s)) for s in range(3)]
    assert len({(t.scene, t.goal) for t in tasks}) > 1


def test_task_type_names() -> None:
    assert task_type_name("pick_two") == "pick_two_obj_and_place"
    assert all(task_type_name(t) == t for t in TASK_TYPES)
    with pytest.raises(Exception, match="unknown ALFWorld task type 'slice'"):
        task_type_name("slice")
