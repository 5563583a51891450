"""Where ALFWorld games come from: the generated, cached pool or an official data folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from filelock import FileLock

from palaestra.envs.alfworld.generator import SPLITS, generate_task
from palaestra.errors import InvalidArgumentError
from palaestra.paths import cache_dir, still_valid

#: Environment variable naming an official ALFWorld data folder (``json_2.1.1``).
DATA_ENV = "PALAESTRA_ALFWORLD_DATA"

#: Bumped when the generator changes what it writes, so old caches are not reused.
GENERATOR_VERSION = "2"

#: Sub-folders of an official ``json_2.1.1`` folder for palaestra's split names.
OFFICIAL_SPLITS = {"train": "train", "seen": "valid_seen", "unseen": "valid_unseen"}

#: Keys every ``game.tw-pddl`` must have.
GAME_KEYS = ("pddl_domain", "grammar", "pddl_problem")


def generated_game(split: str, task_type: str, index: int) -> Path:
    """The ``game.tw-pddl`` of generated task ``index``, generating and caching it if needed."""
    folder = cache_dir("alfworld", f"generator-{GENERATOR_VERSION}", split, task_type)
    task = folder / f"{index:05d}"
    game = task / "game.tw-pddl"
    if not _is_game(game):
        with FileLock(str(folder / f"{index:05d}.lock")):
            if not _is_game(game):
                if task.exists():  # damaged: regenerate
                    shutil.rmtree(task)
                generate_task(task_type, split, index, task)
    return game


def _is_game(game: Path) -> bool:
    """Whether ``game`` is a complete, solvable generated game with its ``traj_data.json``."""
    return still_valid((game, game.parent / "traj_data.json"), lambda: _check_game(game))


def _check_game(game: Path) -> bool:
    try:
        data = json.loads(game.read_text())
        json.loads((game.parent / "traj_data.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(data, dict) and all(k in data for k in GAME_KEYS) and bool(data.get("solvable"))
    )


def data_folder(data_path: str | Path | None) -> Path | None:
    """The official data folder from ``data_path`` or ``$PALAESTRA_ALFWORLD_DATA``, if any."""
    value = data_path if data_path is not None else os.environ.get(DATA_ENV)
    if value is None or value == "":
        return None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise InvalidArgumentError(
            f"ALFWorld data folder {folder} does not exist (expected ALFWorld's json_2.1.1 "
            "folder, or a folder of game folders with traj_data.json and game.tw-pddl)"
        )
    return folder


def official_games(folder: Path, split: str, task_types: tuple[str, ...]) -> list[Path]:
    """The solvable ``game.tw-pddl`` files of one split and the task types, in a fixed order.

    ``folder`` is ALFWorld's ``json_2.1.1`` (with ``train``, ``valid_seen`` and
    ``valid_unseen``) or any folder of game folders (then the split is not used).
    """
    if split not in OFFICIAL_SPLITS:
        raise InvalidArgumentError(
            f"unknown ALFWorld split {split!r} for official data; choose one of "
            f"{tuple(OFFICIAL_SPLITS)}"
        )
    root = folder / OFFICIAL_SPLITS[split]
    root = root if root.is_dir() else folder
    games = []
    for traj in sorted(root.rglob("traj_data.json")):
        game = traj.parent / "game.tw-pddl"
        if not game.is_file():
            continue
        try:
            task_type = json.loads(traj.read_text())["task_type"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidArgumentError(
                f"{traj} is not an ALFWorld traj_data.json (expected JSON with a task_type): {exc}"
            ) from exc
        if task_type in task_types:
            games.append(game)
    if not games:
        raise InvalidArgumentError(
            f"no ALFWorld games under {root}: expected folders holding traj_data.json and "
            f"game.tw-pddl (run alfworld-generate on the official data) for task types "
            f"{', '.join(task_types)}"
        )
    return games


def check_game(game: Path) -> dict[str, object]:
    """Read a ``game.tw-pddl``; a clear error naming the file when it is not one."""
    try:
        data = json.loads(game.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"{game} is not an ALFWorld game file (JSON): {exc}") from exc
    missing = [k for k in GAME_KEYS if not isinstance(data, dict) or k not in data]
    if missing:
        raise InvalidArgumentError(
            f"{game} is not an ALFWorld game file: missing {', '.join(missing)} "
            f"(expected keys {', '.join(GAME_KEYS)})"
        )
    return dict(data)


__all__ = [
    "DATA_ENV",
    "SPLITS",
    "check_game",
    "data_folder",
    "generated_game",
    "official_games",
]
