"""Moved modules and renamed names still import for one release, with a DeprecationWarning."""

import importlib
import subprocess
import sys

import pytest

import palaestra
from palaestra._moved import MOVED


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_module_path_is_the_new_module_and_warns(old: str, new: str) -> None:
    # A fresh interpreter: this one may have imported the old path already.
    code = (
        "import importlib, warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    old = importlib.import_module({old!r})\n"
        f"assert old is importlib.import_module({new!r}), old\n"
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


def test_episode_record_is_the_episode_and_warns() -> None:
    with pytest.warns(DeprecationWarning, match="palaestra.Episode"):
        assert palaestra.EpisodeRecord is palaestra.Episode
