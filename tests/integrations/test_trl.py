"""TRL's GRPOTrainer trains on palaestra envs through ``palaestra.integrations.trl``.

Real TRL optimizer steps on the tiny model (built from a config with a locally trained
tokenizer; nothing is downloaded), on a one-turn bandit and the three-attempt
MathFeedback env; the rewards TRL logs are checked against the returns the envs gave.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from palaestra.algorithms.batch import build_samples
from palaestra.algorithms.rollout import TrainerSampler
from palaestra.errors import InvalidArgumentError, UnknownNameError
from palaestra.integrations.trl import SEED_STRIDE, PalaestraEnvs, env_return
from palaestra.llm.models import resolve_model
from palaestra.rollout import Episode

#: Arms named 1-50: the random tiny model's one-token replies are often numbers, so some
#: pulls are valid and a group's returns vary (with lettered arms nearly all are invalid).
NUMBERED_BANDIT = {"horizon": 1, "n_arms": 50}


@pytest.fixture(autouse=True)
def _quiet_and_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is experimental in TRL


@pytest.fixture(scope="module")
def tiny_path() -> str:
    return resolve_model("tiny").location


class Recorder(TrainerCallback):  # type: ignore[misc]
    """Keeps the episodes each optimizer step was trained on (one rollout per step here)."""

    def __init__(self, envs: PalaestraEnvs) -> None:
        self.envs = envs
        self.rollouts: list[list[Episode]] = []

    def on_step_end(self, *args: object, **kwargs: object) -> None:
        self.rollouts.append(list(self.envs.episodes))


def grpo_config(folder: Path, **overrides: Any) -> GRPOConfig:
    """One rollout per optimizer step, logged every step; fp32 and no checkpointing on CPU.

    ``max_completion_length`` bounds a whole episode: 1024 holds every episode played here.
    """
    settings: dict[str, Any] = {
        "output_dir": str(folder),
        "per_device_train_batch_size": 8,
        "num_generations": 4,
        "max_completion_length": 1024,
        "learning_rate": 1e-3,
        "beta": 0.0,
        "use_cpu": True,
        "max_steps": 3,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "disable_tqdm": True,
        "bf16": False,
        "activation_checkpointing": False,
        "seed": 0,
    }
    settings.update(overrides)
    return GRPOConfig(**settings)


def train(
    model: Any, envs: PalaestraEnvs, folder: Path, **overrides: Any
) -> tuple[GRPOTrainer, Recorder, list[dict[str, list[Any]]]]:
    """Train with the adapter; return the trainer, the episodes and every rollout's output."""
    outputs: list[dict[str, list[Any]]] = []

    def recorded(prompts: list[Any], trainer: GRPOTrainer) -> dict[str, list[Any]]:
        output = envs.rollout(prompts, trainer)
        outputs.append(output)
        return output

    kwargs = envs.trainer_kwargs(episodes=64)
    kwargs["rollout_func"] = recorded
    recorder = Recorder(envs)
    trainer = GRPOTrainer(
        model=model, args=grpo_config(folder, **overrides), callbacks=[recorder], **kwargs
    )
    trainer.train()
    return trainer, recorder, outputs


def logged_steps(trainer: GRPOTrainer) -> list[dict[str, float]]:
    return [row for row in trainer.state.log_history if "reward" in row]


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


@pytest.fixture
def bandit() -> Iterator[PalaestraEnvs]:
    # One-token replies: a number token naming an arm is a valid pull.
    envs = PalaestraEnvs(
        "palaestra/Bandit-v0", env_kwargs=NUMBERED_BANDIT, extract="choice", max_new_tokens=1
    )
    yield envs
    envs.close()


# ---------------------------------------------------------------------- training


def test_bandit_returns_are_the_rewards_trl_logs(
    bandit: PalaestraEnvs, tiny_path: str, tmp_path: Path
) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_path)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer, recorder, _ = train(model, bandit, tmp_path)

    rows = logged_steps(trainer)
    assert len(rows) == len(recorder.rollouts) == 3
    for row, episodes in zip(rows, recorder.rollouts, strict=True):
        assert len(episodes) == 8
        returns = [e.total_reward for e in episodes]
        assert row["reward"] == pytest.approx(mean(returns), abs=1e-6)
        assert row["rewards/env_return/mean"] == pytest.approx(mean(returns), abs=1e-6)
        assert row["env/success_rate"] == pytest.approx(mean([e.success for e in episodes]))
        assert row["env/turns"] == 1.0
        assert row["env/invalid_rate"] == pytest.approx(mean([e.invalid_actions for e in episodes]))
        # A group of num_generations episodes shares one seed (GRPO's baseline).
        seeds = [e.seed for e in episodes]
        assert seeds[:4] == [seeds[0]] * 4 and seeds[4:] == [seeds[4]] * 4
    assert any(row["reward_std"] > 0.01 for row in rows), "no reward variance: nothing to learn"
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert changed, "no parameter changed in 3 optimizer steps"


def test_three_attempt_math_plays_multi_turn_episodes(tiny_path: str, tmp_path: Path) -> None:
    envs = PalaestraEnvs("palaestra/MathFeedback-v0", max_new_tokens=6)
    try:
        trainer, recorder, outputs = train(tiny_path, envs, tmp_path)
    finally:
        envs.close()

    rows = logged_steps(trainer)
    assert len(rows) == 3
    for row, episodes in zip(rows, recorder.rollouts, strict=True):
        turns = [e.length for e in episodes]
        assert all(t == 3 for t, e in zip(turns, episodes, strict=True) if not e.success)
        assert row["env/turns"] == pytest.approx(mean(turns))
        assert row["reward"] == pytest.approx(mean([e.total_reward for e in episodes]), abs=1e-6)

    # The sequence TRL trained on: replies (mask 1) with the feedback tokens between them
    # (mask 0, log-prob 0), and the first prompt as TRL's prompt.
    output, episodes = outputs[-1], recorder.rollouts[-1]
    tokenizer = trainer.processing_class
    for k, episode in enumerate(episodes):
        mask, completion = output["env_mask"][k], output["completion_ids"][k]
        assert output["prompt_ids"][k] == episode.turns[0].prompt_ids
        assert sum(mask) == sum(len(t.response_ids) for t in episode.turns)
        assert [lp for lp, m in zip(output["logprobs"][k], mask, strict=True) if m] == [
            lp for t in episode.turns for lp in t.logprobs
        ]
        assert all(lp == 0.0 for lp, m in zip(output["logprobs"][k], mask, strict=True) if not m)
        # Placed as palaestra's trainer places them in its concat layout.
        (sample,) = build_samples([episode], "concat")
        start = len(output["prompt_ids"][k])
        assert output["logprobs"][k] == sample.sample_logprobs[start:]
        between = tokenizer.decode([i for i, m in zip(completion, mask, strict=True) if not m])
        assert episode.turns[1].observation.split("\n")[0] in between
        assert output["env_turns"][k] == episode.length
        assert output["env_return"][k] == episode.total_reward
    # Replies cut at the token limit are sent as they are; the env answers the unusable ones
    # with its invalid-answer feedback, and the episode goes on.
    cut = [
        (turn, after)
        for episode in episodes
        for turn, after in zip(episode.turns, episode.turns[1:], strict=False)
        if turn.finish_reason == "length" and turn.invalid_action
    ]
    assert cut
    assert all(after.observation.startswith("Invalid answer") for _, after in cut)


def test_empty_replies_become_invalid_actions(tiny_path: str, tmp_path: Path) -> None:
    # A policy that ends every reply at once: each reply is empty, so each turn is the env's
    # invalid-action observation and penalty, and the episode goes on to its end.
    model = AutoModelForCausalLM.from_pretrained(tiny_path)
    eos = model.config.eos_token_id

    def always_end(module: Any, inputs: Any, logits: torch.Tensor) -> torch.Tensor:
        boosted = logits.clone()
        boosted[..., eos] += 100.0
        return boosted

    model.lm_head.register_forward_hook(always_end)
    envs = PalaestraEnvs("palaestra/Bandit-v0", env_kwargs={"horizon": 3})
    try:
        trainer, recorder, _ = train(model, envs, tmp_path, max_steps=1)
    finally:
        envs.close()
    (episodes,) = recorder.rollouts
    for episode in episodes:
        assert [t.response for t in episode.turns] == ["", "", ""]
        assert [t.invalid_action for t in episode.turns] == [True, True, True]
        assert "Invalid action: the action is empty" in episode.turns[1].observation
        assert episode.total_reward == pytest.approx(-0.3)
    (row,) = logged_steps(trainer)
    assert row["reward"] == pytest.approx(-0.3)
    assert row["env/invalid_rate"] == 1.0
    assert row["env/turns"] == 3.0


def test_rollouts_within_one_optimizer_step_draw_afresh(
    bandit: PalaestraEnvs, tiny_path: str, tmp_path: Path
) -> None:
    # Two accumulation steps, one rollout each, before the first optimizer step: same
    # weights, same first observation (the bandit's is the same for every seed), so
    # only the sampling key tells the rollouts apart.
    _, _, outputs = train(
        tiny_path, bandit, tmp_path, max_steps=1, gradient_accumulation_steps=2,
        steps_per_generation=1, per_device_train_batch_size=4,
    )  # fmt: skip
    assert len(outputs) == 2
    first, second = (output["completion_ids"] for output in outputs)
    assert first != second, "two rollouts of one optimizer step sampled the same replies"


def test_max_completion_length_bounds_the_whole_episode(tiny_path: str, tmp_path: Path) -> None:
    # Each bandit observation adds about 150 template and observation tokens to the chat:
    # with 2-token replies, a budget of 300 holds three turns of the five.
    envs = PalaestraEnvs("palaestra/Bandit-v0", env_kwargs={"horizon": 5}, max_new_tokens=2)
    try:
        trainer, recorder, outputs = train(
            tiny_path, envs, tmp_path, max_steps=1, max_completion_length=300
        )
    finally:
        envs.close()
    ((episodes,), (output,)) = recorder.rollouts, outputs
    assert all(len(ids) <= 300 for ids in output["completion_ids"])
    assert [e.length for e in episodes] == [3] * 8
    assert not any(e.terminated for e in episodes)  # truncated, as a full context ends them
    for episode, ids in zip(episodes, output["completion_ids"], strict=True):
        next_observation = len(episode.turns[-1].prompt_ids) - len(episode.turns[0].prompt_ids)
        assert len(ids) > next_observation  # the fourth turn's chat alone leaves no room
    (row,) = logged_steps(trainer)
    assert row["env/turns"] == 3.0


def test_max_new_tokens_over_the_episode_budget_is_refused(tmp_path: Path) -> None:
    envs = PalaestraEnvs("palaestra/Bandit-v0", max_new_tokens=8)
    trainer = SimpleNamespace(args=grpo_config(tmp_path, max_completion_length=4))
    try:
        with pytest.raises(InvalidArgumentError, match="max_new_tokens=8 exceeds the trainer's"):
            envs.rollout(["palaestra/Bandit-v0 seed=0"], trainer)  # type: ignore[arg-type]
    finally:
        envs.close()


def test_vllm_generation_is_refused(bandit: PalaestraEnvs, tmp_path: Path) -> None:
    trainer = SimpleNamespace(args=grpo_config(tmp_path, use_vllm=True))
    with pytest.raises(InvalidArgumentError, match="use_vllm=True: PalaestraEnvs generates on"):
        bandit.rollout(["palaestra/Bandit-v0 seed=0"], trainer)  # type: ignore[arg-type]


def test_ignored_sampling_settings_warn_once(
    bandit: PalaestraEnvs, tiny_path: str, tmp_path: Path
) -> None:
    with pytest.warns(
        UserWarning, match="ignores TRL's repetition_penalty, min_p, chat_template_kwargs:"
    ) as caught:
        train(
            tiny_path,
            bandit,
            tmp_path,
            max_steps=2,
            repetition_penalty=1.2,
            min_p=0.1,
            chat_template_kwargs={"enable_thinking": False},
        )
    assert len([w for w in caught if "ignores TRL's" in str(w.message)]) == 1


def test_the_same_settings_train_the_same_run(
    bandit: PalaestraEnvs, tiny_path: str, tmp_path: Path
) -> None:
    runs = []
    for name in ("first", "second"):
        _, recorder, outputs = train(tiny_path, bandit, tmp_path / name, max_steps=2)
        runs.append(
            (
                [o["completion_ids"] for o in outputs],
                [e.total_reward for r in recorder.rollouts for e in r],
            )
        )
    assert runs[0] == runs[1]


@pytest.mark.parametrize(
    ("env_id", "env_kwargs", "limit"),
    [
        ("palaestra/MathTool-v0", {}, 1024),
        pytest.param("palaestra/TextWorld-v0", {"pool_size": 2}, 512, marks=pytest.mark.slow),
    ],
)
def test_the_named_envs_train(
    env_id: str, env_kwargs: dict[str, Any], limit: int, tiny_path: str, tmp_path: Path
) -> None:
    # One TRL step on each env the README names: the logged reward is the episodes' mean
    # return, and no completion passes max_completion_length.
    envs = PalaestraEnvs(env_id, env_kwargs=env_kwargs, max_new_tokens=8, max_turns=4)
    try:
        trainer, recorder, outputs = train(
            tiny_path, envs, tmp_path, max_steps=1, max_completion_length=limit
        )
    finally:
        envs.close()
    ((row,), (episodes,), (output,)) = logged_steps(trainer), recorder.rollouts, outputs
    assert row["reward"] == pytest.approx(mean([e.total_reward for e in episodes]), abs=1e-6)
    assert all(len(ids) <= limit for ids in output["completion_ids"])
    if env_id == "palaestra/TextWorld-v0":
        assert all(e.length > 1 for e in episodes)


def test_max_turns_cuts_episodes(tiny_path: str, tmp_path: Path) -> None:
    envs = PalaestraEnvs(
        "palaestra/Bandit-v0", env_kwargs={"horizon": 5}, max_new_tokens=4, max_turns=2
    )
    try:
        trainer, recorder, _ = train(tiny_path, envs, tmp_path, max_steps=1)
    finally:
        envs.close()
    (episodes,) = recorder.rollouts
    assert [e.length for e in episodes] == [2] * 8
    assert not any(e.terminated for e in episodes)
    (row,) = logged_steps(trainer)
    assert row["env/turns"] == 2.0


# ---------------------------------------------------------------------- the adapter's own arguments


def test_seeds_are_palaestra_trainer_seeds(bandit: PalaestraEnvs) -> None:
    envs = PalaestraEnvs("palaestra/Bandit-v0", seed=2)
    try:
        prompts = envs.dataset(episodes=4)["prompt"]
    finally:
        envs.close()
    sampler = TrainerSampler(None, [], groups=4, group_size=1, seed=2, max_turns=None)  # type: ignore[arg-type]
    assert prompts == [f"palaestra/Bandit-v0 seed={s}" for s in sampler.seeds()]
    assert sampler.seeds()[0] == 2 * SEED_STRIDE


def test_trainer_kwargs_are_what_grpo_trainer_takes(bandit: PalaestraEnvs) -> None:
    kwargs = bandit.trainer_kwargs(episodes=5)
    assert set(kwargs) == {"train_dataset", "rollout_func", "reward_funcs"}
    assert len(kwargs["train_dataset"]) == 5
    assert kwargs["reward_funcs"] == [env_return]


def test_unknown_env_id_suggests_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'palaestra/Bandit-v0'"):
        PalaestraEnvs("palaestra/Bandt-v0")


def test_bad_env_kwargs_fail_at_construction() -> None:
    with pytest.raises(InvalidArgumentError, match="'n_arm'; did you mean 'n_arms'"):
        PalaestraEnvs("palaestra/Bandit-v0", env_kwargs={"n_arm": 3})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"extract": "xml"}, "extract must be one of"),
        ({"max_turns": 0}, "max_turns must be >= 1"),
        ({"max_new_tokens": 0}, "max_new_tokens must be >= 1"),
        ({"seed": -1}, "seed must be >= 0"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        PalaestraEnvs("palaestra/Bandit-v0", **kwargs)


def test_empty_dataset_is_refused(bandit: PalaestraEnvs) -> None:
    with pytest.raises(InvalidArgumentError, match="episodes must be >= 1"):
        bandit.dataset(episodes=0)


@pytest.mark.parametrize(
    "prompt",
    [
        "What is 2 + 2?",
        "palaestra/Math-v0 seed=3",
        [{"role": "user", "content": "palaestra/Bandit-v0 seed=3"}],
    ],
)
def test_foreign_prompts_name_the_fix(bandit: PalaestraEnvs, prompt: Any) -> None:
    # Checked before the trainer is touched: a dataset of other prompts is a setup mistake.
    with pytest.raises(InvalidArgumentError, match=r"pass train_dataset=envs\.dataset\(\)"):
        bandit.rollout([prompt], trainer=None)  # type: ignore[arg-type]


def test_env_return_logs_the_episode_figures() -> None:
    logged: dict[str, float] = {}
    rewards = env_return(
        completions=["", "", ""],
        env_return=[1.0, -0.1, 0.5],
        env_success=[True, False, False],
        env_turns=[2, 3, 1],
        env_invalid_actions=[0, 3, 0],
        log_metric=logged.__setitem__,
    )
    assert rewards == [1.0, -0.1, 0.5]
    assert logged == {
        "env/success_rate": pytest.approx(1 / 3),
        "env/turns": 2.0,
        "env/invalid_rate": 0.5,
    }
