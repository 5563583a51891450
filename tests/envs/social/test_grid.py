"""Gathering and Cleanup: PettingZoo API tests and the classic rules on small maps."""

import gymnasium as gym
import pettingzoo
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test
from pettingzoo.utils.conversions import parallel_to_aec

from palaestra.envs.social import GridGameParallelEnv, greedy_harvester
from palaestra.errors import InvalidArgumentError


@pytest.mark.parametrize("game", ["gathering", "cleanup"])
# PettingZoo's tests advise array observations and Box/Discrete spaces; text ones are the point.
@pytest.mark.filterwarnings("ignore:Observation is not a NumPy array")
@pytest.mark.filterwarnings("ignore:(Observation|Action) space for each agent probably")
def test_pettingzoo_api_and_seed_tests(game: str) -> None:
    api_test(parallel_to_aec(GridGameParallelEnv(game, max_cycles=60)), num_cycles=40)
    parallel_api_test(GridGameParallelEnv(game, max_cycles=60), num_cycles=80)
    parallel_seed_test(lambda: GridGameParallelEnv(game, max_cycles=60), num_cycles=60)
    assert isinstance(
        pettingzoo.make("parallel", f"palaestra/{game.title()}-v0"), GridGameParallelEnv
    )


def corridor(**kwargs: object) -> GridGameParallelEnv:
    # Two players facing north in a corridor with one apple between them.
    env = GridGameParallelEnv("gathering", grid=["#####", "#P@P#", "#####"], **kwargs)  # type: ignore[arg-type]
    env.reset(seed=0)
    return env


def test_apple_gives_a_point_and_regrows_after_its_steps() -> None:
    env = corridor(regrow_steps=3)
    _, rewards, *_ = env.step({"player_0": "right", "player_1": "stay"})
    assert rewards == {"player_0": 1.0, "player_1": 0.0}
    assert env.cells[1, 2] == "." and env.position["player_0"] == (1, 2)
    env.step({"player_0": "left", "player_1": "stay"})  # step off the cell
    env.step(dict.fromkeys(env.agents, "stay"))
    assert env.cells[1, 2] == "."
    env.step(dict.fromkeys(env.agents, "stay"))
    assert env.cells[1, 2] == "@"  # eaten in step 1, back at the end of step 1 + 3


def test_zap_tags_the_first_player_in_the_beam_for_its_steps() -> None:
    env = corridor(tag_steps=2)
    env.step({"player_0": "turn right", "player_1": "stay"})  # now facing east
    observations, _, _, _, _ = env.step({"player_0": "zap", "player_1": "stay"})
    assert env.out["player_1"] == 1  # tagged this step, one more to go
    assert "tagged" in observations["player_1"]
    *_, infos = env.step(dict.fromkeys(env.agents, "stay"))
    assert env.out["player_1"] == 0
    assert not infos["player_1"]["invalid_action"]


def test_invalid_action_stays_and_touches_no_one_else() -> None:
    env = corridor()
    before = dict(env.position)
    *_, infos = env.step({"player_0": "fly to the moon", "player_1": "left"})
    assert infos["player_0"]["invalid_action"] and not infos["player_1"]["invalid_action"]
    assert env.position["player_0"] == before["player_0"]
    assert env.position["player_1"] == (1, 2)  # player_1 ate the apple
    *_, infos = env.step({"player_0": "clean", "player_1": None})  # no cleaning in Gathering
    assert infos["player_0"]["invalid_action"] and infos["player_1"]["invalid_action"]


def test_cleanup_apples_stop_growing_in_a_polluted_river() -> None:
    grid = ["#######", "#~~P.@#", "#######"]  # the map's apple cell is the orchard
    dirty = GridGameParallelEnv("cleanup", grid=grid, waste_rate=1.0, apple_rate=1.0)
    dirty.reset(seed=0)
    dirty.cells[1, 5] = "."  # its apple eaten
    dirty.step({"player_0": "stay"})
    assert dirty.pollution == 1.0 and dirty.cells[1, 5] == "."
    clean = GridGameParallelEnv("cleanup", grid=grid, waste_rate=0.0, apple_rate=1.0)
    clean.reset(seed=0)
    clean.cells[1, 5] = "."
    clean.step({"player_0": "stay"})
    assert clean.cells[1, 5] == "@"


def test_cleaning_removes_waste_in_front_and_costs_the_cleaner() -> None:
    env = GridGameParallelEnv("cleanup", grid=["######", "#**P.#", "######"], clean_cost=0.5,
                         waste_rate=0.0)  # fmt: skip
    env.reset(seed=0)
    env.step({"player_0": "turn left"})  # facing west, toward the waste
    _, rewards, *_ = env.step({"player_0": "clean"})
    assert rewards["player_0"] == -0.5
    assert list(env.cells[1, 1:3]) == ["~", "~"]


def test_episode_end_metrics() -> None:
    env = corridor(max_cycles=2, tag_steps=5)
    env.step({"player_0": "turn right", "player_1": "stay"})
    *_, truncations, infos = env.step({"player_0": "zap", "player_1": "stay"})
    assert all(truncations.values()) and env.agents == []
    metrics = infos["player_0"]["episode_metrics"]
    assert metrics["peace"] == 2 * 2 - 1  # player_1 was out for one agent-step


def test_greedy_harvester_walks_to_apples() -> None:
    env = corridor()
    assert greedy_harvester(env, "player_0") == "right"  # facing north, apple to the east
    assert greedy_harvester(env, "player_1") == "left"


def test_gymnasium_view_against_greedy() -> None:
    env = gym.make("palaestra/Gathering-v0", max_cycles=30)
    _, info = env.reset(seed=0)
    total = 0.0
    for _ in range(30):
        _, reward, terminated, truncated, info = env.step("forward")
        total += reward
        if terminated or truncated:
            break
    assert terminated and "apples" in info["episode_metrics"]
    assert info["episode_metrics"]["return"] == total


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"game": "tag"}, "unknown grid game"),
        ({"grid": ["##", "#"]}, "equal length"),
        ({"grid": ["#X#"]}, "unknown cells"),
        ({"grid": ["###"]}, "player starts"),
    ],
)
def test_bad_maps(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        GridGameParallelEnv(**kwargs)  # type: ignore[arg-type]


def test_step_needs_a_dict_of_actions() -> None:
    env = GridGameParallelEnv("gathering", max_cycles=10)
    env.reset(seed=0)
    with pytest.raises(InvalidArgumentError, match="step\\(\\) takes a dict of actions"):
        env.step("forward")  # type: ignore[arg-type]
