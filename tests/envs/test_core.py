"""The TextEnv base: spaces, invalid actions, allowance, info keys, rendering."""

from typing import Any

import gymnasium as gym
import pytest
from gymnasium.error import ResetNeeded

from palaestra.envs.core import (
    INVALID_ACTION_PENALTY,
    InvalidAction,
    TextEnv,
    TextSpace,
    Transition,
)
from palaestra.envs.wrappers import EpisodeEndInfo
from palaestra.errors import InvalidArgumentError


class Counter(TextEnv):
    """Say "up" to count to `target`; the oracle says "up"."""

    def __init__(self, *, target: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.count = 0

    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        self.count = int(self.np_random.integers(0, 2))
        return f"count {self.count}", {"instruction": "say up"}

    def _parse_action(self, text: str) -> str:
        if text.lower() != "up":
            raise InvalidAction(f"unknown word {text!r}")
        return text

    def _step(self, action: str) -> Transition:
        self.count += 1
        return Transition(f"count {self.count}", 1.0, self.count >= self.target, {})

    def _available_actions(self) -> list[str]:
        return ["up"]

    def _success(self) -> bool:
        return self.count >= self.target

    def _metrics(self) -> dict[str, float]:
        return {"count": float(self.count)}

    def oracle_action(self) -> str:
        return "up"


def test_text_space_contains_any_unicode_of_bounded_length() -> None:
    space = TextSpace(10)
    assert space.contains("héllo 世界")
    assert not space.contains("x" * 11)
    assert not space.contains(b"bytes")
    assert space.contains(space.sample())
    assert space == TextSpace(10) and space != TextSpace(11)


def test_reset_and_step_info_keys() -> None:
    env = Counter()
    _, info = env.reset(seed=0)
    assert info["instruction"] == "say up"
    assert info["turn"] == 0 and info["available_actions"] == ["up"]
    _, reward, _, truncated, info = env.step("up")
    assert info["invalid_action"] is False and info["turn"] == 1
    assert reward == 1.0 and not truncated


def test_invalid_action_feedback_and_penalty() -> None:
    env = Counter()
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step("down")
    assert info["invalid_action"] is True
    assert info["invalid_reason"] == "unknown word 'down'"
    assert obs.startswith("Invalid action: unknown word 'down'.")
    assert reward == INVALID_ACTION_PENALTY
    assert not terminated


def test_invalid_feedback_does_not_nest() -> None:
    env = Counter()
    env.reset(seed=0)
    env.step("down")
    obs, *_ = env.step("down")
    assert obs.count("Invalid action") == 1


def test_custom_penalty() -> None:
    env = Counter(invalid_action_penalty=-2.0)
    env.reset(seed=0)
    assert env.step("")[1] == -2.0


def test_allowance_ends_episode() -> None:
    env = Counter(max_invalid_actions=1, target=100)
    env.reset(seed=0)
    assert env.step("x")[2] is False
    obs, _, terminated, _, info = env.step("x")
    assert terminated and info["success"] is False
    assert info["episode_metrics"]["invalid_actions"] == 2.0
    assert "Too many invalid actions" in obs


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (None, "must be text, got NoneType"),
        (b"up", "must be text, got bytes"),
        ("", "empty"),
        ("   \n", "empty"),
        ("u" * 20_000, "20000 characters long; the limit is 16384"),
        ("up\x00", "control or non-text"),
        ("up\ud800", "control or non-text"),
    ],
)
def test_structural_problems(action: Any, reason: str) -> None:
    env = Counter()
    env.reset(seed=0)
    info = env.step(action)[4]
    assert info["invalid_action"] is True
    assert reason in info["invalid_reason"]


def test_episode_end_carries_success_and_metrics() -> None:
    env = Counter(target=2)
    env.reset(seed=0)  # count starts at 0 or 1
    info: dict[str, Any] = {}
    terminated = False
    while not terminated:
        _, _, terminated, _, info = env.step("up")
    assert info["success"] is True
    assert info["episode_metrics"]["count"] == 2.0
    assert "available_actions" not in info


def test_step_after_end_needs_reset() -> None:
    env = Counter(target=1)
    env.reset(seed=0)
    env.step("up")
    with pytest.raises(ResetNeeded):
        env.step("up")


def test_time_limit_truncation_still_reports_metrics() -> None:
    gym.register(
        "palaestra-test/Counter-v0",
        entry_point=Counter,
        max_episode_steps=3,
        kwargs={"target": 100},
        additional_wrappers=(EpisodeEndInfo.wrapper_spec(),),
    )
    try:
        env = gym.make("palaestra-test/Counter-v0")
        env.reset(seed=0)
        results = [env.step("up") for _ in range(3)]
        _, _, terminated, truncated, info = results[-1]
        assert truncated and not terminated
        assert info["success"] is False and "count" in info["episode_metrics"]
        assert "available_actions" not in info
        assert all("episode_metrics" not in r[4] for r in results[:-1])
    finally:
        del gym.registry["palaestra-test/Counter-v0"]


def test_render_modes() -> None:
    env = Counter(render_mode="ansi")
    env.reset(seed=0)
    assert env.render().endswith("count 0\n") or env.render().endswith("count 1\n")
    with pytest.raises(InvalidArgumentError, match="render_mode"):
        Counter(render_mode="rgb_array")


def test_unknown_kwarg_error() -> None:
    with pytest.raises(
        InvalidArgumentError, match="unknown argument 'targt'; did you mean 'target'"
    ):
        Counter(targt=3)
    with pytest.raises(InvalidArgumentError, match="max_invalid_actions"):
        Counter(max_invalid_actions=-1)


def test_human_render_prints(capsys: pytest.CaptureFixture[str]) -> None:
    env = Counter(render_mode="human")
    env.reset(seed=0)
    assert env.render() is None
    assert "count" in capsys.readouterr().out
