"""Reasoning Gym items and scores: reasoning-gym's own, in bounded workers."""

import hashlib
import json
import os
import random
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
import reasoning_gym
from reasoning_gym.factory import DATASETS, create_curriculum

from palaestra.envs.reasoning_gym import TASKS, items
from palaestra.envs.reasoning_gym.env import NO_REFERENCE, reference_answer
from palaestra.envs.reasoning_gym.tasks import LISTED_VERSION
from palaestra.errors import InvalidArgumentError


def reasoning_gym_item(task: str, seed: int, **config: object) -> dict[str, object]:
    """What reasoning-gym alone gives here, the global generators seeded as a worker does.

    Only for tasks whose items do not depend on the hash seed.
    """
    random.seed(seed)
    np.random.seed(seed)
    return reasoning_gym.create_dataset(task, seed=seed, size=1, **config)[0]


def test_every_task_of_the_installed_version_is_listed() -> None:
    installed = set(DATASETS) - {"composite"}
    assert set(TASKS) <= installed
    if version("reasoning-gym") == LISTED_VERSION:
        assert set(TASKS) == installed
    assert list(TASKS) == sorted(TASKS)


#: reasoning-gym alone, in a process of its own with the workers' hash seed.
REFERENCE = """
import hashlib, json, random, sys
import numpy as np
import reasoning_gym
out = {}
for task in json.loads(sys.argv[1]):
    digests = []
    for seed in json.loads(sys.argv[2]):
        random.seed(seed)
        np.random.seed(seed)
        entry = reasoning_gym.create_dataset(task, seed=seed, size=1)[0]
        digests.append(hashlib.sha256(repr(entry).encode()).hexdigest())
    out[task] = digests
with open(sys.argv[3], "w") as f:
    json.dump(out, f)
"""
SEEDS = [7, 2**31 - 5]


def test_items_are_reasoning_gyms_byte_for_byte(tmp_path: Path) -> None:
    # Every task, two seeds: the item palaestra plays (a dataset built once and reseeded,
    # in a worker) is the one reasoning-gym makes alone under the same hash seed,
    # question, answer and metadata; five tasks differ under another hash seed.
    out = tmp_path / "reference.json"
    environment = {**os.environ, "PYTHONHASHSEED": items.HASH_SEED}
    subprocess.run(
        [sys.executable, "-c", REFERENCE, json.dumps(TASKS), json.dumps(SEEDS), str(out)],
        env=environment,
        check=True,
        capture_output=True,
    )
    reference = json.loads(out.read_text())
    played = {
        task: [digest(items.generate(task, {}, seed).entry) for seed in SEEDS] for task in TASKS
    }
    assert played == reference


def digest(entry: dict[str, object]) -> str:
    return hashlib.sha256(repr(entry).encode()).hexdigest()


@pytest.mark.parametrize("task", [t for t in TASKS if t not in NO_REFERENCE])
def test_reference_answers_score_one(task: str) -> None:
    generated = [items.generate(task, {}, seed) for seed in range(3)]
    answers = [reference_answer(item) for item in generated]
    assert all(answer is not None for answer in answers)
    scores = items.score_many(
        [(item, str(answer)) for item, answer in zip(generated, answers, strict=True)],
        timeout=10,
    )
    assert [score.value for score in scores] == [1.0, 1.0, 1.0]


def test_wrong_and_partial_answers_score_below_one() -> None:
    item = items.generate("basic_arithmetic", {}, 3)
    assert item.answer is not None
    wrong, near = items.score_many(
        [(item, "not a number"), (item, f"{item.answer} or so")], timeout=10
    )
    assert wrong.value == 0.0 and wrong.error is None
    assert near.value < 1.0


def test_a_scorer_that_runs_long_is_cut_off() -> None:
    # sympy evaluates 9**9**9**9 while simple_integration parses the answer: it would
    # run for hours; the worker running it is killed at the timeout and replaced.
    item = items.generate("simple_integration", {}, 3)
    hostile, good = items.score_many([(item, "9**9**9**9"), (item, str(item.answer))], timeout=1.0)
    assert hostile == items.Score(0.0, "scoring timed out")
    assert good.value == 1.0


def test_settings_and_curriculum_levels() -> None:
    item = items.generate("basic_arithmetic", {"min_terms": 5, "max_terms": 5}, 11)
    assert repr(item.entry) == repr(
        reasoning_gym_item("basic_arithmetic", 11, min_terms=5, max_terms=5)
    )
    curriculum = create_curriculum("basic_arithmetic")
    curriculum.set_global_level(1)
    config = curriculum.generate_configuration()
    settings = items.curriculum_settings("basic_arithmetic", 1)
    assert settings and all(getattr(config, key) == value for key, value in settings.items())
    # Above every setting's top level: the top levels.
    top = items.curriculum_settings("basic_arithmetic", 99)
    assert top == items.curriculum_settings("basic_arithmetic", 50) != settings


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: items.check_task("basic_arithmtic", {}), "did you mean 'basic_arithmetic'"),
        (lambda: items.check_task("basic_arithmetic", {"min_term": 2}), "did you mean 'min_terms'"),
        (lambda: items.check_task("basic_arithmetic", {"min_terms": -4}), "refuses the settings"),
        (lambda: items.check_task("basic_arithmetic", {"min_terms": {1, 2}}), "refuses"),
        (lambda: items.curriculum_settings("acre", 0), "no curriculum for 'acre'"),
        (lambda: items.curriculum_settings("basic_arithmetic", -1), "level must be an int >= 0"),
        (lambda: items.generate("jugs", {"difficulty": 1000}, 0), "could not generate"),
    ],
)
def test_bad_tasks_and_settings_give_clear_errors(call: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        call()  # type: ignore[operator]
