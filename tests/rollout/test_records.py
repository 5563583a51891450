"""The episode record: its derived figures, its JSON form and the summary over episodes."""

import json

import numpy as np
import pytest

from palaestra.rollout import Episode, Turn, summarize_episodes


def episode(rewards: list[float], *, invalid: int = 0, **metrics: float) -> Episode:
    turns = [
        Turn(observation=f"o{k}", action=np.int64(k), reward=r, invalid_action=k < invalid)
        for k, r in enumerate(rewards)
    ]
    return Episode(env_id="x", seed=1, turns=turns, success=sum(rewards) > 1, metrics=metrics)


def test_derived_figures() -> None:
    e = episode([1.0, 0.5, -0.5], invalid=1)
    assert e.actions == [0, 1, 2] and e.rewards == [1.0, 0.5, -0.5]
    assert e.total_reward == 1.0 and e.length == 3 and e.invalid_actions == 1
    assert e.response_tokens == 0  # a scripted agent samples no tokens


def test_the_json_form_holds_numpy_actions_as_plain_numbers() -> None:
    data = json.loads(json.dumps(episode([1.0, 2.0]).to_dict()))
    assert data["actions"] == [0, 1] and data["rewards"] == [1.0, 2.0] and data["success"]
    assert set(data) == {"env_id", "seed", "actions", "rewards", "success", "terminated",
                         "metrics", "invalid_actions"}  # fmt: skip


def test_the_summary_means_every_metric_over_the_episodes_that_have_it() -> None:
    summary = summarize_episodes(
        [episode([1.0, 1.0], regret=2.0), episode([0.0], invalid=1), episode([3.0], regret=4.0)]
    )
    assert summary["episodes"] == 3 and summary["return"] == pytest.approx(5 / 3)
    assert summary["success_rate"] == pytest.approx(2 / 3)
    assert summary["length"] == pytest.approx(4 / 3) and summary["invalid_rate"] == 0.25
    assert summary["regret"] == 3.0
