"""The shared trainer: learning, parameter updates, layouts, devices, resume, failures."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
import torch
from safetensors.torch import load_file

import palaestra
from palaestra.algorithms import GRPO, make_algorithm
from palaestra.algorithms.trainer import TrainConfig, Trainer, TrainingError, read_metrics
from palaestra.demo import REFERENCE_RUNS
from palaestra.envs.core import TextEnv, Transition
from palaestra.errors import InvalidArgumentError
from palaestra.rollout.records import Episode

BANDIT = {
    "env": "palaestra/Bandit-v0",
    "env_kwargs": '{"horizon": 1, "means": [0.1, 0.2, 0.9, 0.3, 0.2]}',
}


def config(tmp_path: Path, **kwargs: Any) -> TrainConfig:
    base: dict[str, Any] = {
        **BANDIT,
        "steps": 2,
        "groups": 2,
        "group_size": 4,
        "max_new_tokens": 4,
        "extract": "choice",
        "out": tmp_path / "run",
        "progress": False,
        "tensorboard": False,
        "micro_batch_size": 4,
    }
    return TrainConfig(**{**base, **kwargs})


class Alternating(GRPO):
    """Advantages +1 / −1 by episode: every parameter gets a gradient."""

    def turn_advantages(self, episodes: Sequence[Episode]) -> list[list[float]]:
        return [[1.0 if i % 2 else -1.0] * len(e.turns) for i, e in enumerate(episodes)]


def weights(model: Any) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_every_trainable_parameter_changes(tmp_path: Path) -> None:
    trainer = Trainer(config(tmp_path, steps=1), Alternating())
    before = weights(trainer.policy)
    trainer.run()
    after = weights(trainer.policy)
    unchanged = [n for n in before if torch.equal(before[n], after[n])]
    assert not unchanged


def test_grpo_learns_the_bandit(tmp_path: Path) -> None:
    # Format warm start on uniformly random arms (it cannot tell which arm pays), then GRPO
    # finds the 0.9 arm: the mean return of the last iterations nears 0.9 (uniform: 0.34).
    settings = {**REFERENCE_RUNS["grpo-bandit"], "steps": 30, "groups": 8, "group_size": 8}
    run = TrainConfig(**settings, out=tmp_path / "run", progress=False, tensorboard=False)
    Trainer(run, make_algorithm("grpo")).run()
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert len(rows) == 30
    late = sum(r["return"] for r in rows[-6:]) / 6
    early = sum(r["return"] for r in rows[:3]) / 3
    assert late > 0.6 and late > early + 0.2
    assert rows[-1]["entropy"] < rows[0]["entropy"]
    assert (tmp_path / "run" / "curves.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow  # about two minutes on two cores: make test-all
def test_grpo_after_sft_solves_single_digit_sums(tmp_path: Path) -> None:
    # The warm start on worked solutions takes accuracy from chance (~5 %) to about 60 %;
    # GRPO keeps improving it.
    settings = {**REFERENCE_RUNS["grpo-arithmetic"], "steps": 8}
    run = TrainConfig(**settings, out=tmp_path / "run", progress=False, tensorboard=False)
    Trainer(run, make_algorithm("grpo")).run()
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert sum(r["return"] for r in rows) / len(rows) > 0.4
    assert all(r["invalid_rate"] < 0.1 for r in rows)


def test_layouts_agree_on_one_turn_episodes(tmp_path: Path) -> None:
    losses = []
    for layout in ("concat", "per_turn"):
        trainer = Trainer(config(tmp_path / layout, steps=1, layout=layout), Alternating())
        losses.append(trainer.iteration(0)["loss"])
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)


def test_multi_turn_per_turn_with_history_window(tmp_path: Path) -> None:
    run = config(
        tmp_path,
        env="palaestra/Bandit-TwoArmed-v0",
        env_kwargs='{"horizon": 3}',
        layout="per_turn",
        history=1,
    )
    metrics = Trainer(run, Alternating()).iteration(0)
    assert metrics["sequences"] == 2 * 4 * 3  # one sample per turn
    assert metrics["episode_turns"] == 3


@pytest.mark.parametrize(
    "name",
    ["rloo", "gigpo", "ppo", "dapo", "dr_grpo", "epo", "salt", "aepo_agentic", "aepo_arbitrary"],
)
def test_every_baseline_runs_an_iteration(tmp_path: Path, name: str) -> None:
    trainer = Trainer(
        config(
            tmp_path,
            env="palaestra/Bandit-TwoArmed-v0",
            env_kwargs='{"horizon": 2}',
            sft_steps=20,
            sft_agent="random",
        ),
        make_algorithm(name),
    )
    heads = [p.detach().clone() for p in trainer.algorithm.parameters()]
    metrics = trainer.iteration(0)
    assert all(k in metrics for k in ("return", "entropy", "kl", "clip_fraction", "loss"))
    if name == "ppo":
        assert heads and any(
            not torch.equal(h, p)
            for h, p in zip(heads, trainer.algorithm.parameters(), strict=True)
        )


def test_spear_replays_on_searchqa(tmp_path: Path) -> None:
    from palaestra.algorithms import SPEARConfig

    run = config(tmp_path, env="palaestra/SearchQA-v0", env_kwargs="{}", max_turns=2, steps=3)
    algorithm = make_algorithm("spear", SPEARConfig(replay_size=1, replay_warmup=1))
    trainer = Trainer(run, algorithm)
    for k in range(3):
        metrics = trainer.iteration(k)
        assert math.isfinite(metrics["loss"])
    assert "buffer_size" in metrics and metrics["tool_weight"] < 1.0


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


def test_cuda_branches_on_cpu_bf16_checkpointing_lora_kl(tmp_path: Path) -> None:
    # The switches a GPU run uses, on the CPU: bf16 autocast, gradient checkpointing, LoRA
    # (the reference policy is the base model with adapters off), KL and two PPO epochs.
    run = config(tmp_path, precision="bf16", gradient_checkpointing=True, lora_rank=4, ppo_epochs=2)
    trainer = Trainer(run, Alternating(replace(GRPO().config, kl_coef=0.1)))
    assert trainer.bf16
    base = {n: p.detach().clone() for n, p in trainer.policy.named_parameters() if "lora" not in n}
    lora = weights(trainer.policy)
    assert lora and all("lora" in n for n in lora)
    metrics = trainer.iteration(0)
    assert metrics["kl"] >= 0.0
    after = dict(trainer.policy.named_parameters())
    assert all(torch.equal(base[n], after[n]) for n in base)
    assert any(not torch.equal(lora[n], after[n]) for n in lora)


def test_outputs_and_checkpoints(tmp_path: Path) -> None:
    run = config(tmp_path, steps=3, checkpoint_every=1, keep_checkpoints=2, tensorboard=True)
    out = Trainer(run, make_algorithm("grpo")).run()
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [1, 2, 3]
    for key in (
        "return",
        "success_rate",
        "entropy",
        "kl",
        "clip_fraction",
        "generate_s",
        "env_s",
        "update_s",
        "response_tokens",
    ):
        assert key in rows[0]
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints == ["step-000002", "step-000003"]
    saved = out / "checkpoints" / "step-000003"
    assert (saved / "model" / "config.json").is_file() and (saved / "trainer.pt").is_file()
    assert any((out / "tensorboard").iterdir())
    described = json.loads((out / "config.json").read_text())
    assert described["algorithm"] == "grpo" and described["train"]["steps"] == 3
    # The checkpoint is a model spec for agents.
    from palaestra.llm.hf_agent import HFAgent

    reloaded = HFAgent.from_spec(str(saved / "model"))
    assert palaestra.run_episode(gym.make("palaestra/Math-v0"), reloaded, seed=0).length == 1


def test_existing_run_needs_resume(tmp_path: Path) -> None:
    Trainer(config(tmp_path, steps=1), make_algorithm("grpo")).run()
    with pytest.raises(InvalidArgumentError, match="already holds a run; pass --resume"):
        Trainer(config(tmp_path, steps=2), make_algorithm("grpo"))
    with pytest.raises(InvalidArgumentError, match="no checkpoint"):
        Trainer(config(tmp_path / "empty", resume=True), make_algorithm("grpo"))


def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    timing = {"rollout_s", "generate_s", "env_s", "update_s"}
    return [{k: v for k, v in r.items() if k not in timing} for r in rows]


def test_killed_run_resumes_to_the_same_numbers(tmp_path: Path) -> None:
    args = [
        "--algo",
        "grpo",
        "--env",
        BANDIT["env"],
        "--env-kwargs",
        BANDIT["env_kwargs"],
        "--steps",
        "6",
        "--groups",
        "2",
        "--group-size",
        "4",
        "--max-new-tokens",
        "4",
        "--extract",
        "choice",
        "--checkpoint-every",
        "2",
        "--no-progress",
        "--no-tensorboard",
        "--micro-batch-size",
        "4",
        "--sft-steps",
        "10",
        "--sft-agent",
        "random",
    ]
    unbroken = tmp_path / "unbroken"
    subprocess.run(
        [sys.executable, "-m", "palaestra.cli", "train", *args, "--out", str(unbroken)],
        check=True,
        capture_output=True,
    )
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "palaestra.cli", "train", *args, "--out", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not (killed / "checkpoints" / "step-000002").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    subprocess.run(
        [sys.executable, "-m", "palaestra.cli", "train", *args, "--out", str(killed), "--resume"],
        check=True,
        capture_output=True,
    )
    assert comparable(read_metrics(killed / "metrics.jsonl")) == comparable(
        read_metrics(unbroken / "metrics.jsonl")
    )
    final_a = load_file(unbroken / "checkpoints" / "step-000006" / "model" / "model.safetensors")
    final_b = load_file(killed / "checkpoints" / "step-000006" / "model" / "model.safetensors")
    assert all(torch.equal(final_a[k], final_b[k]) for k in final_a)


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


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be >= 1"),
        ({"env": "palaestra/Bandt-v0"}, "did you mean 'palaestra/Bandit-v0'"),
        ({"env_kwargs": "{horizon: 1}"}, "env_kwargs is not valid JSON"),
        ({"env_kwargs": "[1]"}, "must be a JSON object"),
        ({"history": 2}, "history .* needs layout=per_turn"),
        ({"temperature": 0.0}, "temperature must be positive"),
        ({"layout": "packed"}, "layout must be one of"),
    ],
)
def test_bad_configs_fail_before_any_work(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        config(tmp_path, **kwargs)


def test_algorithm_config_is_validated() -> None:
    from palaestra.algorithms import GRPOConfig

    with pytest.raises(InvalidArgumentError, match="loss_aggregation must be one of"):
        GRPOConfig(loss_aggregation="sum")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="dual_clip must be > 1"):
        GRPOConfig(dual_clip=0.5)


def test_accelerates_mixed_precision_left_behind_is_not_inherited(tmp_path: Path) -> None:
    # TRL's trainer leaves accelerate's process-wide state at bf16 on the CPU; a later
    # Accelerator() would wrap palaestra's model in bf16 autocast without a word.
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()
    Accelerator(cpu=True, mixed_precision="bf16")
    trainer = Trainer(config(tmp_path), Alternating())
    assert trainer.accelerator.mixed_precision == "no" and not trainer.bf16
    ids = torch.tensor([[1, 2, 3]])
    assert trainer.model(input_ids=ids).logits.dtype == torch.float32
