"""TextWorld text adventures: generated offline, cached on disk, played on the real engine."""

from palaestra.envs.textworld.env import (
    META_COMMANDS,
    TextWorldEnv,
    clean_feedback,
    game_files,
    strip_banner,
)
from palaestra.envs.textworld.games import (
    CHALLENGES,
    DEFAULT_SETTINGS,
    GameSpec,
    game_folder,
    game_path,
)

__all__ = [
    "CHALLENGES",
    "DEFAULT_SETTINGS",
    "META_COMMANDS",
    "GameSpec",
    "TextWorldEnv",
    "clean_feedback",
    "game_files",
    "game_folder",
    "game_path",
    "strip_banner",
]
