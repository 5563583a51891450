"""The compiled ALFWorld engine: its caches, and the games it hands to the PDDL engine."""

import json
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from palaestra.envs.alfworld import ALFWorldEnv, fast_engine, generated_game, translation
from palaestra.envs.alfworld.differential import compare, env_on
from palaestra.envs.alfworld.engine import downward_plan, start_engine
from palaestra.envs.alfworld.fast_engine import (
    AmbiguousCommandError,
    FastEngine,
    UnsupportedGameError,
)
from palaestra.envs.fd_output import silenced
from palaestra.errors import InvalidArgumentError


def game_copy(folder: Path, grammar_edit: tuple[str, str] | None = None) -> Path:
    """A generated game copied into ``folder``, its grammar edited (old, new)."""
    source = generated_game("train", "pick_and_place_simple", 0)
    target = folder / "game-0"
    shutil.copytree(source.parent, target)
    game = target / "game.tw-pddl"
    if grammar_edit is not None:
        data = json.loads(game.read_text())
        assert grammar_edit[0] in data["grammar"]
        data["grammar"] = data["grammar"].replace(*grammar_edit)
        game.write_text(json.dumps(data))
    return game


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A game copied before the caches are pointed at an empty folder and emptied."""
    game = game_copy(tmp_path / "games")
    monkeypatch.setenv("PALAESTRA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(translation, "_memory", type(translation._memory)())
    monkeypatch.setattr(fast_engine, "_games", type(fast_engine._games)())
    return game


def test_a_cold_reset_translates_once_on_either_engine(empty_caches: Path) -> None:
    runs = translation.translator_runs()
    engine = start_engine(empty_caches, engine="pddl")
    with silenced():
        engine.reset()
    assert translation.translator_runs() == runs + 1  # the replanning one waits
    with silenced():
        assert downward_plan(engine)  # ... until the engine replans
    assert translation.translator_runs() == runs + 2
    translation._memory.clear()
    fast = start_engine(empty_caches, engine="fast")
    fast.reset()
    assert translation.translator_runs() == runs + 2  # the disk cache had the plain one


def test_damaged_cache_files_are_rebuilt(empty_caches: Path) -> None:
    first = FastEngine()
    first.load(empty_caches)
    expected = first.reset()
    for folder in ("fast", "sas"):
        files = list((empty_caches.parents[2] / "cache" / "alfworld" / folder).iterdir())
        assert files
        for file in files:
            file.write_bytes(b"\x00 not a cache file")
    translation._memory.clear()
    fast_engine._games.clear()
    runs = translation.translator_runs()
    again = FastEngine()
    again.load(empty_caches)
    assert again.reset() == expected
    assert translation.translator_runs() == runs + 1


def test_a_changed_game_file_is_compiled_again(empty_caches: Path) -> None:
    engine = FastEngine()
    engine.load(empty_caches)
    assert "put a" not in engine.reset().feedback
    data = json.loads(empty_caches.read_text())
    task = data["grammar"].split("Your task is to: ", 1)[1].split('"', 1)[0]
    data["grammar"] = data["grammar"].replace(task, "put a test here.")
    empty_caches.write_text(json.dumps(data))
    engine.load(empty_caches)
    assert engine.reset().feedback.endswith("Your task is to: put a test here.")


def test_a_command_template_that_reads_the_state_plays_on_the_pddl_engine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The list of what is held changes as the game goes: not a text compiled once.
    edit = (
        'template :: "inventory";',
        'template :: "inventory [{o.name | holds(a:agent, o:object)}]";',
    )
    game = game_copy(tmp_path, edit)
    with pytest.raises(UnsupportedGameError, match="inventory reads"):
        FastEngine().load(game)
    with pytest.raises(UnsupportedGameError, match="inventory reads"):
        FastEngine().load(game)  # remembered: not compiled again
    assert fast_engine._refused
    with caplog.at_level(logging.WARNING):
        divergence = compare(game, "random", steps=15, fallback=True)
    assert divergence is None, str(divergence)
    assert "plays on the pddl engine" in caplog.text
    env = env_on(game, "fast")
    _, info = env.reset(seed=0)
    assert env._kind == "pddl" and "inventory nothing" in info["available_actions"]
    env.step(next(a for a in info["available_actions"] if a.startswith("go to")))
    assert env.oracle_action() in env.step("look")[4]["available_actions"]


def test_a_command_two_actions_write_goes_on_in_the_pddl_engine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # "inventory" written as "look": two applicable operators, two outcomes, one command.
    game = game_copy(tmp_path, ('template :: "inventory";', 'template :: "look";'))
    engine = FastEngine()
    engine.load(game)
    start = engine.reset()
    go = next(c for c in start.admissible_commands if c.startswith("go to"))
    engine.step(go)
    with pytest.raises(AmbiguousCommandError):
        engine.step("look")
    assert engine.step(go)[0].admissible_commands  # refused, nothing changed
    with caplog.at_level(logging.WARNING):
        for seed in range(3):
            divergence = compare(game, "random", steps=12, seed=seed, fallback=True)
            assert divergence is None, str(divergence)
    assert "continues on the pddl engine" in caplog.text
    env = env_on(game, "fast")
    env.reset(seed=0)
    env.step(go)
    env.step("look")
    assert env._kind == "pddl" and env.commands == (go, "look")
    assert env.oracle_action()  # its fast shadow refuses "look" too: planned on the PDDL one
    copy = pickle_round_trip(env)
    assert copy._kind == "pddl" and copy.commands == env.commands
    assert copy.step("inventory")[0] == env.step("inventory")[0]


def pickle_round_trip(env: ALFWorldEnv) -> ALFWorldEnv:
    import pickle

    return pickle.loads(pickle.dumps(env))  # type: ignore[no-any-return]


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown ALFWorld engine 'c'"):
        ALFWorldEnv(engine="c")


def test_a_file_that_is_no_game_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "game.tw-pddl"
    bad.write_text("{not json")
    with pytest.raises(UnsupportedGameError, match="not a game file"):
        FastEngine().load(bad)
    with pytest.raises(RuntimeError, match="no game loaded"):
        FastEngine().reset()


class _Descriptor2:
    def write(self, text: str) -> None:
        os.write(2, text.encode())

    def flush(self) -> None:
        pass


def test_the_fallback_warning_reaches_the_console(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    edit = (
        'template :: "inventory";',
        'template :: "inventory [{o.name | holds(a:agent, o:object)}]";',
    )
    game = game_copy(tmp_path, edit)
    logger = logging.getLogger("palaestra.envs.alfworld.env")
    handler = logging.StreamHandler(_Descriptor2())  # what a console shows: file descriptor 2
    logger.addHandler(handler)
    try:
        env_on(game, "fast").reset(seed=0)
    finally:
        logger.removeHandler(handler)
    assert "plays on the pddl engine" in capfd.readouterr().err


def test_games_compiled_in_threads_are_all_played(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    games = [
        generated_game("train", task_type, index)
        for task_type in ("pick_and_place_simple", "look_at_obj_in_light")
        for index in range(2)
    ]
    monkeypatch.setenv("PALAESTRA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(translation, "_memory", type(translation._memory)())
    monkeypatch.setattr(fast_engine, "_games", type(fast_engine._games)())
    monkeypatch.setattr(fast_engine, "_refused", type(fast_engine._refused)())
    with ThreadPoolExecutor(len(games)) as pool:
        loaded = list(pool.map(fast_engine.load_game_file, games))
    assert len(loaded) == len(games) and not fast_engine._refused
