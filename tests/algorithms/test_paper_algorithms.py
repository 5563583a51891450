"""Hand-computed checks of EPO, SALT, agentic AEPO and Clip-Cov / KL-Cov."""

import math
import threading

import pytest
import torch

from palaestra.algorithms import GRPO, SALT, GRPOConfig, SALTConfig
from palaestra.algorithms.aepo_agentic import (
    AgenticAEPO,
    entropy_balanced_surrogate,
    fresh_rollouts,
)
from palaestra.algorithms.base import TrainingSet
from palaestra.algorithms.batch import TokenBatch, build_samples
from palaestra.algorithms.epo import EPO, nested_mean_weights, schedule, smoothing_penalty
from palaestra.algorithms.losses import (
    clip_cov_tokens,
    clipped_surrogate,
    kl_cov_loss,
    kl_cov_tokens,
    token_covariance,
)
from palaestra.algorithms.spear import replay_weight, tool_weight
from palaestra.errors import InvalidArgumentError
from tests.algorithms.helpers import episode, loss_context

# ---------------------------------------------------------------- Clip-Cov / KL-Cov


def test_token_covariance_by_hand() -> None:
    # A = 1, -1, 3 (mean 1); logp = -1, -2, -3 (mean -2):
    # Cov = (0)(1), (-2)(0), (2)(-1) = 0, 0, -2; the masked-out 4th token is 0.
    cov = token_covariance(
        torch.tensor([1.0, -1.0, 3.0, 9.0]),
        torch.tensor([-1.0, -2.0, -3.0, 5.0]),
        torch.tensor([1.0, 1.0, 1.0, 0.0]),
    )
    assert cov.tolist() == [0.0, 0.0, -2.0, 0.0]


def test_clip_cov_chooses_ceil_r_n_tokens_inside_the_bounds() -> None:
    cov = torch.tensor([[0.5, 2.0, 3.0, 4.0, 7.0]])
    # ⌈0.3 · 5⌉ = 2 of the 3 candidates (Cov 2, 3, 4 inside (1, 5)).
    chosen = clip_cov_tokens(
        cov, torch.ones(1, 5), ratio=0.3, lower=1.0, upper=5.0, generator=torch.Generator()
    )
    assert chosen.sum() == 2 and chosen[0, 0] == 0 and chosen[0, 4] == 0


def test_clip_cov_token_loss_keeps_the_value_and_drops_the_gradient() -> None:
    batch = TokenBatch.collate(build_samples([episode([1.0])], "per_turn"), 0)
    logprobs = torch.zeros(batch.loss_mask.shape, requires_grad=True)
    chosen = torch.zeros_like(batch.loss_mask)
    chosen[0, -1] = 1.0
    ctx = loss_context(batch, logprobs, logprobs.detach(), batch.loss_mask, covariance=chosen)
    loss = GRPO(GRPOConfig(covariance_control="clip_cov")).token_loss(ctx).loss
    (loss * batch.loss_mask).sum().backward()
    assert logprobs.grad is not None
    assert logprobs.grad[0, -2:].tolist() == [-1.0, 0.0]  # the chosen last token: no gradient
    assert loss[0, -2:].tolist() == [-1.0, -1.0]


def test_kl_cov_chooses_the_top_fraction() -> None:
    cov = torch.tensor([[0.1, 5.0, 2.0, 9.0]])
    # ⌈0.5 · 4⌉ = 2 tokens with the largest Cov: positions 3 and 1.
    assert kl_cov_tokens(cov, torch.ones(1, 4), ratio=0.5).tolist() == [[0.0, 1.0, 0.0, 1.0]]


def test_kl_cov_penalty_at_ratio_one_and_a_half() -> None:
    # ρ = 1.5 (logp = log 1.5, old = 0), β = 1, token chosen: β|log ρ| = 0.4055, and its
    # derivative in logp is +1. With A = 0 the loss is the penalty alone.
    logp = torch.tensor([math.log(1.5)], requires_grad=True)
    penalty = kl_cov_loss(logp, torch.zeros(1), torch.zeros(1), torch.ones(1), coef=1.0)
    assert penalty.item() == pytest.approx(0.4055, abs=1e-4)
    penalty.sum().backward()
    assert logp.grad is not None and logp.grad.item() == pytest.approx(1.0)
    # With A = 2 the penalty is added to the unclipped −A·ρ = −3 (no clip at 1 + 0.2).
    logp.grad = None
    loss = kl_cov_loss(logp, torch.zeros(1), torch.full((1,), 2.0), torch.ones(1), coef=1.0)
    assert loss.item() == pytest.approx(-3.0 + 0.4055, abs=1e-4)
    loss.sum().backward()
    assert logp.grad.item() == pytest.approx(-3.0 + 1.0)


def test_covariance_is_over_the_whole_batch() -> None:
    # A = [[2, 2], [−1, −1]], logp = [[−0.1, −0.2], [−3, −3.2]]: mean A 0.5, mean logp
    # −1.625; Cov = (A − 0.5)(logp + 1.625) = [[2.29, 2.14], [2.06, 2.36]]. With r = 0.5,
    # lb = 1, ub = 5 all four are candidates and exactly ⌈0.5 · 4⌉ = 2 are chosen.
    advantages = torch.tensor([[2.0, 2.0], [-1.0, -1.0]])
    logprobs = torch.tensor([[-0.1, -0.2], [-3.0, -3.2]])
    mask = torch.ones(2, 2)
    cov = token_covariance(advantages, logprobs, mask)
    assert cov.flatten().tolist() == pytest.approx([2.2875, 2.1375, 2.0625, 2.3625])
    config = GRPOConfig(
        covariance_control="clip_cov", clip_cov_ratio=0.5, clip_cov_lower=1.0, clip_cov_upper=5.0
    )
    chosen = GRPO(config).covariance_tokens(
        advantages, logprobs, mask, torch.zeros(2, dtype=torch.bool), torch.Generator()
    )
    assert chosen.sum() == 2


def test_covariance_control_is_validated() -> None:
    from palaestra.algorithms import GRPOConfig

    with pytest.raises(InvalidArgumentError, match="covariance_control must be"):
        GRPOConfig(covariance_control="clip")  # type: ignore[arg-type]


# ---------------------------------------------------------------- EPO


def test_epo_smoothing_penalty_gradient_outside_band_only() -> None:
    # Band [κ_l·H̄, κ_r·H̄] = [0.5, 2.0] for H̄ = 1, κ_l = 0.5, κ_r = 2.
    entropy = torch.tensor([0.2, 1.0, 1.9, 3.0], requires_grad=True)
    penalty = smoothing_penalty(entropy, 1.0, 0.5, 2.0)
    assert penalty.tolist() == pytest.approx([0.3, 0.0, 0.0, 1.0])
    penalty.sum().backward()
    assert entropy.grad is not None
    assert entropy.grad.tolist() == [-1.0, 0.0, 0.0, 1.0]


def test_epo_schedule() -> None:
    # β_k = 1 + exp(−3k / ⌊10/2⌋): k = 0 → 2, k = 5 → 1 + e^-3
    assert schedule(0, 10, 3.0) == 2.0
    assert schedule(5, 10, 3.0) == pytest.approx(1 + math.exp(-3))


def test_nested_mean_weights_by_hand() -> None:
    # Episode 0: two turns with 2 and 2 response tokens; episode 1: one turn of 2 tokens.
    # Trajectory → turn → token mean weights: ep0 tokens 1/(2·2·2) = 0.125, ep1 1/(2·1·2).
    batch = TokenBatch.collate(build_samples([episode([0.0, 1.0]), episode([1.0])], "per_turn"), 0)
    weights = nested_mean_weights(batch)
    assert sorted(weights[batch.loss_mask.bool()].tolist()) == [0.125] * 4 + [0.25] * 2
    assert weights.sum().item() == pytest.approx(1.0)


def test_epo_state_round_trip_and_history() -> None:
    epo = EPO()
    epo.end_iteration({"entropy": 2.0})
    epo.end_iteration({"entropy": 1.0})
    restored = EPO()
    restored.load_state_dict(epo.state_dict())
    assert restored.entropy_history == [2.0, 1.0] and restored.iteration == 2


# ---------------------------------------------------------------- SALT


def test_salt_shared_step_gets_the_mean_of_winner_and_loser() -> None:
    # Winner W and loser L share the first edge (s0, go, s1); then their paths differ.
    # GRPO A_traj (returns 1, 0): ±0.5 / (0.707107 + 1e-6) = ±0.707106.
    # Shared edge: mean(+a, −a) = 0; unique edges keep ±a.
    win = episode([0.0, 1.0], observations=["s0", "s1"])
    lose = episode([0.0, 0.0], observations=["s0", "s1"])
    win.turns[1].action, lose.turns[1].action = "take key", "eat key"
    a = 0.5 / (math.sqrt(0.5) + 1e-6)
    advantages = SALT().turn_advantages([win, lose])
    assert advantages[0] == pytest.approx([0.0, a])
    assert advantages[1] == pytest.approx([0.0, -a])


def test_salt_occurrence_versus_trajectory_averaging() -> None:
    # W loops the shared edge (s0, go, s0) twice, L once. A_traj = +a / −a.
    # occurrence: (a + a − a) / 3 = a/3 on every shared step; trajectory: (a − a) / 2 = 0.
    win = episode([0.0, 0.0, 1.0], observations=["s0", "s0", "s0"])
    lose = episode([0.0, 0.0], observations=["s0", "s0"])
    for turn in (*win.turns[:2], lose.turns[0]):
        turn.action = "go"
    win.turns[2].action, lose.turns[1].action = "win", "lose"
    a = 0.5 / (math.sqrt(0.5) + 1e-6)
    occurrence = SALT().turn_advantages([win, lose])
    trajectory = SALT(SALTConfig(averaging="trajectory")).turn_advantages([win, lose])
    assert occurrence[0][:2] == pytest.approx([a / 3, a / 3]) and occurrence[1][0] == pytest.approx(
        a / 3
    )
    assert trajectory[0][:2] == pytest.approx([0.0, 0.0])


def test_salt_history_nodes_and_rloo_base() -> None:
    # With history nodes the second step differs (different pasts), so nothing is shared
    # after the first step; RLOO base: returns 1, 0 → A = 1, −1.
    w = episode([0.0, 1.0], observations=["s0", "s1"])
    l_ = episode([0.0, 0.0], observations=["s0", "s1"])
    w.turns[0].action, l_.turns[0].action = "left", "right"
    history = SALT(SALTConfig(node="history", base="rloo")).turn_advantages([w, l_])
    assert history == [[1.0, 1.0], [-1.0, -1.0]]
    with pytest.raises(InvalidArgumentError, match="SALT base must be one of"):
        SALTConfig(base="ppo")  # type: ignore[arg-type]


# ---------------------------------------------------------------- agentic AEPO


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
    batch = TokenBatch.collate(build_samples([win, lose], "per_turn"), 0)
    advantages = AgenticAEPO().token_advantages(TrainingSet.of([win, lose]), batch, None)
    a = 0.5 / (math.sqrt(0.5) + 1e-6)
    z = 1.0 / torch.tensor([1.0, 3.0, 1.0, 3.0]).std().item()
    got = advantages[batch.loss_mask.bool()].tolist()
    assert got == pytest.approx(
        [a * (1 - 0.2 * z), a * (1 + 0.2 * z), -a * (1 - 0.2 * z), -a * (1 + 0.2 * z)], abs=1e-5
    )


# ---------------------------------------------------------------- arbitrary-entropy AEPO


class FakeSampler:
    """Answers regularization rollouts with fixed episodes and records what was asked."""

    groups, group_size = 1, 2

    def __init__(self, rewards: tuple[float, ...]) -> None:
        self.rewards = rewards
        self.asked: list[tuple[int | None, float | None, int]] = []

    def rollout(
        self, groups: int | None = None, *, temperature: float | None = None, stream: int = 0
    ) -> list:
        self.asked.append((groups, temperature, stream))
        return [episode([r], group=100_000) for r in self.rewards]


def test_arbitrary_aepo_steers_the_temperature() -> None:
    from palaestra.algorithms import ArbitraryAEPO

    aepo = ArbitraryAEPO()
    assert aepo.choose_temperature(None) == 1.2  # no measurement yet: explore
    assert aepo.choose_temperature(0.3) == 1.2  # below the 0.5 target: sample hotter
    assert aepo.choose_temperature(0.7) == 0.8  # above: colder
    main = [episode([1.0]), episode([0.0])]
    for ep in main:
        ep.turns[0].entropies = [0.2, 0.4]
    sampler = FakeSampler((1.0, 0.0))
    training = aepo.select_episodes(main, sampler)  # type: ignore[arg-type]
    # Measured entropy 0.3 < 0.5: one group (⌈0.25 · 1⌉) at T = 1.2, its own stream.
    assert sampler.asked == [(1, 1.2, 1)] and aepo.last_entropy == pytest.approx(0.3)
    assert len(training.episodes) == 4 and training.main == 2 and training.extra_weight == 1.0
    batch = TokenBatch.collate(build_samples(training.episodes, "per_turn"), 0)
    advantages = aepo.token_advantages(training, batch, None)
    a = 0.5 / (math.sqrt(0.5) + 1e-6)
    # Main samples keep both signs; the regularization set keeps only the positive one.
    assert advantages[:, -1].tolist() == pytest.approx([a, -a, a, 0.0])


def test_arbitrary_aepo_released_weighting_sets_a_to_one() -> None:
    from palaestra.algorithms import ArbitraryAEPO, ArbitraryAEPOConfig

    aepo = ArbitraryAEPO(ArbitraryAEPOConfig(regularization_advantage="one"))
    training = aepo.select_episodes([episode([1.0]), episode([0.0])], FakeSampler((1.0, 0.0)))  # type: ignore[arg-type]
    batch = TokenBatch.collate(build_samples(training.episodes, "per_turn"), 0)
    a = 0.5 / (math.sqrt(0.5) + 1e-6)
    assert aepo.token_advantages(training, batch, None)[:, -1].tolist() == pytest.approx(
        [a, -a, 1.0, 0.0]
    )
    with pytest.raises(InvalidArgumentError, match="regularization_advantage must be"):
        ArbitraryAEPOConfig(regularization_advantage="two")  # type: ignore[arg-type]


def test_arbitrary_aepo_replacement_scheme() -> None:
    from palaestra.algorithms import ArbitraryAEPO, ArbitraryAEPOConfig

    aepo = ArbitraryAEPO(ArbitraryAEPOConfig(replace_rows=4))
    main = [episode([r]) for r in (1.0, 0.0, 1.0, 0.0)]
    for ep in main:
        ep.turns[0].entropies = [0.1]
    # Three winners above a regularization group mean of 0.5.
    sampler = FakeSampler((1.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    training = aepo.select_episodes(main, sampler)  # type: ignore[arg-type]
    # Below target: up to 4 rows may go; three regularization samples have A > 0, so the
    # last three main rows are replaced and the first keeps its full-group advantage.
    assert training.episodes[:1] == main[:1] and len(training.episodes) == 4
    assert training.main == 1
    a = 0.5 / (math.sqrt(1 / 3) + 1e-6)  # main group {1, 0, 1, 0}: std √(1/3)
    b = 0.5 / (math.sqrt(0.3) + 1e-6)  # regularization group of six: std √0.3
    batch = TokenBatch.collate(build_samples(training.episodes, "per_turn"), 0)
    assert aepo.token_advantages(training, batch, None)[:, -1].tolist() == pytest.approx(
        [a, b, b, b]
    )
    # Above target only half as many rows (2) are replaced.
    for ep in main:
        ep.turns[0].entropies = [0.9]
    assert aepo.select_episodes(main, sampler).main == 2  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="replace_rows"):
        ArbitraryAEPOConfig(replace_rows=-1)


def test_arbitrary_aepo_reinforce_term_on_regularization_rows() -> None:
    from palaestra.algorithms import ArbitraryAEPO

    batch = TokenBatch.collate(build_samples([episode([1.0]), episode([1.0])], "per_turn"), 0)
    logprobs = torch.full(batch.loss_mask.shape, -0.5, requires_grad=True)
    extra = torch.tensor([[False], [True]])
    ctx = loss_context(batch, logprobs, logprobs.detach(), batch.loss_mask * 2.0, extra=extra)
    loss = ArbitraryAEPO().token_loss(ctx).loss
    (loss * batch.loss_mask).sum().backward()
    assert logprobs.grad is not None
    # Row 1 (regularization): −A·logπ = −2 · (−0.5) = 1 per token, gradient −2 (α is the
    # extra term's weight, applied by the trainer).
    assert loss[1][batch.loss_mask[1].bool()].tolist() == [1.0, 1.0]
    assert logprobs.grad[1][batch.loss_mask[1].bool()].tolist() == [-2.0, -2.0]
    # Row 0 (main): the clipped surrogate at ratio 1, −A = −2, gradient −2 as well.
    assert loss[0][batch.loss_mask[0].bool()].tolist() == [-2.0, -2.0]


def test_spear_schedules() -> None:

    # μ_k: 1 at k = 0, 1/2 at K_t/2, 0 at K_t and after.
    assert [tool_weight(k, 200) for k in (0, 100, 200, 300)] == pytest.approx([1.0, 0.5, 0.0, 0.0])
    # γ_k: 0 at k = 0, c/2 at K_r/2, c from K_r on.
    assert [replay_weight(k, 100, 2.0) for k in (0, 50, 100, 500)] == pytest.approx(
        [0.0, 1.0, 2.0, 2.0]
    )


def test_spear_buffer_eviction_by_age_and_recalibrated_replay() -> None:
    from palaestra.algorithms import SPEAR, SPEARConfig

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
    from palaestra.algorithms import SPEAR, SPEARConfig

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
    import gymnasium as gym

    from palaestra.algorithms import SPEAR

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
    from palaestra.algorithms import SPEAR, SPEARConfig

    spear = SPEAR(SPEARConfig(tool_reward=False))
    spear.training_advantages(TrainingSet.of([episode([1.0]), episode([0.0])]))
    restored = SPEAR(SPEARConfig(tool_reward=False))
    restored.load_state_dict(spear.state_dict())
    assert len(restored.buffer) == 1 and list(restored.group_rewards) == [0.5]


def test_agentic_aepo_token_loss_uses_entropy_balanced_clipping() -> None:
    batch = TokenBatch.collate(build_samples([episode([1.0])], "per_turn"), 0)
    logprobs = torch.full(batch.loss_mask.shape, math.log(1.5), requires_grad=True)
    ctx = loss_context(batch, logprobs, torch.zeros_like(logprobs), batch.loss_mask.clone())
    for algorithm, expected in ((AgenticAEPO(), -1.28), (SALT(), 0.0)):  # SALT: plain PPO clip
        logprobs.grad = None
        loss = algorithm.token_loss(ctx).loss
        (loss * batch.loss_mask).sum().backward()
        assert logprobs.grad is not None
        assert logprobs.grad[batch.loss_mask.bool()].tolist() == pytest.approx([expected] * 2)


def test_agentic_aepo_fresh_rollout_share() -> None:
    # k = 12, β = 0.5, H_root = 1.0, H_tool = 0.2: σ(0.4) = 0.5987, ⌊12 · 0.5987⌋ + 1 = 8
    # fresh rollouts and 4 branches; the share is clipped to [1, k].
    assert fresh_rollouts(12, 0.5, 1.0, 0.2) == 8
    assert fresh_rollouts(12, 0.5, 100.0, 0.0) == 12
    assert fresh_rollouts(12, 0.5, 0.0, 100.0) == 1


def test_agentic_aepo_branch_probability_falls_with_consecutive_branches() -> None:
    from palaestra.algorithms.aepo_agentic import AgenticAEPOConfig

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


def test_kl_cov_is_refused_where_it_would_remove_the_algorithms_clip() -> None:
    from palaestra.algorithms import SPEARConfig
    from palaestra.algorithms.aepo_agentic import AgenticAEPOConfig

    with pytest.raises(InvalidArgumentError, match="SPEAR uses Clip-Cov"):
        SPEARConfig(covariance_control="kl_cov")
    with pytest.raises(InvalidArgumentError, match="entropy-balanced clipping"):
        AgenticAEPOConfig(covariance_control="kl_cov")


def test_spear_replay_ratio_is_against_the_collection_time_logprobs() -> None:
    from palaestra.algorithms import SPEAR

    batch = TokenBatch.collate(build_samples([episode([1.0]), episode([1.0])], "per_turn"), 0)
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


def test_branching_draws_follow_the_run_seed_and_survive_a_checkpoint() -> None:
    from palaestra.algorithms.aepo_agentic import AgenticAEPOConfig

    parent = episode([0.0] * 8)
    config = AgenticAEPOConfig(entropy_balanced_rollout=True)

    def draws(seed: int, state: dict | None = None) -> list[int]:
        aepo = AgenticAEPO(config)
        aepo.start(10, seed)
        if state is not None:
            aepo.load_state_dict(state)
        return [t for _, t in aepo.branch_points([parent], 3, root_entropy=1.0)]

    assert draws(1) == draws(1) and draws(1) != draws(2)
    saved = AgenticAEPO(config)
    saved.start(10, 1)
    saved.branch_points([parent], 3, root_entropy=1.0)
    state = saved.state_dict()
    assert draws(5, state) == [t for _, t in saved.branch_points([parent], 3, root_entropy=1.0)]


def test_epo_terms_are_renormalized_over_each_mini_batch() -> None:
    # Two episodes in two mini-batches of one row each: with entropy 1 everywhere each
    # mini-batch's bonus is the whole nested mean, 1, so its loss is −λ (no smoothing at k=0).
    episodes = [episode([1.0]), episode([0.0])]
    batch = TokenBatch.collate(build_samples(episodes, "per_turn"), 0)
    epo = EPO()
    epo.token_advantages(TrainingSet.of(episodes), batch, None)
    for row in (0, 1):
        rows = torch.tensor([row])
        part = batch.select(rows)
        ones = torch.ones(part.loss_mask.shape)
        ctx = loss_context(part, ones, ones, part.loss_mask)
        ctx.rows = ctx.minibatch = rows
        ctx.entropy = ones
        assert epo.extra_loss(ctx, lambda v, m: v.sum()).item() == pytest.approx(-0.001)


class ThreadGather:
    """A :data:`Gather` across threads that stand in for training processes."""

    def __init__(self, processes: int) -> None:
        self.barrier = threading.Barrier(processes)
        self.slots: list[torch.Tensor | None] = [None] * processes
        self.rank = threading.local()

    def __call__(self, tensor: torch.Tensor) -> tuple[list[torch.Tensor], int]:
        self.slots[self.rank.value] = tensor
        self.barrier.wait()
        parts = [t for t in self.slots if t is not None]
        self.barrier.wait()
        return parts, self.rank.value


@pytest.mark.parametrize("mode", ["clip_cov", "kl_cov"])
def test_covariance_control_spans_every_process(mode: str) -> None:
    # Two processes holding rows 0-2 and 3-5 of one batch choose, together, exactly the
    # tokens one process holding all six rows would: Cov's means, N and the choice are
    # over every process's tokens.
    generator = torch.Generator().manual_seed(3)
    advantages, logprobs = (
        torch.randn(6, 5, generator=generator),
        -torch.rand(6, 5, generator=generator),
    )
    mask = (torch.rand(6, 5, generator=generator) > 0.3).float()
    config = GRPOConfig(
        covariance_control=mode,
        clip_cov_ratio=0.3,
        kl_cov_ratio=0.3,
        clip_cov_lower=-1e9,
        clip_cov_upper=1e9,
    )
    extra = torch.zeros(6, dtype=torch.bool)
    whole = GRPO(config).covariance_tokens(
        advantages, logprobs, mask, extra, torch.Generator().manual_seed(0)
    )
    gather = ThreadGather(2)
    chosen: list[torch.Tensor] = [torch.zeros(0), torch.zeros(0)]

    def process(rank: int) -> None:
        gather.rank.value = rank
        rows = slice(3 * rank, 3 * rank + 3)
        chosen[rank] = GRPO(config).covariance_tokens(
            advantages[rows],
            logprobs[rows],
            mask[rows],
            extra[:3],
            torch.Generator().manual_seed(0),
            gather,
        )

    threads = [threading.Thread(target=process, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert torch.equal(torch.cat(chosen), whole) and whole.sum() == math.ceil(0.3 * mask.sum())
