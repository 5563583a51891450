"""The game cache: keyed by the spec, reused, regenerated when corrupt, safe across processes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from palaestra.envs.textworld import games
from palaestra.envs.textworld.games import GameSpec, game_path

SPEC = GameSpec("treasure_hunter", {"level": 1}, seed=11)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PALAESTRA_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_second_make_reuses_the_cached_game(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = game_path(SPEC)
    assert path.is_relative_to(cache) and path.with_suffix(".json").is_file()

    def no_generation(*args: object) -> None:
        raise AssertionError("the game was generated again")

    monkeypatch.setattr(games, "_generate", no_generation)
    assert game_path(GameSpec("treasure_hunter", {"level": 1}, seed=11)) == path


def test_key_follows_every_option() -> None:
    keys = {
        SPEC.key,
        GameSpec("treasure_hunter", {"level": 1}, seed=12).key,
        GameSpec("treasure_hunter", {"level": 2}, seed=11).key,
        GameSpec("coin_collector", {"level": 1}, seed=11).key,
    }
    assert len(keys) == 4
    # Defaults are part of the spec: naming one explicitly is the same game.
    assert GameSpec("cooking").key == GameSpec("cooking", {"recipe": 1}).key


@pytest.mark.parametrize("damage", ["truncate", "garbage_json", "missing_json"])
def test_corrupt_cached_game_is_regenerated(cache: Path, damage: str) -> None:
    path = game_path(SPEC)
    original = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(original[:10])
    elif damage == "garbage_json":
        path.with_suffix(".json").write_text("{not json")
    else:
        path.with_suffix(".json").unlink()
    assert game_path(SPEC) == path
    assert path.read_bytes() == original  # generation is deterministic


def test_concurrent_processes_make_one_good_game(cache: Path) -> None:
    code = (
        "from palaestra.envs.textworld.games import GameSpec, game_path\n"
        "print(game_path(GameSpec('coin_collector', {'level': 3}, seed=5)))\n"
    )
    env = {**os.environ, "PALAESTRA_CACHE_DIR": str(cache)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(3)
    ]
    outputs = {p.communicate(timeout=300)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    (path,) = outputs
    assert games._is_game(Path(path))
    leftovers = [p.name for p in Path(path).parent.iterdir() if p.name.startswith(".generating")]
    assert leftovers == []


def test_cache_folder_follows_the_environment_variable(cache: Path) -> None:
    assert games.game_folder().is_relative_to(cache)


def test_a_game_made_for_one_episode_is_discarded_after_it() -> None:
    import gymnasium as gym

    from palaestra.envs.textworld import TextWorldEnv
    from palaestra.envs.textworld.games import game_folder

    def games() -> set[str]:
        return {p.name for p in game_folder().glob("*") if p.suffix in (".z8", ".json")}

    env = gym.make("palaestra/TextWorld-v0", **TextWorldEnv.unseen_game_kwargs)
    before = games()
    env.reset(seed=2**100 + 7)  # a game of its own: generated now
    game = env.unwrapped._game  # type: ignore[attr-defined]
    # Only this game's files: other tests may make pool games in the folder meanwhile.
    made = (games() - before) & {game.with_suffix(".z8").name, game.with_suffix(".json").name}
    assert len(made) == 2
    env.unwrapped.discard_game()  # type: ignore[attr-defined]
    assert not made & games()
    env.close()
    pooled = gym.make("palaestra/TextWorld-v0", pool_size=1)
    pooled.reset(seed=0)
    kept = games()
    pooled.unwrapped.discard_game()  # type: ignore[attr-defined]
    assert kept <= games()  # a pool's game is everyone's: kept (others may add games)
    pooled.close()
