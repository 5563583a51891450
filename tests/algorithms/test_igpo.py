"""IGPO: turn rewards are changes in the teacher-forced probability of the answer."""

import math
from pathlib import Path

import pytest
import torch

from palaestra.algorithms import IGPO, make_algorithm
from palaestra.algorithms.igpo import information_gains, written_answer
from palaestra.algorithms.trainer import TrainConfig, Trainer
from palaestra.errors import InvalidArgumentError
from tests.algorithms.helpers import PAIR_ADVANTAGE, episode

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


def test_information_gains_are_differences_of_probabilities() -> None:
    # Mean log-probs before each turn; gains are exp(s_t) − exp(s_{t−1}), 4 decimals.
    gains_a = information_gains([-6.9, -2.3, -2.2])
    gains_b = information_gains([-1.2, -0.7, -0.36])
    assert [round(g, 4) for g in gains_a] == [0.0993, 0.0105]
    assert [round(g, 4) for g in gains_b] == [0.1954, 0.2011]
    # The ordering a log-prob difference would give is reversed: A's first log gain (4.6)
    # beats B's (0.5), but in probability B gains more.
    assert gains_b[0] > gains_a[0]


def test_turn_rewards_are_changes_in_answer_probability(tmp_path: Path) -> None:
    t = trainer(tmp_path, max_turns=3)
    t.sampler.iteration = 0
    episodes = t.sampler.rollout()
    igpo = t.algorithm
    assert isinstance(igpo, IGPO)
    rewards = igpo.turn_rewards(episodes)
    model, tokenizer = t.policy, t.tokenizer
    for ep, row in zip(episodes, rewards, strict=True):
        # Scored inside the env's answer format: SearchQA answers are answer[...].
        assert ep.answer_template == "answer[{answer}]"
        written = f"answer[{ep.ground_truth}]"
        answer = tokenizer(written, add_special_tokens=False)["input_ids"]

        def score(context: list[int], answer: list[int] = answer) -> float:
            with torch.no_grad():
                logits = model(torch.tensor([context + answer])).logits[0, len(context) - 1 : -1]
            logp = torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(answer)[:, None])
            return float(logp.mean())

        p = [math.exp(score(turn.prompt_ids)) for turn in ep.turns]
        assert row[:-1] == pytest.approx([p[k + 1] - p[k] for k in range(len(p) - 1)], abs=1e-5)
        assert row[-1] == pytest.approx(ep.total_reward)


def test_advantages_by_hand() -> None:
    # Two episodes of one group, two turns each. Scores s: A: log 0.2 → log 0.6, B:
    # log 0.6 → log 0.2, so the IG rewards are +0.4 and −0.4 (z-scores ±0.707106 with the
    # sample std); outcomes 1 and 0 (z ±0.707106). γ = 1: turn 0 = IG + outcome z, turn 1 =
    # outcome z.
    a, b = episode([0.0, 1.0]), episode([0.0, 0.0])
    a.ground_truth = b.ground_truth = "x"
    table = iter([math.log(0.2), math.log(0.6), math.log(0.6), math.log(0.2)])
    igpo = IGPO()
    igpo.attach_scorer(lambda requests: [next(table) for _ in requests], lambda text: [1])
    z = 0.4 / (math.sqrt(0.32) + 1e-6)
    o = PAIR_ADVANTAGE
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


def test_the_answer_is_written_in_the_envs_format() -> None:
    ep = episode([1.0])
    ep.ground_truth, ep.answer_template = "42", "\\boxed{{answer}}"
    assert written_answer(ep) == "\\boxed{42}"
    ep.answer_template = None  # an env without a format: the bare answer
    assert written_answer(ep) == "42"
