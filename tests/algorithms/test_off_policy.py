"""Mini-batch updates inside real trainer iterations: every mechanism acts where it should.

With several optimizer steps per rollout, every mini-batch after the first is trained on
tokens sampled by the previous weights (ρ ≠ 1), so the ratio clips, KL-Cov and agentic
AEPO's gradient-preserving clip change the gradient there, and nowhere on the first one.
"""

import copy
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
import torch

from palaestra.algorithms import GRPO, AgenticAEPO, AgenticAEPOConfig, GRPOConfig, make_algorithm
from palaestra.algorithms.base import Algorithm, Sampler, TrainingSet
from palaestra.algorithms.trainer import TrainConfig, Trainer
from palaestra.errors import InvalidArgumentError
from palaestra.rollout.records import Episode
from tests.algorithms.test_trainer import Alternating, config


def step_gradients(trainer: Trainer, training: TrainingSet | None = None) -> list[torch.Tensor]:
    """The gradient at each optimizer step of one update (the whole policy, flattened)."""
    grads: list[torch.Tensor] = []
    step = trainer.optimizer.step

    def recording_step(*args: Any, **kwargs: Any) -> Any:
        params = [p for g in trainer.optimizer.param_groups for p in g["params"]]
        grads.append(torch.cat([p.grad.flatten() for p in params if p.grad is not None]))
        return step(*args, **kwargs)

    trainer.optimizer.step = recording_step  # type: ignore[method-assign]
    try:
        if training is None:
            trainer.iteration(0)
        else:
            trainer._update(training, 0)
    finally:
        trainer.optimizer.step = step  # type: ignore[method-assign]
    return grads


def off_policy_gradients(tmp_path: Path, algorithm: Algorithm, name: str) -> list[torch.Tensor]:
    # 32 episodes in 4 mini-batches of 8; a learning rate that moves the policy visibly, so
    # later mini-batches hold ratios on both sides of every clip edge.
    run = config(tmp_path / name, lr=0.02, groups=4, group_size=8, max_new_tokens=8)
    return step_gradients(Trainer(run, algorithm))


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, atol=1e-7, rtol=1e-5)


def test_the_default_update_is_off_policy_and_clips(tmp_path: Path) -> None:
    # The defaults (4 mini-batches, lr 1e-3) on a warm-started bandit: from the second
    # optimizer step on, ratios move away from 1 and the clip acts on some tokens.
    run = config(tmp_path, groups=8, group_size=8, sft_steps=30, sft_agent="random", steps=3)
    assert run.mini_batches == 4 and TrainConfig.mini_batches == 4
    trainer = Trainer(run, make_algorithm("grpo"))
    trainer._warm_start()
    rows = [trainer.iteration(k) for k in range(3)]
    assert all(r["optimizer_steps"] == 4 for r in rows)
    assert max(r["ratio_max"] for r in rows) > 1.2
    assert max(r["approx_kl"] for r in rows) > 0
    assert max(r["clip_fraction"] for r in rows) > 0


def test_one_mini_batch_is_on_policy(tmp_path: Path) -> None:
    metrics = Trainer(config(tmp_path, mini_batches=1), Alternating()).iteration(0)
    assert metrics["optimizer_steps"] == 1 and metrics["ratio_mean"] == pytest.approx(1.0)
    assert metrics["approx_kl"] == pytest.approx(0.0, abs=1e-7)
    assert metrics["clip_fraction"] == 0


@pytest.mark.parametrize(
    ("base", "changed"),
    [
        # KL-Cov's penalty itself (KL-Cov also drops the clip, so it is compared with a
        # zero penalty, not with plain GRPO).
        (
            {"covariance_control": "kl_cov", "kl_cov_ratio": 0.5, "kl_cov_coef": 0.0},
            {"covariance_control": "kl_cov", "kl_cov_ratio": 0.5, "kl_cov_coef": 1.0},
        ),
        ({}, {"clip_high": 0.28}),  # DAPO's clip-higher
        ({}, {"dual_clip": 1.05}),  # dual-clip: caps the loss of A < 0 tokens with ρ > c
    ],
    ids=["kl_cov", "clip_higher", "dual_clip"],
)
def test_a_mechanism_changes_the_gradient_only_off_policy(
    tmp_path: Path, base: dict[str, Any], changed: dict[str, Any]
) -> None:
    plain = off_policy_gradients(tmp_path, Alternating(replace(GRPOConfig(), **base)), "plain")
    other = off_policy_gradients(tmp_path, Alternating(replace(GRPOConfig(), **changed)), "changed")
    assert len(plain) == len(other) == 4
    assert close(plain[0], other[0])  # first mini-batch: ρ = 1, no mechanism acts
    # Later ones are off-policy: the mechanism acts (the first change may shift later
    # gradients too, so the first differing step is what counts).
    assert [close(a, b) for a, b in zip(plain, other, strict=True)].index(False) >= 1


def test_clip_cov_detaches_tokens_from_the_first_step(tmp_path: Path) -> None:
    # Clip-Cov does not need ρ ≠ 1: its chosen tokens pass no gradient on any mini-batch.
    clip_cov = {
        "covariance_control": "clip_cov",
        "clip_cov_ratio": 0.2,
        "clip_cov_lower": -1e9,
        "clip_cov_upper": 1e9,
    }
    plain = off_policy_gradients(tmp_path, Alternating(), "plain")
    other = off_policy_gradients(tmp_path, Alternating(replace(GRPOConfig(), **clip_cov)), "cov")
    assert not close(plain[0], other[0])


class AlternatingAgentic(AgenticAEPO):
    """Agentic AEPO on the same ±1 advantages (no entropy weighting): only the clip differs."""

    def turn_advantages(self, episodes: Sequence[Episode]) -> list[list[float]]:
        return Alternating().turn_advantages(episodes)


def test_agentic_aepo_clip_changes_the_gradient_off_policy(tmp_path: Path) -> None:
    settings = {"clip_high": 0.28, "dual_clip": None, "loss_aggregation": "token_mean"}
    plain = off_policy_gradients(tmp_path, Alternating(replace(GRPOConfig(), **settings)), "plain")
    aepo = AlternatingAgentic(AgenticAEPOConfig(entropy_advantage_weight=0.0, **settings))
    agentic = off_policy_gradients(tmp_path, aepo, "agentic")
    assert close(plain[0], agentic[0]) and not close(plain[1], agentic[1])


def test_covariance_tokens_do_not_depend_on_the_micro_batch_size(tmp_path: Path) -> None:
    chosen = []
    for size in (1, 8):
        algorithm = Alternating(
            replace(
                GRPOConfig(),
                covariance_control="clip_cov",
                clip_cov_ratio=0.3,
                clip_cov_lower=-1e9,
                clip_cov_upper=1e9,
            )
        )
        trainer = Trainer(config(tmp_path / str(size), micro_batch_size=size), algorithm)
        chosen.append(trainer.iteration(0)["covariance_fraction"])
    # Chosen over the whole batch (⌈0.3·N⌉ of its tokens), not ⌈0.3·n⌉ per micro-batch.
    assert chosen[0] == chosen[1] and 0.3 <= chosen[0] < 0.35


class WithExtra(Alternating):
    """Alternating advantages, plus copies of the rollout's first episodes as an extra term
    whose advantages are ``advantages``."""

    def __init__(self, advantages: Sequence[float], weight: float = 1.0) -> None:
        super().__init__()
        self.advantages, self.weight = list(advantages), weight

    def select_episodes(self, episodes: list[Episode], sampler: Sampler) -> TrainingSet:
        copies = [copy.copy(episodes[k % len(episodes)]) for k in range(len(self.advantages))]
        return TrainingSet(episodes + copies, main=len(episodes), extra_weight=self.weight)

    def token_advantages(self, training: TrainingSet, batch: Any, values: Any) -> torch.Tensor:
        rows = self.turn_advantages(training.episodes[: training.main])
        rows += [[a] * len(e.turns) for a, e in zip(self.advantages, training.extra, strict=True)]
        return batch.broadcast(rows)


def first_gradient(tmp_path: Path, algorithm: Algorithm, name: str) -> torch.Tensor:
    # One optimizer step; no gradient clipping, which would hide the loss's scale.
    run = config(tmp_path / name, mini_batches=1, max_grad_norm=1e9)
    return step_gradients(Trainer(run, algorithm))[0]


def test_idle_extra_rows_do_not_dilute_the_loss(tmp_path: Path) -> None:
    # Extra rows with zero advantage (replays at or below the median, regularization
    # samples without a positive advantage) count in no denominator: one replay with
    # A = 1 pulls as hard alone as beside three idle ones.
    one = first_gradient(tmp_path, WithExtra([1.0]), "one")
    padded = first_gradient(tmp_path, WithExtra([1.0, 0.0, 0.0, 0.0]), "padded")
    assert close(one, padded)


def test_mini_batches_of_idle_rows_take_no_step(tmp_path: Path) -> None:
    # 2 rollout rows and 6 idle extra rows in 4 mini-batches: only the 2 with something to
    # train are stepped (a step on zero gradients would still move AdamW's momentum).
    run = config(tmp_path, groups=1, group_size=2)
    metrics = Trainer(run, WithExtra([0.0] * 6)).iteration(0)
    assert metrics["optimizer_steps"] == 2


def test_the_extra_term_is_weighted_exactly(tmp_path: Path) -> None:
    # L = L_main + w·L_extra, each aggregated over its own tokens: at w = 0 the gradient is
    # the main loss's alone, and it grows linearly in w.
    alone = first_gradient(tmp_path, Alternating(), "alone")
    g0 = first_gradient(tmp_path, WithExtra([1.0, -1.0], 0.0), "w0")
    g1 = first_gradient(tmp_path, WithExtra([1.0, -1.0], 1.0), "w1")
    g3 = first_gradient(tmp_path, WithExtra([1.0, -1.0], 3.0), "w3")
    assert close(alone, g0) and not close(g0, g1)
    assert torch.allclose(g3 - g0, 3 * (g1 - g0), atol=1e-6, rtol=1e-4)


def test_dr_grpo_divides_by_a_fixed_token_budget(tmp_path: Path) -> None:
    # max_new_tokens x the most turns: the bandit's horizon (2) in the concat layout, one
    # turn per sequence in per_turn, the configured constant when there is one.
    dr = make_algorithm("dr_grpo")
    two = config(tmp_path, env_kwargs='{"horizon": 2}', max_new_tokens=4)
    assert Trainer(two, dr).norm_length == 8
    assert Trainer(replace(two, max_turns=1), dr).norm_length == 4
    assert Trainer(replace(two, layout="per_turn"), dr).norm_length == 4
    fixed = make_algorithm("dr_grpo", loss_norm_length=100)
    assert Trainer(two, fixed).norm_length == 100
    with pytest.raises(InvalidArgumentError, match="has no turn limit: set --max-turns"):
        Trainer(config(tmp_path, env="palaestra/PrisonersDilemma-v0", env_kwargs="{}"), dr)
    assert gym.make("palaestra/MathTool-v0").unwrapped.turn_limit == 5  # 4 tool calls + 1


def test_grpo_default_has_four_mini_batches_of_whole_groups() -> None:
    from palaestra.algorithms.batch import mini_batch_rows

    # 8 main rows and 3 extra rows in 4 mini-batches: each takes a quarter of both.
    extra = torch.tensor([False] * 8 + [True] * 3)
    parts = mini_batch_rows(extra, 4)
    assert [p.tolist() for p in parts] == [[0, 1, 8], [2, 3, 9], [4, 5, 10], [6, 7]]
    assert GRPO().config.clip_high == 0.2
