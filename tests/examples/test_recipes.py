"""examples/: each GPU recipe parses into the settings it states; the accelerate configs load.

A recipe run with ``DRY_RUN=1`` prints the command it would launch and starts nothing. Its
``palaestra.cli train ...`` arguments go through the real tyro CLI (no training), and the
algorithm and run settings it says it uses (the papers' values) are checked field by field.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.commands.launch import _validate_launch_command, launch_command_parser

from palaestra.algorithms import ALGORITHMS
from palaestra.cli import parse
from palaestra.cli.train import Train, algorithm_for

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "examples" / "recipes"
ACCELERATE = ROOT / "examples" / "accelerate"
#: The variables a recipe reads (common.sh); the tests set them, never inherit them.
RECIPE_VARIABLES = {"MODEL", "OUT", "LEARNER_GPUS", "GENERATION_GPUS", "RAY_ADDRESS", "RAY_PORT"}

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the recipes are bash")

#: The GiGPO paper's ALFWorld setup (verl-agent), shared by the ALFWorld recipes.
ALFWORLD = {
    "env": "palaestra/ALFWorld-v0",
    "model": "Qwen/Qwen2.5-1.5B-Instruct",
    "steps": 150,
    "groups": 16,
    "group_size": 8,
    "max_turns": 50,
    "lr": 1e-6,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "mini_batches": 16,
    "layout": "per_turn",
    "history": 2,
    "max_new_tokens": 512,
    "temperature": 1.0,
    "extract": "tag",
    "precision": "bf16",
    "gradient_checkpointing": True,
    "rollout_workers": 8,
    "generation_workers": 1,
    "generation_backend": "vllm",
}
#: verl-agent's GRPO loss on ALFWorld.
VERL_AGENT_LOSS = {
    "clip_low": 0.2,
    "clip_high": 0.2,
    "kl_coef": 0.01,
    "loss_aggregation": "token_mean",
    "entropy_coef": 0.001,
}

#: Recipe -> (algorithm, its settings, the run's settings).
EXPECTED: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "alfworld_grpo.sh": ("grpo", {**VERL_AGENT_LOSS, "scale_rewards": True}, ALFWORLD),
    "alfworld_gigpo.sh": (
        "gigpo",
        {**VERL_AGENT_LOSS, "step_weight": 1.0, "gamma": 0.95, "mode": "mean_norm"},
        ALFWORLD,
    ),
    "alfworld_epo.sh": (
        "epo",
        {
            **VERL_AGENT_LOSS,
            "entropy_coef": 0.0,  # EPO's own entropy term instead
            "scale_rewards": True,
            "entropy_weight": 0.001,
            "kappa_low": 0.0,
            "kappa_high": 2.0,
            "schedule_gamma": 3.0,
            "smoothing_weight": 0.1,
        },
        ALFWORLD,
    ),
    "alfworld_spear.sh": (
        "spear",
        {
            "base": "grpo",
            "scale_rewards": False,
            "kl_coef": 0.0,
            "clip_low": 0.2,
            "clip_high": 0.28,
            "covariance_control": "clip_cov",
            "clip_cov_ratio": 2e-4,
            "clip_cov_lower": 1.0,
            "clip_cov_upper": 5.0,
            "buffer_capacity": 2048,
            "tolerate_steps": 10,
            "reward_fifo": 10_240,
            "replay_warmup": 100,
            "replay_coef": 1.0,
            "replay_clip_cov_ratio": 0.02,
            "replay_clip_cov_upper": 40.0,
            "tool_reward": False,
        },
        ALFWORLD,
    ),
    "searchqa_igpo.sh": (
        "igpo",
        {"clip_low": 0.2, "clip_high": 0.2, "kl_coef": 0.001, "gamma": 1.0},
        {
            "env": "palaestra/SearchQA-v0",
            "model": "Qwen/Qwen2.5-1.5B-Instruct",
            "groups": 16,
            "group_size": 8,
            "max_turns": 10,
            "lr": 1e-6,
            "layout": "concat",
            "extract": "tag",
            "precision": "bf16",
            "gradient_checkpointing": True,
            "rollout_workers": 0,
            "generation_workers": 1,
            "generation_backend": "vllm",
        },
    ),
}


def launched(script: Path, **variables: str) -> list[str]:
    """The command ``script`` would launch (its ``DRY_RUN=1`` output), as arguments."""
    env = {k: v for k, v in os.environ.items() if k not in RECIPE_VARIABLES}
    done = subprocess.run(
        ["bash", str(script)],
        env={**env, "DRY_RUN": "1", **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return shlex.split(done.stdout)


def split(command: list[str]) -> tuple[list[str], list[str]]:
    """The accelerate launcher's arguments and the ``palaestra.cli`` ones (``train ...``)."""
    at = command.index("palaestra.cli")
    assert command[:2] == ["accelerate", "launch"] and command[at - 1] == "-m"
    return command[2 : at - 1], command[at + 1 :]


def option(arguments: list[str], name: str) -> str:
    return arguments[arguments.index(name) + 1]


def test_every_recipe_is_checked_and_listed() -> None:
    scripts = {p.name for p in RECIPES.glob("*.sh")} - {"common.sh"}
    assert scripts == set(EXPECTED)
    readme = (RECIPES / "README.md").read_text()
    assert all(name in readme for name in scripts)
    assert "not been run on a GPU" in readme
    for name in scripts:
        text = (RECIPES / name).read_text()
        assert "set -euo pipefail" in text and "Hardware:" in text and "RAY_ADDRESS" in text
        assert os.access(RECIPES / name, os.X_OK), f"{name} is not executable"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_parses_into_the_settings_it_states(name: str) -> None:
    algorithm, algo_fields, run_fields = EXPECTED[name]
    launcher, arguments = split(launched(RECIPES / name))
    assert arguments[:2] == ["train", algorithm]
    command = parse(arguments).command
    assert isinstance(command, Train)
    assert type(algorithm_for(command.algo)) is ALGORITHMS[algorithm][0]
    assert {f: getattr(command.algo, f) for f in algo_fields} == algo_fields
    assert {f: getattr(command.run, f) for f in run_fields} == run_fields
    assert command.run.out == Path("runs") / name.removesuffix(".sh")
    # 4 DDP learners on ddp.yaml (GPUs 0-3), each with one vLLM actor: GPUs 4-7 of common.sh.
    assert Path(option(launcher, "--config_file")) == ACCELERATE / "ddp.yaml"
    assert option(launcher, "--num_processes") == "4"
    assert option(launcher, "--gpu_ids") == "0,1,2,3"
    assert command.run.generation_workers == 1


def test_recipe_variables_reach_the_command(tmp_path: Path) -> None:
    command = launched(
        RECIPES / "alfworld_grpo.sh", MODEL=str(tmp_path / "qwen"), OUT="elsewhere",
        LEARNER_GPUS="0,1", GENERATION_GPUS="2,3",
    )  # fmt: skip
    launcher, arguments = split(command)
    assert (option(launcher, "--num_processes"), option(launcher, "--gpu_ids")) == ("2", "0,1")
    run = parse(arguments).command.run
    assert (run.model, run.out) == (str(tmp_path / "qwen"), Path("elsewhere"))


@pytest.mark.parametrize(
    ("name", "machines", "processes"), [("ddp.yaml", 1, 8), ("ddp-multinode.yaml", 2, 16)]
)
def test_accelerate_config_is_ddp_without_mixed_precision(
    name: str, machines: int, processes: int
) -> None:
    config = load_config_from_file(str(ACCELERATE / name))
    assert config.distributed_type == "MULTI_GPU"
    assert config.mixed_precision == "no"
    assert config.dynamo_config == {"dynamo_backend": "NO"}
    assert (config.num_machines, config.num_processes) == (machines, processes)
    # What `accelerate launch --config_file` makes of it (checked, nothing launched).
    args = launch_command_parser().parse_args(
        ["--config_file", str(ACCELERATE / name), "-m", "palaestra.cli", "train"]
    )
    args = _validate_launch_command(args)[0]
    assert args.multi_gpu and not args.use_fsdp and not args.use_deepspeed
    assert (args.mixed_precision, str(args.dynamo_backend).lower()) == ("no", "no")
    assert (args.num_machines, args.num_processes) == (machines, processes)
    if machines > 1:
        assert args.main_process_ip and args.main_process_port == 29500
