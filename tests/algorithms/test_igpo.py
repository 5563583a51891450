"""IGPO: turn rewards are changes in teacher-forced answer log-probability; normalization."""

import math
from pathlib import Path

import pytest
import torch

from palaestra.algorithms import IGPO, make_algorithm
from palaestra.algorithms.trainer import TrainConfig, Trainer
from palaestra.errors import InvalidArgumentError
from tests.algorithms.helpers import episode

SEARCHQA = {"env": "palaestra/SearchQA-v0", "env_kwargs": '{"expose_ground_truth": true}'}


def trainer(tmp_path: Path, **kwargs: object) -> Trainer:
    run = TrainConfig(
        **{**SEARCHQA, **kwargs},
        steps=1,
        groups=2,
        group_size=2,
        max_new_tokens=6,
        out=tmp_path / "run",
        progress=False,
        tensorboard=False,
        micro_batch_size=4,
    )
    return Trainer(run, make_algorithm("igpo"))


def test_turn_rewards_are_changes_in_answer_logprob(tmp_path: Path) -> None:
    t = trainer(tmp_path, max_turns=3)
    episodes = t._rollout(0)
    igpo = t.algorithm
    assert isinstance(igpo, IGPO)
    rewards = igpo.turn_rewards(episodes)
    model, tokenizer = t.policy, t.tokenizer
    for ep, row in zip(episodes, rewards, strict=True):
        answer = tokenizer(ep.ground_truth, add_special_tokens=False)["input_ids"]

        def score(context: list[int], answer: list[int] = answer) -> float:
            with torch.no_grad():
                logits = model(torch.tensor([context + answer])).logits[0, len(context) - 1 : -1]
            logp = torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(answer)[:, None])
            return float(logp.mean())

        s = [score(turn.prompt_ids) for turn in ep.turns]
        assert row[:-1] == pytest.approx([s[k + 1] - s[k] for k in range(len(s) - 1)], abs=1e-4)
        assert row[-1] == pytest.approx(ep.total_reward)


def test_advantages_by_hand() -> None:
    # Two episodes of one group, two turns each. Scores s: A: 0 → 1, B: 0 → −1, so the IG
    # rewards are +1 and −1 (z-scores ±0.707106 with the sample std √2); outcomes 1 and 0
    # (z ±0.707106). γ = 1: turn 0 = IG + outcome z, turn 1 = outcome z.
    a, b = episode([0.0, 1.0]), episode([0.0, 0.0])
    a.ground_truth = b.ground_truth = "x"
    table = iter([0.0, 1.0, 0.0, -1.0])
    igpo = IGPO()
    igpo.attach(lambda requests: [next(table) for _ in requests], lambda text: [1])
    z = 1 / (math.sqrt(2) + 1e-6)
    o = 0.5 / (math.sqrt(0.5) + 1e-6)
    got = igpo.turn_advantages([a, b])
    assert got[0] == pytest.approx([z + o, o])
    assert got[1] == pytest.approx([-z - o, -o])


def test_needs_ground_truth_at_config_time(tmp_path: Path) -> None:
    with pytest.raises(
        InvalidArgumentError,
        match="IGPO needs the ground-truth answer, and palaestra/SearchQA-v0 does not expose it",
    ):
        Trainer(
            TrainConfig(env="palaestra/SearchQA-v0", out=tmp_path, progress=False),
            make_algorithm("igpo"),
        )
    with pytest.raises(InvalidArgumentError, match="palaestra/Bandit-v0 does not expose it"):
        Trainer(
            TrainConfig(env="palaestra/Bandit-v0", out=tmp_path, progress=False),
            make_algorithm("igpo"),
        )


def test_igpo_trains_an_iteration(tmp_path: Path) -> None:
    metrics = trainer(tmp_path, max_turns=3).iteration(0)
    assert math.isfinite(metrics["loss"]) and metrics["kl"] >= 0
