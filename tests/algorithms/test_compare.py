"""palaestra compare checks every algorithm name before it trains anything."""

from pathlib import Path

import pytest

from palaestra.cli import main


def test_unknown_algorithm_fails_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", "--algos", "grpo,epoo", "--out", str(tmp_path)]) == 2
    assert "did you mean 'epo'" in capsys.readouterr().out
    assert not (tmp_path / "grpo").exists()
