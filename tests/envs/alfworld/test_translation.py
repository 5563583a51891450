"""Fast Downward translations: cached on disk, lazy for replanning, others' calls untouched."""

from pathlib import Path

import pytest

from palaestra.envs.alfworld import generated_game, translation
from palaestra.envs.alfworld.engine import start_engine
from palaestra.envs.fd_output import silenced


def test_other_engines_in_the_process_get_fast_downward_unchanged() -> None:
    # ALFWorld's own AlfredTWEnv builds plain PddlEnvs: they must keep working next to ours.
    import fast_downward
    from textworld import EnvInfos
    from textworld.envs import PddlEnv

    game = generated_game("train", "pick_and_place_simple", 0)
    start_engine(game, engine="pddl")  # installs palaestra's translation
    assert fast_downward.pddl2sas is not translation._original_pddl2sas()
    theirs = PddlEnv(EnvInfos(admissible_commands=True))
    runs = translation.translator_runs()
    with silenced():
        theirs.load(str(game))
        state = theirs.reset()
        assert theirs._pddl_state.replan(theirs._entity_infos)  # its optimized task loaded
    assert state.admissible_commands
    assert translation.translator_runs() == runs  # served by Fast Downward, not the cache


def test_the_key_covers_texts_options_and_version() -> None:
    key = translation.cache_key("d", "p", optimize=False)
    assert key == translation.cache_key("d", "p", optimize=False)
    others = {
        translation.cache_key("d", "p", optimize=True),
        translation.cache_key("d2", "p", optimize=False),
        translation.cache_key("d", "p2", optimize=False),
        translation.cache_key("dp", "", optimize=False),  # no text shifts into another
    }
    assert key not in others and len(others) == 4
    assert "fast-downward-textworld" in translation.translator_version()


def test_a_cache_folder_that_cannot_be_written_still_translates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    def refuse(self: Path, data: bytes) -> int:
        raise OSError(30, "Read-only file system")

    game = generated_game("train", "pick_and_place_simple", 0)
    monkeypatch.setattr(translation, "_memory", type(translation._memory)())
    monkeypatch.setenv("PALAESTRA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(Path, "write_bytes", refuse)
    data = json.loads(game.read_text())
    runs = translation.translator_runs()
    task, text = translation.translate(data["pddl_domain"], data["pddl_problem"])
    assert text.startswith("begin_version") and task.actions
    assert translation.translator_runs() == runs + 1
    assert list((tmp_path / "alfworld" / "sas").iterdir()) == []  # no partial file left
