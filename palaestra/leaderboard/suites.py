"""Versioned benchmark suites: which tasks, with which arguments, on which seeds.

A suite is data (``palaestra/leaderboard/suites/<id>.json``): tasks, each a registered env id
(its ``-vN`` version included), keyword arguments and an episode count. Development seeds
are public: task ``k`` of a suite uses seeds ``1000·k, 1000·k + 1, ...``. A server holds its
own hidden seeds instead (:func:`hidden_seeds`, derived from a secret). The suite hash
covers every task, argument, episode count and env version, so a results file names exactly
what it was run on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from palaestra.errors import InvalidArgumentError, did_you_mean

#: Seeds of task k start at SEED_STRIDE * k.
SEED_STRIDE = 1000


@dataclass(frozen=True)
class Task:
    """One task of a suite.

    Attributes:
        name: Short name, unique in the suite.
        family: Env family (columns of the leaderboard).
        env: Registered env id.
        kwargs: ``gym.make`` keyword arguments.
        episodes: Episodes scored.
    """

    name: str
    family: str
    env: str
    episodes: int
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    """A versioned set of tasks.

    Attributes:
        id: Suite id, e.g. ``palaestra-v1``.
        description: One line.
        tasks: The tasks, in order.
    """

    id: str
    description: str
    tasks: tuple[Task, ...]

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of the tasks (ids carry the env versions)."""
        canonical = json.dumps(
            [[t.name, t.family, t.env, t.episodes, t.kwargs] for t in self.tasks],
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(f"{self.id}\n{canonical}".encode()).hexdigest()

    def task(self, name: str) -> Task:
        """The task called ``name``."""
        for task in self.tasks:
            if task.name == name:
                return task
        names = [t.name for t in self.tasks]
        raise InvalidArgumentError(f"no task {name!r} in {self.id}{did_you_mean(name, names)}")

    def select(self, families: list[str] | None) -> list[Task]:
        """The tasks of the given families (all with ``None``)."""
        if families is None:
            return list(self.tasks)
        known = sorted({t.family for t in self.tasks})
        for family in families:
            if family not in known:
                raise InvalidArgumentError(
                    f"no family {family!r} in {self.id}{did_you_mean(family, known)} "
                    f"Families: {', '.join(known)}."
                )
        return [t for t in self.tasks if t.family in families]

    def seeds(self, task: Task) -> list[int]:
        """The public development seeds of ``task``."""
        base = SEED_STRIDE * self.tasks.index(task)
        return [base + k for k in range(task.episodes)]


def hidden_seeds(suite: Suite, task: Task, secret: bytes) -> list[int]:
    """A server's hidden seeds for ``task``: HMAC-SHA256 of the task under ``secret``."""
    seeds = []
    for k in range(task.episodes):
        digest = hmac.new(secret, f"{suite.id}/{task.name}/{k}".encode(), hashlib.sha256)
        seeds.append(int.from_bytes(digest.digest()[:4], "big") & 0x7FFFFFFF)
    return seeds


def parse_suite(data: Any) -> Suite:
    """A suite from its JSON form; a clear error for anything malformed."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise InvalidArgumentError("a suite is a JSON object with a string 'id'")
    tasks = data.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise InvalidArgumentError(f"suite {data['id']}: 'tasks' must be a non-empty list")
    parsed = []
    for k, item in enumerate(tasks):
        if not isinstance(item, dict):
            raise InvalidArgumentError(f"suite {data['id']}: task {k} is not an object")
        try:
            task = Task(
                name=str(item["name"]),
                family=str(item["family"]),
                env=str(item["env"]),
                episodes=int(item["episodes"]),
                kwargs=dict(item.get("kwargs", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"suite {data['id']}: task {k} needs name, family, env, episodes: {exc}"
            ) from exc
        if task.episodes < 1:
            raise InvalidArgumentError(f"suite {data['id']}: task {task.name} has no episodes")
        parsed.append(task)
    if len({t.name for t in parsed}) != len(parsed):
        raise InvalidArgumentError(f"suite {data['id']}: task names must be unique")
    return Suite(data["id"], str(data.get("description", "")), tuple(parsed))


def shipped_suites() -> list[str]:
    """The ids of the suites shipped with palaestra."""
    folder = resources.files("palaestra.leaderboard") / "suites"
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


def load_suite(suite_id: str) -> Suite:
    """A suite shipped with palaestra (by id), or a suite file (a path ending in .json)."""
    if suite_id.endswith(".json"):
        return load_suite_file(Path(suite_id))
    return _load_shipped(suite_id)


@cache
def _load_shipped(suite_id: str) -> Suite:
    folder = resources.files("palaestra.leaderboard") / "suites"
    names = shipped_suites()
    if suite_id not in names:
        raise InvalidArgumentError(f"unknown suite {suite_id!r}{did_you_mean(suite_id, names)}")
    return parse_suite(json.loads((folder / f"{suite_id}.json").read_text()))


def load_suite_file(path: Path) -> Suite:
    """A suite from a JSON file of one's own (same format as the shipped ones)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"cannot read suite file {path}: {exc}") from exc
    return parse_suite(data)
