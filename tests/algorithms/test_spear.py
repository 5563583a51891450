"""SPEAR: its schedules, the replay buffer, the tool reward and replay's own Clip-Cov and ratio."""

import math
from pathlib import Path

import gymnasium as gym
import pytest
import torch

from palaestra.algorithms import SPEAR, AgenticAEPOConfig, SPEARConfig, make_algorithm
from palaestra.algorithms.base import TrainingSet
from palaestra.algorithms.spear import replay_weight, tool_weight
from palaestra.algorithms.trainer import Trainer
from palaestra.errors import InvalidArgumentError
from tests.algorithms.helpers import config, episode, loss_context, per_turn_batch


def test_spear_schedules() -> None:
    # μ_k: 1 at k = 0, 1/2 at K_t/2, 0 at K_t and after.
    assert [tool_weight(k, 200) for k in (0, 100, 200, 300)] == pytest.approx([1.0, 0.5, 0.0, 0.0])
    # γ_k: 0 at k = 0, c/2 at K_r/2, c from K_r on.
    assert [replay_weight(k, 100, 2.0) for k in (0, 50, 100, 500)] == pytest.approx(
        [0.0, 1.0, 2.0, 2.0]
    )


def test_spear_buffer_eviction_by_age_and_recalibrated_replay() -> None:
    spear = SPEAR(SPEARConfig(tool_reward=False, replay_size=1, tolerate_steps=2))
    # Iteration 0: returns 1 and 0 → the winner (positive advantage) enters the buffer,
    # D_R gets the group mean 0.5.
    win, lose = episode([1.0]), episode([0.0])
    first = spear.select_episodes([win, lose], sampler=None)  # type: ignore[arg-type]
    assert first.episodes == [win, lose]  # nothing to replay yet
    assert [e.episode for e in spear.buffer] == [win] and list(spear.group_rewards) == [0.5]
    spear.end_iteration({})
    # Iteration 1: replay the winner as the extra term, weighted by γ_1; Ã = R − median(D_R).
    training = spear.select_episodes([lose, lose], sampler=None)  # type: ignore[arg-type]
    replayed = training.extra
    assert len(replayed) == 1 and replayed[0].group < 0 and training.main == 2
    assert training.extra_weight == pytest.approx(replay_weight(1, 100, 1.0))
    assert training.advantages is not None
    assert training.advantages[2] == [pytest.approx(0.5)]
    assert list(spear.group_rewards) == [0.5, 0.0]  # scored once per iteration
    # Iterations pass: entries older than tolerate_steps (2) are dropped before replay.
    spear.iteration = 3
    assert spear.select_episodes([lose], sampler=None).episodes == [lose]  # type: ignore[arg-type]
    assert len(spear.buffer) == 0


def test_spear_clip_cov_on_each_loss_over_its_own_tokens() -> None:
    # Rows 0-1 on-policy, rows 2-3 replayed; every Cov inside both bounds. On-policy r = 0.5
    # chooses ⌈0.5 · 4⌉ = 2 of its 4 tokens, replay r = 0.25 ⌈0.25 · 4⌉ = 1 of its 4.
    spear = SPEAR(
        SPEARConfig(
            tool_reward=False,
            clip_cov_ratio=0.5,
            clip_cov_lower=-1e9,
            replay_clip_cov_ratio=0.25,
            replay_clip_cov_upper=1e9,
            clip_cov_upper=1e9,
        )
    )
    mask = torch.ones(4, 2)
    extra = torch.tensor([False, False, True, True])
    chosen = spear.covariance_tokens(
        torch.randn(4, 2), torch.randn(4, 2), mask, extra, torch.Generator()
    )
    assert chosen[:2].sum() == 2 and chosen[2:].sum() == 1


def test_spear_tool_reward_needs_tool_calls() -> None:
    with pytest.raises(
        InvalidArgumentError,
        match="SPEAR's tool reward needs tool calls, and palaestra/Bandit-v0 counts none",
    ):
        SPEAR().check_env(gym.make("palaestra/Bandit-v0"))
    spear = SPEAR()
    spear.check_env(gym.make("palaestra/SearchQA-v0"))
    assert spear.tool_metric == "searches"
    shaped = episode([1.0])
    shaped.metrics = {"searches": 3.0}
    assert spear.shaped_return(shaped) == pytest.approx(1.3)  # μ_0 = 1, 0.1 · 3


def test_spear_state_round_trip() -> None:
    spear = SPEAR(SPEARConfig(tool_reward=False))
    spear.training_advantages(TrainingSet.of([episode([1.0]), episode([0.0])]))
    restored = SPEAR(SPEARConfig(tool_reward=False))
    restored.load_state_dict(spear.state_dict())
    assert len(restored.buffer) == 1 and list(restored.group_rewards) == [0.5]


def test_spear_replay_ratio_is_against_the_collection_time_logprobs() -> None:
    batch = per_turn_batch([episode([1.0]), episode([1.0])])
    logprobs = torch.full(batch.loss_mask.shape, -0.5)
    extra = torch.tensor([[False], [True]])
    ctx = loss_context(
        batch, logprobs, torch.full_like(logprobs, -0.2), batch.loss_mask, extra=extra
    )
    # Row 0 against the pre-pass (−0.2), row 1 (a replay) against the stored −1.0.
    log_ratio = SPEAR().token_loss(ctx).log_ratio
    assert log_ratio is not None
    mask = batch.loss_mask.bool()
    assert log_ratio[0][mask[0]].tolist() == pytest.approx([-0.3, -0.3])
    assert log_ratio[1][mask[1]].tolist() == pytest.approx([0.5, 0.5])


def test_kl_cov_is_refused_where_it_would_remove_the_algorithms_clip() -> None:
    with pytest.raises(InvalidArgumentError, match="SPEAR uses Clip-Cov"):
        SPEARConfig(covariance_control="kl_cov")
    with pytest.raises(InvalidArgumentError, match="entropy-balanced clipping"):
        AgenticAEPOConfig(covariance_control="kl_cov")


def test_spear_replays_on_searchqa(tmp_path: Path) -> None:
    run = config(tmp_path, env="palaestra/SearchQA-v0", env_kwargs="{}", max_turns=2, steps=3)
    algorithm = make_algorithm("spear", SPEARConfig(replay_size=1, replay_warmup=1))
    trainer = Trainer(run, algorithm)
    for k in range(3):
        metrics = trainer.iteration(k)
        assert math.isfinite(metrics["loss"])
    assert "buffer_size" in metrics and metrics["tool_weight"] < 1.0
