"""The leaderboard part of the demo: a trained checkpoint and baselines, submitted locally."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from palaestra.demo import reference_entries
from palaestra.demo.leaderboard import Entry, leaderboard_demo


def test_reference_checkpoint_and_baselines_reach_the_table(
    tmp_path: Path, tiny: tuple[Any, Any]
) -> None:
    from palaestra.llm.hf_agent import HFAgent

    # A run folder as the trainer leaves it: a checkpoint with its agent settings and metrics.
    run = tmp_path / "grpo-arithmetic"
    model_dir = run / "checkpoints" / "step-000002" / "model"
    model, tokenizer = tiny
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    HFAgent(model, tokenizer).save_settings(model_dir)
    (run / "checkpoints" / "step-000003.tmp").mkdir()  # an interrupted save is skipped
    rows = [{"iteration": k + 1, "return": k / 4} for k in range(4)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    entries = [
        *reference_entries([run]),
        Entry("UCB1", "ucb", ("bandits",)),
        Entry("UCB1, live", "ucb", ("bandits",), live=True),
    ]
    assert entries[0].spec == f"hf:{model_dir}" and entries[0].hidden

    console = Console(record=True, width=160)
    table = leaderboard_demo(tmp_path, entries, progress=False, console=console)
    assert {row["status"] for row in table} == {"verified"}
    by_name = {row["agent"]: row for row in table}
    assert by_name[entries[0].name]["hidden_seeds"] is True
    assert set(by_name["UCB1"]["summary"]["families"]) == {"bandits"}
    text = console.export_text()
    assert "leaderboard: palaestra-v1" in text and "UCB1" in text
    assert "UCB1, live (palaestra demo: UCB1, live)" in text  # the live tier's entry
    assert "palaestra leaderboard serve --db" in text
    assert (tmp_path / "leaderboard.db").exists()
