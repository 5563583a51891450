"""The structured observations that policy programs get, next to the text ones."""

from __future__ import annotations

import json

from palaestra.envs.social import GridGameParallelEnv, MatrixGameParallelEnv


def test_grid_observation_is_the_text_view_as_data() -> None:
    env = GridGameParallelEnv("cleanup")
    observations, _ = env.reset(seed=0)
    data = env.program_observation("player_0")
    assert json.loads(json.dumps(data)) == data  # JSON types only
    rows = ["".join(row) for row in data["view"]]
    assert str(observations["player_0"]).endswith("\n".join(rows))
    radius = data["radius"]
    assert data["view"][radius][radius] == "^" and data["orientation"] == "north"
    assert data["position"] == [1, 5] and data["letter"] == "A" and data["tagged_out"] == 0
    assert "clean" in data["actions"] and data["max_steps"] == env.max_cycles


def test_grid_observation_follows_the_game() -> None:
    env = GridGameParallelEnv("gathering", grid=("#####", "#P@P#", "#####"), tag_steps=3)
    env.reset(seed=0)
    before = env.program_observation("player_0")
    env.step({"player_0": "turn right", "player_1": "turn left"})  # east; west
    env.step({"player_0": "forward", "player_1": "stay"})
    after = env.program_observation("player_0")
    assert before["orientation"] == "north" and after["orientation"] == "east"
    assert after["apples"] == 1 and after["step"] == 2 and "clean" not in after["actions"]
    env.step({"player_0": "stay", "player_1": "zap"})
    tagged = env.program_observation("player_0")
    assert tagged["tagged_out"] > 0
    assert {cell for row in tagged["view"] for cell in row} == {"#"}


def test_matrix_game_observation_is_the_history() -> None:
    env = MatrixGameParallelEnv("prisoners_dilemma", horizon=3)
    env.reset(seed=0)
    assert env.program_observation("player_0")["my_moves"] == []
    env.step({"player_0": "cooperate", "player_1": "defect"})
    data = env.program_observation("player_0")
    assert json.loads(json.dumps(data)) == data
    assert data["my_moves"] == ["cooperate"] and data["others_moves"] == [["defect"]]
    assert data["my_rewards"] == [0.0] and data["round"] == 1 and data["max_rounds"] == 3
    assert data["actions"] == ["cooperate", "defect"]
    goods = MatrixGameParallelEnv("public_goods")
    assert goods.action_names()[0] == "0" and goods.action_names()[-1] == "10"
