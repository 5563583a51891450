"""TextWorld games: generated offline with TextWorld's own generator and cached on disk.

A :class:`GameSpec` names a game completely (challenge, its settings, generation seed); the
compiled ``.z8`` file and TextWorld's ``.json`` game description are cached under
``<cache>/textworld/<textworld version>/<key>`` where the key hashes the spec, so a second
``make`` plays the cached file instead of recompiling. Generation is safe across processes:
a file lock serializes makers of the same game, files are written to a temporary name and
moved into place, and a cached game that does not load is regenerated.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from palaestra.errors import InvalidArgumentError
from palaestra.paths import cache_dir, still_valid

#: The standard challenges (``tw-make`` names without the ``tw-`` prefix), plus ``custom``.
CHALLENGES = ("simple", "coin_collector", "treasure_hunter", "cooking", "custom")

#: Settings each challenge's generator requires, with TextWorld's ``tw-make`` defaults.
DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    "simple": {"rewards": "dense", "goal": "detailed", "test": False},
    "coin_collector": {"level": 1},
    "treasure_hunter": {"level": 1},
    "cooking": {
        "recipe": 1,
        "take": 0,
        "go": 1,
        "open": False,
        "cook": False,
        "cut": False,
        "drop": False,
        "recipe_seed": 0,
        "split": "train",
    },
    "custom": {"world_size": 5, "nb_objects": 10, "quest_length": 5},
}

#: Accepted values of the settings that take a fixed set.
_CHOICES: dict[str, tuple[Any, ...]] = {
    "rewards": ("dense", "balanced", "sparse"),
    "goal": ("detailed", "brief", "none"),
    "go": (1, 6, 9, 12),
    "split": ("train", "valid", "test"),
}

#: Z-machine version byte of the ``.z8`` files TextWorld compiles.
_Z8_VERSION = 8


@dataclass(frozen=True)
class GameSpec:
    """Everything that determines a generated game.

    Attributes:
        challenge: One of :data:`CHALLENGES`.
        settings: The challenge's settings (see :data:`DEFAULT_SETTINGS`); missing ones take
            the defaults.
        seed: Generation seed.
    """

    challenge: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.challenge not in CHALLENGES:
            raise InvalidArgumentError(
                f"unknown TextWorld challenge {self.challenge!r}; choose one of {CHALLENGES}"
            )
        defaults = DEFAULT_SETTINGS[self.challenge]
        unknown = sorted(set(self.settings) - set(defaults))
        if unknown:
            raise InvalidArgumentError(
                f"unknown {self.challenge} setting {unknown[0]!r}; valid settings: "
                f"{', '.join(sorted(defaults))}"
            )
        merged = {**defaults, **self.settings}
        for name, value in merged.items():
            _check_setting(self.challenge, name, value, defaults[name])
        object.__setattr__(self, "settings", merged)

    @property
    def key(self) -> str:
        """Cache key: a hash of the spec and the TextWorld version that compiles it."""
        import textworld

        text = json.dumps(
            [textworld.__version__, self.challenge, dict(self.settings), self.seed],
            sort_keys=True,
        )
        return f"{self.challenge}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _check_setting(challenge: str, name: str, value: Any, default: Any) -> None:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InvalidArgumentError(f"{challenge} setting {name!r} must be true or false")
        return
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgumentError(f"{challenge} setting {name!r} must be an integer")
        if name in _CHOICES and value not in _CHOICES[name]:
            raise InvalidArgumentError(f"{name} must be one of {_CHOICES[name]}, got {value}")
        low = {"level": 1, "world_size": 1, "quest_length": 1, "recipe": 1}.get(name, 0)
        high = {"level": 300, "world_size": 20, "quest_length": 20, "recipe": 5}.get(name)
        if value < low or (high is not None and value > high):
            raise InvalidArgumentError(
                f"{challenge} setting {name!r} must be between {low} and {high}, got {value}"
            )
        return
    if name in _CHOICES and value not in _CHOICES[name]:
        raise InvalidArgumentError(f"{name} must be one of {_CHOICES[name]}, got {value!r}")


def game_folder() -> Path:
    """The cache folder of generated games for the installed TextWorld version."""
    import textworld

    return cache_dir("textworld", textworld.__version__)


def game_path(spec: GameSpec) -> Path:
    """Return the path of the compiled game for ``spec``, generating and caching it if needed."""
    folder = game_folder()
    path = folder / f"{spec.key}.z8"
    if _is_game(path):
        return path
    with FileLock(str(folder / f"{spec.key}.lock")):
        if not _is_game(path):  # another process may have made it while we waited
            _generate(spec, path)
    return path


def _is_game(path: Path) -> bool:
    """Whether ``path`` is a complete compiled game with its description beside it."""
    return still_valid((path, path.with_suffix(".json")), lambda: _check_game(path))


def _check_game(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            header = handle.read(64)
        json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return False
    return len(header) == 64 and header[0] == _Z8_VERSION


def _generate(spec: GameSpec, path: Path) -> None:
    """Generate and compile ``spec`` into ``path`` (and its ``.json``), atomically."""
    import textworld
    from textworld.generator import compile_game

    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".generating-") as scratch:
        options = textworld.GameOptions()
        options.seeds = spec.seed
        options.path = str(Path(scratch) / "game.z8")
        options.force_recompile = True
        with warnings.catch_warnings():
            # The generator plays a scratch copy of the game to record its walkthrough;
            # jericho warns that the scratch copy is not one of its supported games.
            warnings.simplefilter("ignore", UserWarning)
            game = _make_game(spec, options)
        compiled = Path(compile_game(game, options))
        # The description first: a .z8 in place always has its .json beside it.
        os.replace(compiled.with_suffix(".json"), path.with_suffix(".json"))
        os.replace(compiled, path)


def _make_game(spec: GameSpec, options: Any) -> Any:
    import textworld.generator
    from textworld.challenges import CHALLENGES as TW_CHALLENGES

    settings = dict(spec.settings)
    if spec.challenge == "custom":
        options.nb_rooms = settings["world_size"]
        options.nb_objects = settings["nb_objects"]
        options.quest_length = settings["quest_length"]
        return textworld.generator.make_game(options)
    make = TW_CHALLENGES[f"tw-{spec.challenge}"][1]
    return make(settings, options)
