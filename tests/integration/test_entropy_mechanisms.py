"""Mechanism checks: AEPO holds entropy at its target and EPO inside its band, where GRPO's falls.

The setting is a 5-armed letter bandit with one best arm (0.9) and runners-up (0.8, 0.7, 0.6),
trained with the trainer's defaults (4 mini-batches per rollout): GRPO sharpens onto the best
arm and its token entropy falls from about 0.95 to under 0.1 in 60 iterations.

The papers' own defaults cannot show either mechanism at this scale. AEPO at T 1.2 / 0.8
with α = 1 on a quarter of the prompts, and EPO at λ = 0.001 with a [0, 2]·H̄ band, end
where GRPO ends: mean token entropy over the last 10 of 60 iterations 0.066 (AEPO) and
0.039 (EPO) against GRPO's 0.057. Those values were tuned for 7B models on long replies,
where a hot sample that succeeds carries many diverse tokens; on a 1-token decision the
positive regularization samples are the best arm itself. Both checks therefore tighten the
controls until they act within the budget.
"""

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from palaestra.algorithms import make_algorithm
from palaestra.algorithms.trainer import TrainConfig, Trainer, read_metrics

pytestmark = pytest.mark.slow  # about three minutes on two cores: make test-all

STEPS = 60


@cache
def entropies(algorithm: str, overrides: str, root: Path) -> list[dict[str, float]]:
    """Metrics rows of one warm-started run on the bandit (cached across the checks)."""
    out = root / algorithm
    config = TrainConfig(
        env="palaestra/Bandit-v0",
        env_kwargs='{"horizon": 1, "means": [0.9, 0.8, 0.7, 0.6, 0.1]}',
        max_new_tokens=4,
        extract="choice",
        micro_batch_size=32,
        sft_steps=100,
        sft_lr=3e-3,
        sft_agent="random",
        sft_episodes=128,
        steps=STEPS,
        out=out,
        progress=False,
        tensorboard=False,
        checkpoint_every=STEPS,
    )
    options: dict[str, Any] = json.loads(overrides)
    Trainer(config, make_algorithm(algorithm, **options)).run()
    return read_metrics(out / "metrics.jsonl")


def tail_entropy(rows: list[dict[str, float]], key: str = "entropy") -> float:
    last = rows[-10:]
    return sum(r[key] for r in last) / len(last)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mechanisms")


def test_grpo_entropy_falls(root: Path) -> None:
    rows = entropies("grpo", "{}", root)
    assert rows[0]["entropy"] > 0.8 and tail_entropy(rows) < 0.4


def test_arbitrary_aepo_holds_entropy_at_its_target(root: Path) -> None:
    target = 0.6
    controls = {
        "target_entropy": target,
        "temperature_high": 2.0,
        "temperature_low": 0.5,
        "regularization_fraction": 1.0,
        "regularization_weight": 4.0,
    }
    rows = entropies("aepo_arbitrary", json.dumps(controls), root)
    grpo = tail_entropy(entropies("grpo", "{}", root))
    held = tail_entropy(rows, "measured_entropy")
    assert abs(held - target) < 0.15 and held > grpo + 0.15
    # The controller switched both ways: hotter below the target, colder above.
    assert {r["regularization_temperature"] for r in rows} == {2.0, 0.5}


def test_epo_keeps_entropy_inside_its_band(root: Path) -> None:
    low, high = 0.8, 1.25
    controls = {
        "kappa_low": low,
        "kappa_high": high,
        "entropy_weight": 0.05,
        "smoothing_weight": 1.0,
    }
    rows = entropies("epo", json.dumps(controls), root)
    grpo = tail_entropy(entropies("grpo", "{}", root))
    inside = [
        low * r["entropy_history_mean"] - 0.05 <= r["entropy"] <= high * r["entropy_history_mean"]
        for r in rows[1:]
    ]
    assert sum(inside) >= 0.9 * len(inside)
    assert tail_entropy(rows) > grpo + 0.3
