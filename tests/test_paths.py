"""The cache-validity memo: a check runs again only when a file changed."""

from pathlib import Path

from palaestra.paths import still_valid


def test_check_reruns_only_when_a_file_changes(tmp_path: Path) -> None:
    game = tmp_path / "game.bin"
    game.write_bytes(b"good")
    calls: list[bytes] = []

    def check() -> bool:
        calls.append(game.read_bytes())
        return game.read_bytes() == b"good"

    assert still_valid((game,), check) and still_valid((game,), check)
    assert len(calls) == 1  # unchanged: not checked again
    game.write_bytes(b"damaged!")
    assert not still_valid((game,), check) and len(calls) == 2
    game.unlink()
    assert not still_valid((game,), check) and len(calls) == 2  # a missing file fails at once
