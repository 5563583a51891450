"""Reasoning Gym items and their scores, from reasoning-gym's own generators and scorers.

An item is ``create_dataset(task, seed=seed, size=1, **config)[0]``: what reasoning-gym
itself gives for that task, settings and seed, byte for byte, in a process set up as the
workers are (below). Its score is the dataset's own ``score_answer(answer, entry)``.

Both run in worker processes (:class:`~palaestra.processes.SharedPool`) with hard time
bounds:

* scorers parse the agent's text (JSON, expressions, moves), and some run long on hostile
  answers; a step must stay bounded, never hang;
* some generators iterate over sets of strings (``isomorphic_strings`` picks letters
  from ``list(set_of_letters)``), so their items change with the process's hash seed:
  the workers run with ``PYTHONHASHSEED`` fixed (:data:`HASH_SEED`), which makes every
  item the same on every run and machine (with the same reasoning-gym and Python);
* some generators run code: ``codeio`` executes the code samples of its data file, a few
  of which draw from Python's global ``random`` and print. A worker seeds the global
  generators (``random``, numpy's) with the item's seed before generating, so such items
  are the same on every run, and what they print goes nowhere.

Entries travel between the processes pickled, because their metadata holds tuples, sets
and dicts with integer keys that JSON would change; every pickle is made by palaestra's
own processes, never by the agent.
"""

from __future__ import annotations

import base64
import copy
import json
import pickle
import random
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

from palaestra.errors import InvalidArgumentError, did_you_mean
from palaestra.optional import require
from palaestra.processes import SharedPool, TaskResult, usable_cores

#: Address-space cap of a worker: a pathological answer fails there, not the host.
WORKER_MEMORY_BYTES = 2 << 30

#: Seconds a worker may take to generate one item.
GENERATION_TIMEOUT = 60.0

#: ``PYTHONHASHSEED`` of the workers. In reasoning-gym 0.1.25 the items of
#: ``isomorphic_strings``, ``knight_swap``, ``polynomial_multiplication``, ``ransom_note``
#: and ``word_ladder`` change with the hash seed.
HASH_SEED = "0"

#: Reasoning-gym datasets that are not single tasks.
_NOT_TASKS = frozenset({"composite"})

#: Tasks whose datasets draw from their seed when they are built, not when an item is
#: asked for: a new dataset per seed. The others are built once per configuration (some
#: read data files: 0.1-0.5 s) and reseeded; the tests check both give reasoning-gym's
#: own items.
SEEDED_AT_CONSTRUCTION = frozenset({"acre", "gsm_symbolic", "list_functions"})


@dataclass(frozen=True)
class Item:
    """One generated problem.

    Attributes:
        task: The reasoning-gym dataset name.
        seed: The reasoning-gym seed that generated it.
        question: The question text.
        answer: The dataset's reference answer (``None`` where the task accepts many).
        entry: The whole dataset entry (metadata included), as reasoning-gym made it.
        config_key: The settings it was generated under, as canonical JSON (its dataset
            scores answers to it).
    """

    task: str
    seed: int
    question: str
    answer: str | None
    entry: dict[str, Any]
    config_key: str


@dataclass(frozen=True)
class Score:
    """The score of one answer.

    Attributes:
        value: ``score_answer``'s value in [0, 1]; 0 when scoring failed.
        error: Why scoring failed (timeout, the scorer raised), or ``None``.
    """

    value: float
    error: str | None = None


def available_tasks() -> list[str]:
    """The task names of the installed reasoning-gym."""
    require("reasoning_gym", "rg", "Reasoning Gym tasks")
    from reasoning_gym.factory import DATASETS

    return sorted(set(DATASETS) - _NOT_TASKS)


def check_task(task: str, config: dict[str, Any]) -> None:
    """Refuse an unknown task or setting with a "did you mean".

    Raises:
        InvalidArgumentError: ``task`` is not a reasoning-gym task, ``config`` names a
            field its configuration does not have, or reasoning-gym refuses a value.
    """
    names = available_tasks()
    if task not in names:
        raise InvalidArgumentError(
            f"unknown reasoning-gym task {task!r}{did_you_mean(task, names)} "
            f"({len(names)} tasks: reasoning_gym.factory.DATASETS)"
        )
    if not config:
        return
    from reasoning_gym.factory import DATASETS

    config_cls = DATASETS[task][1]
    valid = sorted(f.name for f in fields(config_cls) if f.name not in ("seed", "size"))
    for key in config:
        if not isinstance(key, str) or key not in valid:
            raise InvalidArgumentError(
                f"reasoning-gym task {task!r} has no setting {key!r}"
                f"{did_you_mean(str(key), valid)} Settings: {', '.join(valid)}."
            )
    try:
        # The config's own checks only: building the dataset (a sieve up to max_n, say)
        # is work without a bound, done in a worker at the first reset.
        checked = config_cls(**json.loads(_config_key(config)))
        if callable(getattr(checked, "validate", None)):
            checked.validate()
    except Exception as exc:  # reasoning-gym validates with assert, ValueError, TypeError
        raise InvalidArgumentError(
            f"reasoning-gym refuses the settings {config} of {task!r}: {type(exc).__name__}: {exc}"
        ) from exc


def curriculum_settings(task: str, level: int) -> dict[str, Any]:
    """The settings reasoning-gym's curriculum for ``task`` gives at ``level``.

    Levels above a setting's top level take its top level, as in reasoning-gym.

    Raises:
        InvalidArgumentError: Unknown task, a task without a curriculum, or a level < 0.
    """
    check_task(task, {})
    if isinstance(level, bool) or not isinstance(level, int) or level < 0:
        raise InvalidArgumentError(f"level must be an int >= 0, got {level!r}")
    from reasoning_gym.coaching.attributes import RangeAttributeDefinition
    from reasoning_gym.factory import create_curriculum, has_curriculum

    if not has_curriculum(task):
        raise InvalidArgumentError(
            f"reasoning-gym has no curriculum for {task!r}; give its settings as config="
        )
    curriculum = create_curriculum(task)
    curriculum.set_global_level(level)
    config = curriculum.generate_configuration()
    names: list[str] = []
    for attribute in curriculum.attributes.values():
        if isinstance(attribute, RangeAttributeDefinition):
            names += [attribute.lower_field_name, attribute.upper_field_name]
        else:
            names.append(attribute.field_name)
    return {name: json.loads(as_json(getattr(config, name))) for name in names}


def as_json(value: Any) -> str:
    """``value`` as JSON text (tuples and sets as lists, as reasoning-gym's scorers read)."""
    return json.dumps(value, default=list)


def generate(task: str, config: dict[str, Any], seed: int) -> Item:
    """The item reasoning-gym generates for ``task`` under ``config`` and ``seed``.

    Args:
        task: A reasoning-gym dataset name.
        config: Its settings (checked by :func:`check_task`).
        seed: The reasoning-gym seed.

    Returns:
        The item, generated in a worker.

    Raises:
        InvalidArgumentError: reasoning-gym failed to generate it (settings it accepts
            but cannot generate under), or took longer than :data:`GENERATION_TIMEOUT`.
    """
    config_key = _config_key(config)
    [result] = _POOL.map([("generate", task, config_key, seed, "")], timeout=GENERATION_TIMEOUT)
    if not result.ok:
        raise InvalidArgumentError(
            f"reasoning-gym could not generate a {task!r} problem with seed {seed} and "
            f"settings {config}: {result.error}"
        )
    entry = _unpack(result.value)
    answer = entry.get("answer")
    return Item(
        task,
        seed,
        str(entry["question"]),
        None if answer is None else str(answer),
        entry,
        config_key,
    )


def score_many(answers: list[tuple[Item, str]], timeout: float) -> list[Score]:
    """Score answers with their datasets' own ``score_answer``, in the workers.

    Args:
        answers: ``(item, answer)`` pairs.
        timeout: Seconds each score may take; past it the worker is killed and replaced.

    Returns:
        One score per pair, in order (0 with the reason where scoring failed).
    """
    tasks = [
        ("score", item.task, item.config_key, item.seed, _pack([item.entry, answer]))
        for item, answer in answers
    ]
    return [_score(result) for result in _POOL.map(tasks, timeout=timeout)]


def shutdown_pool() -> None:
    """Stop the workers (they restart on the next item or score)."""
    _POOL.close()


# ---------------------------------------------------------------------- in the workers


def work(request: str, task: str, config_key: str, seed: int, payload: str) -> Any:
    """A worker's side: ``"generate"`` an item, or ``"score"`` an answer to one.

    Args:
        request: ``"generate"`` or ``"score"``.
        task: The reasoning-gym dataset name.
        config_key: Its settings, as canonical JSON.
        seed: The item's seed.
        payload: For ``"score"``: the pickled ``[entry, answer]``.

    Returns:
        The pickled entry (``"generate"``), or the score in [0, 1] (``"score"``).
    """
    if request == "generate":
        # Tasks that draw from the global generators (codeio's code samples) get the
        # item's seed there too; this process is palaestra's own, so nobody else's state.
        random.seed(seed)
        import numpy as np

        np.random.seed(seed % 2**32)
        if task in SEEDED_AT_CONSTRUCTION:
            dataset = _new_dataset(task, config_key, seed)
        else:
            # What reasoning-gym's constructor does with a seed, on a copy of one built.
            dataset = copy.copy(_dataset(task, config_key))
            dataset.seed = seed
            dataset.config = copy.copy(dataset.config)
            dataset.config.seed = seed
        return _pack(dataset[0])
    entry, answer = _unpack(payload)
    value = float(_dataset(task, config_key).score_answer(answer, entry))
    if not 0.0 <= value <= 1.0:  # also NaN
        raise ValueError(f"score_answer gave {value}, outside [0, 1]")
    return value


def init_worker() -> None:
    """Import reasoning-gym once, before the first request comes."""
    import reasoning_gym  # noqa: F401


# ---------------------------------------------------------------------- helpers

_POOL = SharedPool(
    "palaestra.envs.reasoning_gym.items:work",
    # One call (an item, a score) at a time per caller, and callers (envs in threads) in
    # parallel: an answer that runs its scorer to the timeout holds up no other env.
    workers=1,
    concurrency=max(2, usable_cores()),
    initializer="palaestra.envs.reasoning_gym.items:init_worker",
    memory_bytes=WORKER_MEMORY_BYTES,
    # Some generators iterate over sets of strings, whose order follows the process's
    # hash seed: a fixed one makes their items the same in every run.
    environment={"PYTHONHASHSEED": HASH_SEED},
    before_start=lambda: require("reasoning_gym", "rg", "Reasoning Gym tasks"),
)


def _config_key(config: dict[str, Any]) -> str:
    # A canonical string: the cache key, and what crosses to the workers.
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=256)
def _dataset(task: str, config_key: str) -> Any:
    return _new_dataset(task, config_key, 0)


def _new_dataset(task: str, config_key: str, seed: int) -> Any:
    import reasoning_gym

    return reasoning_gym.create_dataset(task, seed=seed, size=1, **json.loads(config_key))


def _pack(value: Any) -> str:
    return base64.b64encode(pickle.dumps(value)).decode("ascii")


def _unpack(text: str) -> Any:
    # Made by palaestra's own processes (the worker or its parent), never by the agent.
    return pickle.loads(base64.b64decode(text))


def _score(result: TaskResult) -> Score:
    if result.ok:
        return Score(float(result.value))
    if result.error == "timeout":
        return Score(0.0, "scoring timed out")
    return Score(0.0, f"the scorer failed ({result.error})")
