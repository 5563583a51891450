"""A run's outputs: metrics, TensorBoard logs and rotated checkpoints that load as agents."""

import json
from pathlib import Path

import gymnasium as gym

import palaestra
from palaestra.algorithms import make_algorithm
from palaestra.algorithms.trainer import Trainer, read_metrics
from palaestra.llm.hf_agent import HFAgent
from tests.algorithms.helpers import config


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
    reloaded = HFAgent.from_spec(str(saved / "model"))
    assert palaestra.run_episode(gym.make("palaestra/Math-v0"), reloaded, seed=0).length == 1
