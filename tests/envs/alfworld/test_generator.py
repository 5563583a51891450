"""The offline task generator: splits, determinism, ALFWorld's folder format, the cache."""

import json
from pathlib import Path

import pytest

from palaestra.envs.alfworld import TASK_TYPES, generate_task, solve
from palaestra.envs.alfworld.generator import scenes, task_type_name


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
    # The stored walkthrough replays to a win on a fresh engine.
    assert solve(first.game_file) is not None


def test_different_seeds_give_different_tasks(tmp_path: Path) -> None:
    tasks = [generate_task("pick", "train", s, tmp_path / str(s)) for s in range(3)]
    assert len({(t.scene, t.goal) for t in tasks}) > 1


def test_task_type_names() -> None:
    assert task_type_name("pick_two") == "pick_two_obj_and_place"
    assert all(task_type_name(t) == t for t in TASK_TYPES)
    with pytest.raises(Exception, match="unknown ALFWorld task type 'slice'"):
        task_type_name("slice")
