"""The shared trainer: parameter updates, off-policy mini-batches, the extra term, failures.

With several optimizer steps per rollout, every mini-batch after the first is trained on
tokens sampled by the previous weights (ρ ≠ 1), so the ratio clips and KL-Cov change the
gradient there, and nowhere on the first one.
"""

import copy
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
import torch

from palaestra.algorithms import GRPO, GRPOConfig, make_algorithm
from palaestra.algorithms.base import Algorithm, Sampler, TrainingSet
from palaestra.algorithms.sft import warm_start
from palaestra.algorithms.trainer import TrainConfig, Trainer, TrainingError
from palaestra.envs.core import TextEnv, Transition
from palaestra.errors import InvalidArgumentError
from palaestra.rollout.records import Episode
from tests.algorithms.helpers import (
    Alternating,
    close,
    config,
    off_policy_gradients,
    step_gradients,
    weights,
)


def test_every_trainable_parameter_changes(tmp_path: Path) -> None:
    trainer = Trainer(config(tmp_path, steps=1), Alternating())
    before = weights(trainer.policy)
    trainer.run()
    after = weights(trainer.policy)
    unchanged = [n for n in before if torch.equal(before[n], after[n])]
    assert not unchanged


def test_the_default_update_is_off_policy_and_clips(tmp_path: Path) -> None:
    # The defaults (4 mini-batches, lr 1e-3) on a bandit, warm-started until the policy
    # answers with arms: from the second optimizer step on, ratios move away from 1 and the
    # clip acts on some tokens.
    run = config(
        tmp_path, groups=8, group_size=8, sft_steps=30, sft_lr=3e-3, sft_agent="random", steps=3
    )
    assert run.mini_batches == 4 and TrainConfig.mini_batches == 4
    trainer = Trainer(run, make_algorithm("grpo"))
    warm_start(
        run,
        trainer.env_kwargs,
        agent=trainer.agent,
        policy=trainer.policy,
        tokenizer=trainer.tokenizer,
    )
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


@pytest.mark.parametrize("mode", ["clip_cov", "kl_cov"])
def test_covariance_control_runs_in_the_trainer(tmp_path: Path, mode: str) -> None:
    algorithm = Alternating(
        replace(
            GRPO().config,
            covariance_control=mode,
            clip_cov_ratio=0.5,
            clip_cov_lower=-1e9,
            clip_cov_upper=1e9,
        )
    )
    trainer = Trainer(config(tmp_path), algorithm)
    metrics = trainer.iteration(0)
    assert math.isfinite(metrics["loss"]) and metrics["grad_norm"] > 0


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


def test_existing_run_needs_resume(tmp_path: Path) -> None:
    Trainer(config(tmp_path, steps=1), make_algorithm("grpo")).run()
    with pytest.raises(InvalidArgumentError, match="already holds a run; pass --resume"):
        Trainer(config(tmp_path, steps=2), make_algorithm("grpo"))
    with pytest.raises(InvalidArgumentError, match="no checkpoint"):
        Trainer(config(tmp_path / "empty", resume=True), make_algorithm("grpo"))


class NaNAfterTwo(GRPO):
    def turn_advantages(self, episodes: Sequence[Episode]) -> list[list[float]]:
        value = float("nan") if self.iteration >= 2 else 1.0
        return [[value] * len(e.turns) for e in episodes]


def test_nan_loss_stops_with_the_last_checkpoint_intact(tmp_path: Path) -> None:
    trainer = Trainer(config(tmp_path, steps=5, checkpoint_every=1), NaNAfterTwo())
    with pytest.raises(
        TrainingError, match=r"not finite at iteration 2; the last checkpoint is .*step-000002"
    ):
        trainer.run()
    assert (tmp_path / "run" / "checkpoints" / "step-000002" / "trainer.pt").is_file()
    assert not (tmp_path / "run" / "checkpoints" / "step-000003").exists()
    resumed = Trainer(config(tmp_path, steps=2, resume=True), make_algorithm("grpo"))
    assert resumed.start_iteration == 2


class Crashes(TextEnv):
    """An env whose engine fails on its second step."""

    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        return "go", {"instruction": "say anything", "available_actions": ["a"]}

    def _step(self, action: str) -> Transition:
        if self.turn >= 2:
            raise RuntimeError("engine crashed")
        return Transition("go", 0.0, False, {})

    def _invalid_transition(self, reason: str) -> Transition:
        return self._step(reason)


def test_env_that_raises_mid_rollout(tmp_path: Path) -> None:
    gym.register("palaestra-test/Crashes-v0", entry_point=Crashes, max_episode_steps=5)
    try:
        trainer = Trainer(
            config(tmp_path, env="palaestra-test/Crashes-v0", env_kwargs="{}"),
            make_algorithm("grpo"),
        )
        with pytest.raises(
            TrainingError,
            match="environment raised during the rollout of iteration 0: "
            "RuntimeError: engine crashed; the last checkpoint is none",
        ):
            trainer.run()
    finally:
        del gym.registry["palaestra-test/Crashes-v0"]
