"""Hand-computed checks of EPO, SALT, agentic AEPO and Clip-Cov / KL-Cov."""

import math

import pytest
import torch

from palaestra.algorithms import SALT, SALTConfig
from palaestra.algorithms.aepo_agentic import AgenticAEPO, entropy_balanced_surrogate
from palaestra.algorithms.batch import TokenBatch, build_samples
from palaestra.algorithms.epo import EPO, nested_mean_weights, schedule, smoothing_penalty
from palaestra.algorithms.losses import clip_cov, clipped_surrogate, kl_cov, token_covariance
from palaestra.errors import InvalidArgumentError
from tests.algorithms.helpers import episode

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


def test_clip_cov_detaches_ceil_r_n_tokens_inside_the_bounds() -> None:
    cov = torch.tensor([[0.5, 2.0, 3.0, 4.0, 7.0]])
    mask = torch.ones(1, 5)
    loss = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]], requires_grad=True)
    # ⌈0.3 · 5⌉ = 2 of the 3 candidates (Cov 2, 3, 4 inside (1, 5)) are detached.
    out, detached = clip_cov(
        loss, cov, mask, ratio=0.3, lower=1.0, upper=5.0, generator=torch.Generator().manual_seed(0)
    )
    assert detached.sum() == 2 and detached[0, 0] == 0 and detached[0, 4] == 0
    out.sum().backward()
    assert loss.grad is not None
    assert (loss.grad == 1 - detached).all()
    assert torch.equal(out.detach(), loss.detach())


def test_kl_cov_penalizes_the_top_fraction() -> None:
    cov = torch.tensor([[0.1, 5.0, 2.0, 9.0]])
    logp = torch.tensor([[0.0, -1.0, 0.0, 0.5]])
    old = torch.zeros(1, 4)
    # ⌈0.5 · 4⌉ = 2 tokens with the largest Cov: positions 3 and 1; β|log ρ| = 0.5 and 1.
    penalty, chosen = kl_cov(logp, old, cov, torch.ones(1, 4), ratio=0.5, coef=1.0)
    assert chosen.tolist() == [[0.0, 1.0, 0.0, 1.0]]
    assert penalty.tolist() == [[0.0, 1.0, 0.0, 0.5]]


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
    advantages = AgenticAEPO().token_advantages([win, lose], batch, None)
    a = 0.5 / (math.sqrt(0.5) + 1e-6)
    z = 1.0 / torch.tensor([1.0, 3.0, 1.0, 3.0]).std().item()
    got = advantages[batch.loss_mask.bool()].tolist()
    assert got == pytest.approx(
        [a * (1 - 0.2 * z), a * (1 + 0.2 * z), -a * (1 - 0.2 * z), -a * (1 + 0.2 * z)], abs=1e-5
    )


# ---------------------------------------------------------------- arbitrary-entropy AEPO


def test_arbitrary_aepo_steers_the_temperature() -> None:
    from palaestra.algorithms import ArbitraryAEPO

    aepo = ArbitraryAEPO()
    assert aepo.choose_temperature(None) == 1.2  # no measurement yet: explore
    assert aepo.choose_temperature(0.3) == 1.2  # below the 0.5 target: sample hotter
    assert aepo.choose_temperature(0.7) == 0.8  # above: colder
    main = [episode([1.0]), episode([0.0])]
    for ep in main:
        ep.turns[0].entropies = [0.2, 0.4]
    asked: list[tuple[int, float]] = []

    def play(groups: int, temperature: float) -> list:
        asked.append((groups, temperature))
        return [episode([1.0], group=100_000), episode([0.0], group=100_000)]

    batch = aepo.training_episodes(main, play)
    # Measured entropy 0.3 < 0.5: one group (⌈0.25 · 1⌉) at T = 1.2.
    assert asked == [(1, 1.2)] and aepo.last_entropy == pytest.approx(0.3) and len(batch) == 4
    advantages = aepo.turn_advantages(batch)
    a = 0.5 / (math.sqrt(0.5) + 1e-6)
    # Main samples keep both signs; the regularization set keeps only the positive one.
    assert advantages == [[pytest.approx(a)], [pytest.approx(-a)], [pytest.approx(a)], [0.0]]


def test_arbitrary_aepo_replacement_scheme() -> None:
    from palaestra.algorithms import ArbitraryAEPO, ArbitraryAEPOConfig

    aepo = ArbitraryAEPO(ArbitraryAEPOConfig(replace_rows=4))
    main = [episode([r]) for r in (1.0, 0.0, 1.0, 0.0)]
    for ep in main:
        ep.turns[0].entropies = [0.1]

    def play(groups: int, temperature: float) -> list:
        rewards = (1.0, 1.0, 0.0, 0.0, 0.0, 1.0)  # three winners above a group mean of 0.5
        return [episode([r], group=100_000) for r in rewards]

    batch = aepo.training_episodes(main, play)
    # Below target: up to 4 rows may go; three regularization samples have A > 0, so the
    # last three main rows are replaced and the first keeps its full-group advantage.
    assert batch[:1] == main[:1] and len(batch) == 4
    a = 0.5 / (math.sqrt(1 / 3) + 1e-6)  # main group {1, 0, 1, 0}: std √(1/3)
    b = 0.5 / (math.sqrt(0.3) + 1e-6)  # regularization group of six: std √0.3
    assert aepo.turn_advantages(batch) == [[pytest.approx(a)]] + [[pytest.approx(b)]] * 3
    # Above target only half as many rows (2) are replaced.
    for ep in main:
        ep.turns[0].entropies = [0.9]
    assert len(aepo.training_episodes(main, play)) == 4 and aepo._main == 2
    with pytest.raises(ValueError, match="replace_rows"):
        ArbitraryAEPOConfig(replace_rows=-1)


def test_arbitrary_aepo_reinforce_term_on_regularization_rows() -> None:
    from palaestra.algorithms import ArbitraryAEPO
    from palaestra.algorithms.base import LossContext

    aepo = ArbitraryAEPO()
    aepo._main = 1
    batch = TokenBatch.collate(build_samples([episode([1.0]), episode([1.0])], "per_turn"), 0)
    logprobs = torch.full(batch.loss_mask.shape, -0.5, requires_grad=True)
    advantages = batch.loss_mask * 2.0
    ctx = LossContext(
        batch=batch,
        rows=torch.arange(2),
        logprobs=logprobs,
        old_logprobs=logprobs.detach(),
        entropy=torch.zeros_like(logprobs),
        advantages=advantages,
        mask=batch.loss_mask,
    )
    loss, _ = aepo.token_loss(ctx)
    (loss * batch.loss_mask).sum().backward()
    assert logprobs.grad is not None
    # Row 1 (regularization): −α·A·logπ = −2 · (−0.5) = 1 per token, gradient −2.
    assert loss[1][batch.loss_mask[1].bool()].tolist() == [1.0, 1.0]
    assert logprobs.grad[1][batch.loss_mask[1].bool()].tolist() == [-2.0, -2.0]
    # Row 0 (main): the clipped surrogate at ratio 1, −A = −2, gradient −2 as well.
    assert loss[0][batch.loss_mask[0].bool()].tolist() == [-2.0, -2.0]


# ---------------------------------------------------------------- SPEAR


def test_spear_schedules() -> None:
    from palaestra.algorithms.spear import replay_weight, tool_weight

    # μ_k: 1 at k = 0, 1/2 at K_t/2, 0 at K_t and after.
    assert [tool_weight(k, 200) for k in (0, 100, 200, 300)] == pytest.approx([1.0, 0.5, 0.0, 0.0])
    # γ_k: 0 at k = 0, c/2 at K_r/2, c from K_r on.
    assert [replay_weight(k, 100, 2.0) for k in (0, 50, 100, 500)] == pytest.approx(
        [0.0, 1.0, 2.0, 2.0]
    )


def test_spear_buffer_eviction_by_age_and_recalibrated_replay() -> None:
    from palaestra.algorithms import SPEAR, SPEARConfig

    spear = SPEAR(SPEARConfig(tool_reward=False, replay_size=1, tolerate_steps=2))
    spear._main = 2
    # Iteration 0: returns 1 and 0 → the winner (positive advantage) enters the buffer,
    # D_R gets the group mean 0.5.
    win, lose = episode([1.0]), episode([0.0])
    spear.turn_advantages([win, lose])
    assert [e.episode for e in spear.buffer] == [win] and list(spear.group_rewards) == [0.5]
    spear.end_iteration({})
    # Iteration 1: replay the winner; Ã = R − median(D_R) = 1 − 0.5.
    replayed = spear.training_episodes([lose, lose], lambda g, t: [])[2:]
    assert len(replayed) == 1 and replayed[0].group < 0
    advantages = spear.turn_advantages([episode([0.0]), episode([0.0]), *replayed])
    assert advantages[2] == [pytest.approx(0.5)]
    # Iterations pass: entries older than tolerate_steps (2) are dropped before replay.
    spear.iteration = 3
    assert spear.training_episodes([lose], lambda g, t: []) == [lose]
    assert len(spear.buffer) == 0


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
    spear._main = 2
    spear.turn_advantages([episode([1.0]), episode([0.0])])
    restored = SPEAR(SPEARConfig(tool_reward=False))
    restored.load_state_dict(spear.state_dict())
    assert len(restored.buffer) == 1 and list(restored.group_rewards) == [0.5]


def test_agentic_aepo_token_loss_uses_entropy_balanced_clipping() -> None:
    from palaestra.algorithms.base import LossContext

    batch = TokenBatch.collate(build_samples([episode([1.0])], "per_turn"), 0)
    logprobs = torch.full(batch.loss_mask.shape, math.log(1.5), requires_grad=True)
    ctx = LossContext(
        batch=batch,
        rows=torch.arange(1),
        logprobs=logprobs,
        old_logprobs=torch.zeros_like(logprobs),
        entropy=torch.zeros_like(logprobs),
        advantages=batch.loss_mask.clone(),
        mask=batch.loss_mask,
    )
    for algorithm, expected in ((AgenticAEPO(), -1.28), (SALT(), 0.0)):  # SALT: plain PPO clip
        logprobs.grad = None
        loss, _ = algorithm.token_loss(ctx)
        (loss * batch.loss_mask).sum().backward()
        assert logprobs.grad is not None
        assert logprobs.grad[batch.loss_mask.bool()].tolist() == pytest.approx([expected] * 2)
