"""Whole training runs: GRPO learns, every algorithm trains, a killed run resumes exactly."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from palaestra.algorithms import make_algorithm
from palaestra.algorithms.trainer import TrainConfig, Trainer, read_metrics
from palaestra.demo import REFERENCE_RUNS
from tests.algorithms.helpers import BANDIT, config


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


def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    timing = {"rollout_s", "generate_s", "env_s", "update_s"}
    return [{k: v for k, v in r.items() if k not in timing} for r in rows]


def test_killed_run_resumes_to_the_same_numbers(tmp_path: Path) -> None:
    args = [
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
