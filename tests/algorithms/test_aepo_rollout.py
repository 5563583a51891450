"""Agentic AEPO's entropy-balanced rollout on the tool envs, inside the trainer."""

from collections import Counter
from pathlib import Path

import pytest

from palaestra.algorithms import make_algorithm
from palaestra.algorithms.trainer import Trainer
from tests.algorithms.test_trainer import config


@pytest.mark.parametrize(
    ("env", "env_kwargs"),
    [("palaestra/SearchQA-v0", "{}"), ("palaestra/MathTool-v0", '{"max_attempts": 3}')],
)
def test_groups_are_fresh_rollouts_and_branches(tmp_path: Path, env: str, env_kwargs: str) -> None:
    run = config(
        tmp_path, env=env, env_kwargs=env_kwargs, extract="whole", max_new_tokens=8, max_turns=3
    )
    algorithm = make_algorithm("aepo_agentic", entropy_balanced_rollout=True)
    trainer = Trainer(run, algorithm)
    episodes = algorithm.rollout(trainer.sampler)
    # Every question keeps its budget of group_size samples.
    assert Counter(e.group for e in episodes) == {0: 4, 1: 4}
    branches = 0
    for episode in episodes:
        siblings = [e for e in episodes if e.group == episode.group and e is not episode]
        for parent in siblings:
            shared = 0
            while (
                shared < min(len(parent.turns), len(episode.turns)) - 1
                and parent.turns[shared].response_ids == episode.turns[shared].response_ids
            ):
                shared += 1
            if shared:
                # A branch replays its parent's turns exactly: same prompts, same replies,
                # same observations from the environment.
                for a, b in zip(
                    parent.turns[: shared + 1], episode.turns[: shared + 1], strict=True
                ):
                    assert a.prompt_ids == b.prompt_ids and a.observation == b.observation
                branches += 1
                break
    assert branches >= 1
    metrics = trainer.iteration(1)
    assert metrics["fresh_rollouts"] + metrics["branches"] == 8 and metrics["branches"] >= 1


def test_off_by_default_as_in_the_released_scripts(tmp_path: Path) -> None:
    algorithm = make_algorithm("aepo_agentic")
    metrics = Trainer(config(tmp_path), algorithm).iteration(0)
    assert "branches" not in metrics
