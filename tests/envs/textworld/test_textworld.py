"""TextWorld on the real engine: oracles, actions, games from files, vector envs."""

import copy
import os
import shutil
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

from palaestra.envs.fd_output import captured_output
from palaestra.envs.textworld import GameSpec, TextWorldEnv, clean_feedback, game_path
from palaestra.errors import InvalidArgumentError
from tests.envs.helpers import check_oracle_recovers, finish_with_oracle, play_oracle

VARIANTS = [
    "palaestra/TextWorld-v0",
    "palaestra/TextWorld-CoinCollector-v0",
    "palaestra/TextWorld-TreasureHunter-v0",
    "palaestra/TextWorld-Cooking-v0",
    "palaestra/TextWorld-Custom-v0",
]


@pytest.mark.parametrize("env_id", VARIANTS)
def test_walkthrough_wins_every_challenge(env_id: str) -> None:
    env = gym.make(env_id)
    for seed in range(3):
        total, info, _ = play_oracle(env, seed)
        assert info["success"], (env_id, seed)
        assert total == env.unwrapped.max_return == info["episode_metrics"]["max_score"] > 0
        assert info["episode_metrics"]["invalid_actions"] == 0


def test_planner_oracle_wins_after_leaving_the_walkthrough() -> None:
    env = gym.make("palaestra/TextWorld-Cooking-v0")
    # Random admissible commands leave the walkthrough; the planner takes over.
    check_oracle_recovers(env, seed=4, wander=6, within=60, rng_seed=0)


def test_expert_action_only_when_asked() -> None:
    _, info = gym.make("palaestra/TextWorld-v0").reset(seed=0)
    assert "expert_action" not in info
    env = gym.make("palaestra/TextWorld-v0", expert=True)
    _, info = env.reset(seed=0)
    for _ in range(40):
        assert info["expert_action"] in info["available_actions"]
        _, _, terminated, _, info = env.step(info["expert_action"])
        if terminated:
            break
    assert info["success"]


def test_reward_is_score_delta_and_first_observation_is_clean() -> None:
    env = gym.make("palaestra/TextWorld-v0")
    observation, info = env.reset(seed=0)
    assert "$$$$" not in observation and not observation.rstrip().endswith(">")
    assert "Your task:" in info["instruction"]
    command = env.unwrapped.oracle_action()
    before = env.unwrapped.episode_metrics()["score"]
    observation, reward, _, _, info = env.step(command)
    assert reward == env.unwrapped.episode_metrics()["score"] - before
    assert "-= " not in observation.splitlines()[-1]  # no status line
    assert clean_feedback("You see.\n\n>          -= Kitchen =-0/5") == "You see."


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("take key. go north", "chains several commands"),
        ("open door then go east", "chains several commands"),
        ("go north;look", "chains several commands"),
        ("save", "interpreter command"),
        ("RESTORE", "interpreter command"),
        ("quit", "interpreter command"),
        ("undo", "interpreter command"),
        ("script on", "interpreter command"),
        # They change how later turns print, or run another command than the one sent.
        ("verbose", "interpreter command"),
        ("brief", "interpreter command"),
        ("notify", "interpreter command"),
        ("g", "interpreter command"),
        ("again", "interpreter command"),
        ("oops north", "interpreter command"),
        ("restrict commands", "interpreter command"),
        ("tw-extra-infos description", "interpreter command"),
        ("tw-print max_score", "interpreter command"),
        # Inform reads a comma as an order or a list: "save," would write a save file.
        ("me, quit", "has a comma"),
        ("save,", "has a comma"),
        ("restart,", "has a comma"),
        ("look, quit", "has a comma"),
        ("x me, x me", "has a comma"),
        ("aller au nord é", "cannot read"),
        ("🙂 north", "cannot read"),
        ("go " + "north " * 60, "characters long"),
        # The interpreter's own escapes: "\\help" printed its help forever (34 GB in 2 min).
        ("\\help", "has a backslash"),
        ("\\q", "has a backslash"),
        ("\\sf0", "has a backslash"),
        ("  \\mp", "has a backslash"),
        ("take key \\x", "has a backslash"),
    ],
)
def test_refused_actions_are_invalid_without_reaching_the_game(action: str, reason: str) -> None:
    env = gym.make("palaestra/TextWorld-v0")
    env.reset(seed=0)
    _observation, reward, terminated, _, info = env.step(action)
    assert info["invalid_action"] and reason in info["invalid_reason"]
    assert reward == pytest.approx(-0.1) and not terminated
    assert env.unwrapped.commands == ()  # never sent to the interpreter


@pytest.mark.parametrize(
    "action",
    [
        "xyzzy",
        "take",
        "examine unicorn",
        "take all",
        "it",
        "#restart",
        "$quit",
        "/quit",
        "!help",
        "@restart",
        "---",
    ],
)
def test_parser_rejections_show_the_games_reply(action: str) -> None:
    env = gym.make("palaestra/TextWorld-v0")
    env.reset(seed=0)
    observation, _reward, terminated, _, info = env.step(action)
    assert observation and not observation.startswith("Invalid action")
    assert not terminated
    if info["invalid_action"]:
        assert info["invalid_reason"] == "the game did not carry out the command"


def test_no_session_command_gets_through_a_comma(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "save," once wrote a save file that a later episode restored to win.
    monkeypatch.chdir(tmp_path)
    env = gym.make("palaestra/TextWorld-v0")
    env.reset(seed=3)
    for action in ("save,", "me, save", "restore,", "me, restart", "quit,"):
        _, _, terminated, _, info = env.step(action)
        assert info["invalid_action"] and not terminated
    assert list(tmp_path.iterdir()) == [] and env.unwrapped.commands == ()


def test_the_help_escape_returns_at_once_and_prints_nothing() -> None:
    # "\\help" once made the interpreter print its help text forever (34 GB in 2 minutes).
    env = gym.make("palaestra/TextWorld-v0")
    env.reset(seed=3)
    start = time.monotonic()
    with captured_output() as out:
        observation, _, terminated, truncated, info = env.step("\\help")
    assert time.monotonic() - start < 5
    assert out.size == 0 and info["invalid_action"] and not (terminated or truncated)
    assert "backslash" in observation


def test_the_interpreter_never_writes_to_the_process_output() -> None:
    # Whole episodes, the game's start and a restored copy included: nothing reaches the
    # descriptors the interpreter could print on.
    with captured_output() as out:
        env = gym.make("palaestra/TextWorld-v0")
        play_oracle(env, seed=5)
        copy.deepcopy(env.unwrapped)
        env.close()
    assert out.size == 0, out.head


class Chatty:
    """An engine that prints from native code on every call, as frotz's escapes did."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.engine, name)
        if not callable(attribute):
            return attribute

        def chatty(*args: Any, **kwargs: Any) -> Any:
            os.write(1, b"interpreter help text\n" * 100)
            os.write(2, b"interpreter error\n")
            return attribute(*args, **kwargs)

        return chatty


def test_what_the_interpreter_prints_is_captured(monkeypatch: pytest.MonkeyPatch) -> None:
    import textworld

    start = textworld.start
    monkeypatch.setattr(textworld, "start", lambda *a, **k: Chatty(start(*a, **k)))
    env = gym.make("palaestra/TextWorld-v0")
    with captured_output() as out:
        env.reset(seed=2)
        _, _, _, _, info = env.step("look")
        env.close()
    assert out.size == 0, out.head
    assert not info["invalid_action"]


def test_game_stays_winnable_after_hostile_actions() -> None:
    env = gym.make("palaestra/TextWorld-v0")
    env.reset(seed=1)
    for action in ["take", "quit", "xyzzy", "\x00go", "a" * 255, "go\tnorth\n", "y", "no"]:
        env.step(action)
    _, info, _ = finish_with_oracle(env, within=45)
    assert info["success"]


def test_whitespace_is_collapsed() -> None:
    env = gym.make("palaestra/TextWorld-v0")
    env.reset(seed=0)
    first = env.unwrapped.oracle_action()
    _, _reward, _, _, info = env.step("  " + first.replace(" ", "\t\n ") + ".")
    assert not info["invalid_action"] and env.unwrapped.commands == (first,)


def test_seeds_pick_games_and_repeat() -> None:
    env = gym.make("palaestra/TextWorld-TreasureHunter-v0")
    first = env.reset(seed=1)[0]
    assert env.reset(seed=1)[0] == first
    assert len({env.reset(seed=s)[0] for s in range(6)}) > 1
    fresh = gym.make("palaestra/TextWorld-TreasureHunter-v0", pool_size=None)
    assert fresh.reset(seed=7)[0] == fresh.reset(seed=7)[0]


def test_user_game_files_and_folders(tmp_path: Path) -> None:
    source = game_path(GameSpec("treasure_hunter", {"level": 2}, seed=3))
    for suffix in (".z8", ".json"):
        shutil.copy(source.with_suffix(suffix), tmp_path / f"mine{suffix}")
    for games in (tmp_path / "mine.z8", tmp_path, [str(tmp_path / "mine.z8")]):
        env = gym.make("palaestra/TextWorld-v0", games=games)
        total, info, _ = play_oracle(env, 0)
        assert info["success"] and total == 1.0
    # Without TextWorld's .json the game still plays, without admissible commands.
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(source, bare / "bare.z8")
    env = gym.make("palaestra/TextWorld-v0", games=bare)
    observation, info = env.reset(seed=0)
    assert observation and "available_actions" not in info
    assert not env.step("look")[4]["invalid_action"]


@pytest.mark.parametrize(
    ("games", "message"),
    [
        ("missing.z8", "does not exist"),
        ("notes.txt", "is not a TextWorld game"),
        ("fake.z8", "is not a TextWorld game"),
        ("empty", "no .z8 game files in folder"),
        ([], "games is empty"),
    ],
)
def test_bad_game_files_name_the_path(tmp_path: Path, games: Any, message: str) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "fake.z8").write_bytes(b"\x05not a story file")
    (tmp_path / "empty").mkdir()
    arg = [tmp_path / g for g in games] if isinstance(games, list) else tmp_path / games
    with pytest.raises(InvalidArgumentError, match=message):
        TextWorldEnv(games=arg)


def test_a_corrupt_game_with_a_valid_header_fails_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "broken.z8"
    bad.write_bytes(b"\x08" + b"\x00" * 63)
    env = TextWorldEnv(games=bad)
    with pytest.raises(InvalidArgumentError, match=r"game .*broken\.z8 printed nothing"):
        env.reset(seed=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"challenge": "dungeon"}, "unknown TextWorld challenge"),
        ({"challenge": "coin_collector", "settings": {"levle": 3}}, "unknown coin_collector"),
        ({"challenge": "coin_collector", "settings": {"level": 0}}, "between 1 and 300"),
        ({"challenge": "cooking", "settings": {"go": 7}}, "go must be one of"),
        ({"challenge": "cooking", "settings": {"cut": "yes"}}, "true or false"),
        ({"challenge": "simple", "settings": {"rewards": "lots"}}, "rewards must be one of"),
        ({"challenge": "custom", "settings": {"world_size": 2.5}}, "must be an integer"),
        ({"pool_size": 0}, "pool_size"),
    ],
)
def test_bad_settings_fail_at_make(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        gym.make("palaestra/TextWorld-v0", **kwargs)


def test_async_vector_env_steps() -> None:
    envs = gym.vector.AsyncVectorEnv(
        [lambda: gym.make("palaestra/TextWorld-CoinCollector-v0")] * 2, shared_memory=False
    )
    try:
        observations, infos = envs.reset(seed=[0, 1])
        assert len(observations) == 2 and all(observations)
        actions = [infos["available_actions"][i][0] for i in range(2)]
        observations, rewards, _terminated, _truncated, infos = envs.step(actions)
        assert len(observations) == 2 and rewards.shape == (2,)
    finally:
        envs.close()
