"""Moved modules and renamed names still import for one release, with a DeprecationWarning."""

import importlib
import subprocess
import sys

import pytest

import palaestra
from palaestra._moved import MOVED


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_module_path_gives_the_new_modules_names_and_warns(old: str, new: str) -> None:
    # A fresh interpreter: this one may have imported the old path already.
    code = (
        "import importlib, warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    old = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({new!r})\n"
        "names = [n for n in vars(new) if not n.startswith('_')]\n"
        "assert names and all(getattr(old, n) is getattr(new, n) for n in names)\n"
        f"assert new.__spec__.name == {new!r}\n"
        f"assert any(issubclass(w.category, DeprecationWarning) and {new!r} in str(w.message)"
        " for w in caught), [str(w.message) for w in caught]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_every_new_path_exists() -> None:
    for new in MOVED.values():
        importlib.import_module(new)


def test_other_missing_modules_still_fail() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("palaestra.agents.no_such_module")


def test_renamed_names_of_a_moved_module_resolve_and_warn() -> None:
    with pytest.warns(DeprecationWarning, match="is now palaestra.rollout.records"):
        from palaestra.runner import EpisodeRecord, summarize  # type: ignore[attr-defined]
    assert EpisodeRecord is palaestra.Episode
    assert summarize is palaestra.rollout.summarize_episodes
    with pytest.raises(AttributeError):
        palaestra.rollout.loop.no_such_name  # noqa: B018 - the attribute lookup is the test


def test_episode_record_is_the_episode_and_warns() -> None:
    with pytest.warns(DeprecationWarning, match="palaestra.Episode"):
        assert palaestra.EpisodeRecord is palaestra.Episode


def test_the_harness_challenge_is_hidden_seeds_and_warns() -> None:
    import palaestra.leaderboard as leaderboard

    with pytest.warns(DeprecationWarning, match="HiddenSeeds"):
        assert leaderboard.Challenge is leaderboard.HiddenSeeds  # type: ignore[attr-defined]
