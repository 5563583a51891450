"""Agentic AEPO: entropy-balanced clipping, entropy-aware advantages, the branching rollout."""

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from palaestra.algorithms import SALT, AgenticAEPO, AgenticAEPOConfig, GRPOConfig, make_algorithm
from palaestra.algorithms.aepo_agentic import entropy_balanced_surrogate, fresh_rollouts
from palaestra.algorithms.base import TrainingSet
from palaestra.algorithms.losses import clipped_surrogate
from palaestra.algorithms.trainer import Trainer
from palaestra.rollout.records import Episode
from tests.algorithms.helpers import (
    PAIR_ADVANTAGE,
    Alternating,
    close,
    config,
    episode,
    loss_context,
    off_policy_gradients,
    per_turn_batch,
)


def test_entropy_balanced_clipping_keeps_a_gradient() -> None:
    # A = +1 and ρ = 1.5 > 1 + 0.28: PPO's clipped term is a constant (no gradient);
    # AEPO's has the same value, −1.28, and gradient −1.28 · ∂logπ.
    for fn, expected_grad in ((clipped_surrogate, 0.0), (entropy_balanced_surrogate, -1.28)):
        logp = torch.tensor([math.log(1.5)], requires_grad=True)
        kwargs = {"clip_low": 0.2, "clip_high": 0.28}
        if fn is entropy_balanced_surrogate:
            kwargs["dual_clip"] = None
        loss, _ = fn(logp, torch.zeros(1), torch.tensor([1.0]), **kwargs)  # type: ignore[operator]
        assert loss.item() == pytest.approx(-1.28)
        loss.sum().backward()
        assert logp.grad is not None
        assert logp.grad.item() == pytest.approx(expected_grad)


def test_entropy_aware_advantage_by_hand() -> None:
    # One group: returns 1 and 0 → A = ±a; token entropies 1, 3 (episode 0) and 1, 3
    # (episode 1): z = (H − 2) / std(1, 3, 1, 3) = ∓0.866; Ã = A · (1 + 0.2 z).
    win, lose = episode([1.0]), episode([0.0])
    for ep in (win, lose):
        ep.turns[0].entropies = [1.0, 3.0]
    batch = per_turn_batch([win, lose])
    advantages = AgenticAEPO().token_advantages(TrainingSet.of([win, lose]), batch, None)
    a = PAIR_ADVANTAGE
    z = 1.0 / torch.tensor([1.0, 3.0, 1.0, 3.0]).std().item()
    got = advantages[batch.loss_mask.bool()].tolist()
    assert got == pytest.approx(
        [a * (1 - 0.2 * z), a * (1 + 0.2 * z), -a * (1 - 0.2 * z), -a * (1 + 0.2 * z)], abs=1e-5
    )


def test_agentic_aepo_token_loss_uses_entropy_balanced_clipping() -> None:
    batch = per_turn_batch([episode([1.0])])
    logprobs = torch.full(batch.loss_mask.shape, math.log(1.5), requires_grad=True)
    ctx = loss_context(batch, logprobs, torch.zeros_like(logprobs), batch.loss_mask.clone())
    for algorithm, expected in ((AgenticAEPO(), -1.28), (SALT(), 0.0)):  # SALT: plain PPO clip
        logprobs.grad = None
        loss = algorithm.token_loss(ctx).loss
        (loss * batch.loss_mask).sum().backward()
        assert logprobs.grad is not None
        assert logprobs.grad[batch.loss_mask.bool()].tolist() == pytest.approx([expected] * 2)


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


def test_agentic_aepo_fresh_rollout_share() -> None:
    # k = 12, β = 0.5, H_root = 1.0, H_tool = 0.2: σ(0.4) = 0.5987, ⌊12 · 0.5987⌋ + 1 = 8
    # fresh rollouts and 4 branches; the share is clipped to [1, k].
    assert fresh_rollouts(12, 0.5, 1.0, 0.2) == 8
    assert fresh_rollouts(12, 0.5, 100.0, 0.0) == 12
    assert fresh_rollouts(12, 0.5, 0.0, 100.0) == 1


def test_agentic_aepo_branch_probability_falls_with_consecutive_branches() -> None:
    # One fresh rollout with 3 tool steps whose entropy rises by 2.5 over the root:
    # 0.5 + 0.2 · 2.5 = 1.0 for the first branch, then 0.95, 0.90, ...: with a budget of 2
    # both come from this rollout; with the penalty at 0.5 the second branch has p = 0.5.
    parent = episode([0.0, 0.0, 0.0, 0.0])
    for turn in parent.turns[1:]:
        turn.entropies = [3.0, 3.0]
    parent.turns[0].entropies = [0.5, 0.5]
    aepo = AgenticAEPO(AgenticAEPOConfig(entropy_balanced_rollout=True))
    points = aepo.branch_points([parent], 2, root_entropy=0.5)
    assert [t for _, t in points] == [1, 2]
    steep = AgenticAEPO(AgenticAEPOConfig(branch_penalty=1.0))
    # After one branch p = 1.0 − 1.0 = 0: never a second from the same rollout.
    assert len(steep.branch_points([parent], 3, root_entropy=0.5)) == 1


def test_branching_draws_follow_the_run_seed_and_survive_a_checkpoint() -> None:
    parent = episode([0.0] * 8)
    settings = AgenticAEPOConfig(entropy_balanced_rollout=True)

    def draws(seed: int, state: dict | None = None) -> list[int]:
        aepo = AgenticAEPO(settings)
        aepo.start(10, seed)
        if state is not None:
            aepo.load_state_dict(state)
        return [t for _, t in aepo.branch_points([parent], 3, root_entropy=1.0)]

    assert draws(1) == draws(1) and draws(1) != draws(2)
    saved = AgenticAEPO(settings)
    saved.start(10, 1)
    saved.branch_points([parent], 3, root_entropy=1.0)
    state = saved.state_dict()
    assert draws(5, state) == [t for _, t in saved.branch_points([parent], 3, root_entropy=1.0)]


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
    for ep in episodes:
        siblings = [e for e in episodes if e.group == ep.group and e is not ep]
        for parent in siblings:
            shared = 0
            while (
                shared < min(len(parent.turns), len(ep.turns)) - 1
                and parent.turns[shared].response_ids == ep.turns[shared].response_ids
            ):
                shared += 1
            if shared:
                # A branch replays its parent's turns exactly: same prompts, same replies,
                # same observations from the environment.
                for a, b in zip(parent.turns[: shared + 1], ep.turns[: shared + 1], strict=True):
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
