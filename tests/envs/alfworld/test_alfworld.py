"""ALFWorld on its own engine: the oracle wins every task type and split; actions, data folders."""

import gc
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

from palaestra.envs.alfworld import TASK_TYPES, ALFWorldEnv, generated_game, translation
from palaestra.errors import InvalidArgumentError
from tests.envs.helpers import check_oracle_recovers, finish_with_oracle, play_oracle

POOL = {"pool_size": 2}


@pytest.mark.parametrize("split", ["train", "unseen"])
@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_oracle_wins_every_task_type_and_split(task_type: str, split: str) -> None:
    env = gym.make("palaestra/ALFWorld-v0", task_type=task_type, split=split, **POOL)
    played: set[Path] = set()
    for seed in range(8):
        total, info, steps = play_oracle(env, seed)
        walkthrough = env.unwrapped.walkthrough
        assert info["success"] and total == 1.0, (task_type, split, seed)
        assert steps == len(walkthrough) <= 25  # the shortest plan, with room to spare
        assert env.unwrapped.task["task_type"] == task_type
        played.add(env.unwrapped.game_file)
        if len(played) == 2:  # both games of the pool
            break
    assert len(played) == 2


def test_oracle_recovers_from_an_unrelated_object_in_hand() -> None:
    env = gym.make("palaestra/ALFWorld-Pick-v0", **POOL)
    _, info = env.reset(seed=0)
    target = env.unwrapped.task["pddl_params"]["object_target"].lower()
    for _ in range(10):  # walk until something other than the target can be taken
        takes = [a for a in info["available_actions"] if a.startswith("take ") and target not in a]
        if takes:
            break
        goes = [a for a in info["available_actions"] if a.startswith("go to")]
        _, _, _, _, info = env.step(goes[len(env.unwrapped.commands) % len(goes)])
    assert takes
    env.step(takes[0])
    _, info, steps = finish_with_oracle(env)
    assert info["success"] and steps <= 25


def planner_library_copies() -> int:
    maps = Path("/proc/self/maps").read_text().splitlines()
    return len({line.split()[-1] for line in maps if "libdownward" in line})


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc")
def test_resets_do_not_load_the_planner_library_again() -> None:
    # Every PddlEnv maps its own copy of Fast Downward's library and never unmaps it: an
    # env keeps one engine (and one shadow engine) for its whole life.
    env = gym.make("palaestra/ALFWorld-Pick-v0", **POOL)
    for seed in range(4):  # generates the pool and starts the oracle's shadow engine
        env.reset(seed=seed)
        env.step("look")
        env.unwrapped.oracle_action()
    before = planner_library_copies()
    for seed in range(4, 12):
        env.reset(seed=seed)
        env.step("look")
        env.unwrapped.oracle_action()
    assert planner_library_copies() == before


def test_oracle_wins_after_leaving_the_walkthrough() -> None:
    env = gym.make("palaestra/ALFWorld-Pick-v0", **POOL)
    # Walking to random places leaves the walkthrough; the oracle plans anew.
    check_oracle_recovers(env, seed=0, wander=4, within=25, rng_seed=3, prefix="go to")


def test_expert_action_only_when_asked() -> None:
    env = gym.make("palaestra/ALFWorld-Heat-v0", **POOL)
    assert "expert_action" not in env.reset(seed=0)[1]
    env = gym.make("palaestra/ALFWorld-Heat-v0", expert=True, **POOL)
    _, info = env.reset(seed=0)
    for _ in range(49):
        assert info["expert_action"] in info["available_actions"] or info["expert_action"] == "look"
        _, _, terminated, _, info = env.step(info["expert_action"])
        if terminated:
            break
    assert info["success"]


def test_old_put_syntax_is_accepted_as_move() -> None:
    env = gym.make("palaestra/ALFWorld-Pick-v0", **POOL)
    env.reset(seed=1)
    walkthrough = env.unwrapped.walkthrough
    for command in walkthrough[:-1]:
        env.step(command)
    final = walkthrough[-1]
    assert final.startswith("move ")
    obj, recep = final[len("move ") :].split(" to ")
    _, reward, terminated, _, info = env.step(f"  Put {obj} in/on {recep}. ")
    assert reward == 1.0 and terminated and info["success"] and not info["invalid_action"]


@pytest.mark.parametrize(
    "action",
    ["xyzzy", "go to the moon", "take apple 99 from fridge 1", "move everything to me",
     "put", "go to countertop 1; go to fridge 1", "GO TO", "look look", "help me"],
)  # fmt: skip
def test_other_commands_are_invalid_and_nothing_happens(action: str) -> None:
    env = gym.make("palaestra/ALFWorld-Pick-v0", **POOL)
    env.reset(seed=0)
    before = env.unwrapped.commands
    observation, reward, terminated, _, info = env.step(action)
    assert observation == "Nothing happens." and info["invalid_action"]
    assert reward == pytest.approx(-0.1) and not terminated
    assert env.unwrapped.commands == before


def test_first_observation_and_instruction() -> None:
    observation, info = gym.make("palaestra/ALFWorld-Clean-v0", **POOL).reset(seed=0)
    assert observation.startswith("You are in the middle of a room.")
    assert "Welcome" not in observation
    task = observation.rsplit("Your task is to: ", 1)[1]
    assert info["instruction"].endswith(f"Your task is to: {task}")
    assert "clean" in task


def official_layout(root: Path, games: list[Path]) -> Path:
    """A json_2.1.1 folder in ALFWorld's layout holding copies of generated games."""
    data = root / "json_2.1.1"
    for k, game in enumerate(games):
        traj = json.loads((game.parent / "traj_data.json").read_text())
        split = "train" if k % 2 == 0 else "valid_unseen"
        name = f"{traj['task_type']}-{traj['pddl_params']['object_target']}-None-{k}"
        trial = data / split / name / f"trial_T2019_{k:04d}"
        shutil.copytree(game.parent, trial)
    return data


def test_official_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    games = [generated_game("train", t, 0) for t in TASK_TYPES[:4]]
    data = official_layout(tmp_path, games)
    env = gym.make("palaestra/ALFWorld-v0", data_path=data)
    assert len(env.unwrapped.files) == 2  # the train split only
    total, info, _ = play_oracle(env, 0)
    assert info["success"] and total == 1.0
    assert all("valid_unseen" in str(f) for f in ALFWorldEnv(data_path=data, split="unseen").files)
    assert len(ALFWorldEnv(data_path=data, task_type="clean").files) == 1
    monkeypatch.setenv("PALAESTRA_ALFWORLD_DATA", str(data))
    assert ALFWorldEnv().files == env.unwrapped.files


def test_bad_data_folders_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=f"{tmp_path / 'missing'} does not exist"):
        ALFWorldEnv(data_path=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgumentError, match=r"no ALFWorld games under .*empty"):
        ALFWorldEnv(data_path=tmp_path / "empty")
    bad_traj = tmp_path / "bad" / "task"
    bad_traj.mkdir(parents=True)
    (bad_traj / "traj_data.json").write_text("{nope")
    (bad_traj / "game.tw-pddl").write_text("{}")
    with pytest.raises(InvalidArgumentError, match=r"traj_data\.json is not an ALFWorld"):
        ALFWorldEnv(data_path=tmp_path / "bad")


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "an ALFWorld game file \\(JSON\\)"), ('{"grammar": ""}', "missing pddl_domain")],
)
def test_malformed_game_files_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    task = tmp_path / "data" / "train" / "task"
    task.mkdir(parents=True)
    (task / "traj_data.json").write_text(json.dumps({"task_type": "pick_and_place_simple"}))
    (task / "game.tw-pddl").write_text(content)
    env = ALFWorldEnv(data_path=tmp_path / "data")
    with pytest.raises(InvalidArgumentError, match=f"game.tw-pddl is not .*{message}"):
        env.reset(seed=0)


def test_broken_problem_fails_clearly(tmp_path: Path) -> None:
    game = generated_game("train", "pick_and_place_simple", 0)
    task = tmp_path / "data" / "task"
    shutil.copytree(game.parent, task)
    data = json.loads((task / "game.tw-pddl").read_text())
    data["pddl_problem"] = "(define (problem broken"
    (task / "game.tw-pddl").write_text(json.dumps(data))
    with pytest.raises(InvalidArgumentError, match="cannot load ALFWorld game"):
        ALFWorldEnv(data_path=tmp_path / "data").reset(seed=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task_type": "juggle"}, "unknown ALFWorld task type"),
        ({"split": "test"}, "unknown ALFWorld split"),
        ({"pool_size": 0}, "pool_size"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        gym.make("palaestra/ALFWorld-v0", **kwargs)


def test_async_vector_env_and_clean_close() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        envs = gym.vector.AsyncVectorEnv(
            [lambda: gym.make("palaestra/ALFWorld-Pick-v0", **POOL)] * 2, shared_memory=False
        )
        observations, infos = envs.reset(seed=[0, 1])
        actions = [infos["available_actions"][i][0] for i in range(2)]
        observations, rewards, _, _, _ = envs.step(actions)
        assert len(observations) == 2 and rewards.shape == (2,)
        envs.close()
        env = gym.make("palaestra/ALFWorld-Pick-v0", **POOL)
        env.reset(seed=0)
        env.step(env.unwrapped.oracle_action())
        env.close()
        del env
        gc.collect()
    assert [str(w.message) for w in caught] == []
    import multiprocessing

    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("engine", ["fast", "pddl"])
def test_resetting_the_same_game_translates_nothing(engine: str) -> None:
    env = gym.make("palaestra/ALFWorld-Pick-v0", engine=engine, **POOL)
    env.reset(seed=0)
    runs = translation.translator_runs()
    for _ in range(3):
        env.reset(seed=0)
        env.step("look")
    assert translation.translator_runs() == runs


def test_look_oracle_recovers_from_an_unrelated_object_in_hand() -> None:
    # Holding any object is not enough for a look task: the goal's type must be in hand.
    env = gym.make("palaestra/ALFWorld-Look-v0", **POOL)
    _, info = env.reset(seed=0)
    target = env.unwrapped.task["pddl_params"]["object_target"].lower()
    for command in info["available_actions"]:
        if command.startswith("go to"):
            _, _, _, _, info = env.step(command)
            takes = [a for a in info["available_actions"] if a.startswith("take ")]
            others = [a for a in takes if target not in a.split(" from ")[0]]
            if others:
                env.step(others[0])
                break
    else:
        pytest.fail("no unrelated object to take in this household")
    _, info, steps = finish_with_oracle(env)
    assert info["success"] and steps <= 25


def test_a_failed_load_leaves_the_engine_usable(tmp_path: Path) -> None:
    good = generated_game("train", "pick_and_place_simple", 0)
    data = tmp_path / "data"
    shutil.copytree(good.parent, data / "a-good")
    shutil.copytree(good.parent, data / "b-broken")
    broken = data / "b-broken" / "game.tw-pddl"
    game = json.loads(broken.read_text())
    game["pddl_problem"] = "(define (problem broken"
    broken.write_text(json.dumps(game))
    env = ALFWorldEnv(data_path=data)
    outcomes = []
    for seed in range(12):
        try:
            env.reset(seed=seed)
            env.step("look")
            outcomes.append("ok")
        except InvalidArgumentError:
            assert env.game_file == broken
            outcomes.append("broken")
    assert "ok" in outcomes[outcomes.index("broken") :]  # a good reset after a failed load


def test_goals_the_search_does_not_model_fall_back_to_fast_downward(tmp_path: Path) -> None:
    from palaestra.envs.alfworld.engine import goal_of

    game = generated_game("train", "pick_and_place_simple", 0)
    traj = json.loads((game.parent / "traj_data.json").read_text())
    assert goal_of(traj) is not None
    assert goal_of({**traj, "task_type": "pick_and_place_with_movable_recep"}) is None
    sliced = {**traj, "pddl_params": {**traj["pddl_params"], "object_sliced": True}}
    assert goal_of(sliced) is None
    # A game whose goal the search does not model: the oracle asks Fast Downward.
    task = tmp_path / "data" / "task"
    shutil.copytree(game.parent, task)
    (task / "traj_data.json").write_text(json.dumps(sliced))
    data = json.loads((task / "game.tw-pddl").read_text())
    (task / "game.tw-pddl").write_text(json.dumps({**data, "walkthrough": None}))
    env = gym.make("palaestra/ALFWorld-v0", data_path=tmp_path / "data")
    total, info, _ = play_oracle(env, 0)
    assert info["success"] and total == 1.0


def test_a_household_made_for_one_episode_is_discarded_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from palaestra.envs.alfworld import ALFWorldEnv
    from palaestra.paths import cache_dir

    monkeypatch.setenv("PALAESTRA_CACHE_DIR", str(tmp_path))  # its own: no other writers

    def cached() -> set[Path]:
        return {p for folder in ("fast", "sas") for p in cache_dir("alfworld", folder).iterdir()}

    before = cached()
    env = ALFWorldEnv(**ALFWorldEnv.unseen_game_kwargs)
    env.reset(seed=2**100 + 7)
    task = env.game_file.parent  # type: ignore[union-attr]
    assert task.is_dir() and cached() - before  # translated and compiled
    env.discard_game()
    assert not task.exists()
    assert not cached() - before  # so are they: a server's live games leave nothing behind
    env.close()
    pooled = ALFWorldEnv(pool_size=1)
    pooled.reset(seed=0)
    pooled.discard_game()
    assert pooled.game_file is not None and pooled.game_file.exists()  # everyone's: kept
    pooled.close()
