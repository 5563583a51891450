"""Two training processes (DDP on gloo, launched by accelerate) train as one process does.

The processes share one global batch: each plays a share of the rollout (here a group is
split between them), holds all of it, computes a share of the pre-pass and trains a share
of every mini-batch, with a micro-batch count that differs between them. After two
iterations the weights (and PPO's value head) equal the single-process run's with the same
global batch to 1e-5, and so does every logged statistic.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from palaestra.algorithms.trainer import Trainer

pytestmark = pytest.mark.xdist_group("multiprocess")

#: 3 groups x 3 episodes: process 0 plays episodes 0-3, process 1 episodes 4-8, so group 1
#: is split between them.
RUN = [
    "--env", "palaestra/Bandit-v0", "--env-kwargs", '{"horizon": 2}', "--steps", "2",
    "--groups", "3", "--group-size", "3", "--max-new-tokens", "4", "--extract", "choice",
    "--no-tensorboard", "--no-progress", "--sft-steps", "20",
    "--sft-lr", "3e-3", "--sft-agent", "random",
]  # fmt: skip

CASES = {
    # KL to the reference, KL-Cov's batch-wide top tokens, the default GRPO aggregation;
    # micro-batches of 2: the pre-pass's 5 are shared 2 and 3, and the processes pad to the
    # same count in the update.
    "grpo": ["grpo", "--algo.kl-coef", "0.04", "--algo.covariance-control", "kl_cov",
             "--algo.kl-cov-ratio", "0.05", "--micro-batch-size", "2"],
    # A value head outside the DDP model; Clip-Cov's seeded random choice; token mean;
    # one micro-batch for the whole batch: process 1 has no pre-pass rows at all and trains
    # padding rows only.
    "ppo": ["ppo", "--algo.covariance-control", "clip_cov", "--algo.clip-cov-ratio", "0.1",
            "--algo.clip-cov-lower", "-100", "--algo.clip-cov-upper", "100",
            "--algo.loss-aggregation", "token_mean", "--micro-batch-size", "16"],
}  # fmt: skip

TIMING = {"rollout_s", "generate_s", "env_s", "update_s"}


def launch(args: list[str], out: Path, processes: int) -> subprocess.CompletedProcess[str]:
    launcher = [sys.executable, "-m", "palaestra.cli"]
    if processes > 1:
        launcher = [
            sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
            "--num_processes", str(processes), "--num_machines", "1", "--mixed_precision",
            "no", "--dynamo_backend", "no", "-m", "palaestra.cli",
        ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run(
        [*launcher, "train", *args, *RUN, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def train(args: list[str], out: Path, processes: int) -> Path:
    done = launch(args, out, processes)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "checkpoints" / "step-000002"


@pytest.mark.parametrize("case", sorted(CASES))
def test_two_processes_train_as_one(tmp_path: Path, case: str) -> None:
    one = train(CASES[case], tmp_path / "one", 1)
    two = train(CASES[case], tmp_path / "two", 2)
    a, b = (
        load_file(one / "model" / "model.safetensors"),
        load_file(two / "model" / "model.safetensors"),
    )
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-5
    state_a = torch.load(one / "trainer.pt", weights_only=False)["algorithm"]
    state_b = torch.load(two / "trainer.pt", weights_only=False)["algorithm"]
    for name, tensor in state_a.get("value_head", {}).items():
        assert torch.allclose(tensor, state_b["value_head"][name], atol=1e-5, rtol=0)
    rows_a, rows_b = (
        [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        for run in ("one", "two")
    )
    assert len(rows_a) == len(rows_b) == 2
    assert all(row["optimizer_steps"] == 4 and row["grad_norm"] > 0 for row in rows_a)
    for row_a, row_b in zip(rows_a, rows_b, strict=True):
        for key in row_a.keys() - TIMING:
            assert row_b[key] == pytest.approx(row_a[key], abs=1e-5), key
    assert json.loads((tmp_path / "two" / "config.json").read_text())["processes"] == 2


def test_ray_actors_of_several_processes_need_one_running_cluster(tmp_path: Path) -> None:
    # Each process would start (or race to join) a local cluster of its own.
    done = launch(["grpo", "--rollout-workers", "1"], tmp_path / "run", 2)
    said = " ".join((done.stdout + done.stderr).split())  # the message may wrap
    assert done.returncode != 0
    assert "need one running cluster" in said and "ray start --head" in said


def test_micro_batches_are_shared_whole_and_padded_to_one_count() -> None:
    # 7 rows in micro-batches of 2: [0 1] [2 3] [4 5] [6]; three processes take 1, 1 and 2
    # of them and the first two pad with a weight-0 row to run two micro-batches each.
    rows = torch.arange(10, 17)
    shares = []
    for rank in range(3):
        trainer = SimpleNamespace(config=SimpleNamespace(micro_batch_size=2), process=(rank, 3))
        parts = Trainer._micro_batches(trainer, rows)  # type: ignore[arg-type]
        shares.append([(part.tolist(), weight) for part, weight in parts])
    assert shares == [
        [([10, 11], 1.0), ([10], 0.0)],
        [([12, 13], 1.0), ([10], 0.0)],
        [([14, 15], 1.0), ([16], 1.0)],
    ]
