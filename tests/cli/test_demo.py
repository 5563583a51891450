"""``palaestra demo``."""

from pathlib import Path

from palaestra.cli import main


def test_demo_writes_plot_and_table(tmp_path: Path) -> None:
    # The training half of the demo runs the reference configs that the trainer tests train
    # (tests/integration/test_training_runs.py); here it is switched off.
    argv = [
        "demo",
        "--out",
        str(tmp_path),
        "--episodes",
        "3",
        "--train-steps",
        "0",
        "--no-progress",
    ]
    assert main(argv) == 0
    assert not (tmp_path / "grpo-bandit").exists()
    png = tmp_path / "bandit_regret.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "bandit_regret.md").read_text()
    assert table.count("\n") == 2 + 5 * 5
    assert "| palaestra/Bandit-v0 | oracle | 0.00 | 1.000 | 1.00 |" in table
    # It ends with the scripted baselines on a local leaderboard.
    assert (tmp_path / "leaderboard.db").exists()
    assert len(list((tmp_path / "results").glob("*.json"))) == 3
