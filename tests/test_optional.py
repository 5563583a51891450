"""Optional dependencies fail with the extra to install."""

import gymnasium
import pytest

from palaestra.errors import DependencyNotInstalled, PalaestraError
from palaestra.optional import require


def test_present_module_is_returned() -> None:
    assert require("json", "none", "test").dumps([1]) == "[1]"


def test_missing_module_names_the_extra() -> None:
    with pytest.raises(
        DependencyNotInstalled, match=r"Thing needs no_such_mod: pip install 'palaestra\[x\]'"
    ) as caught:
        require("no_such_mod", "x", "Thing")
    # Caught as Gymnasium's error for a missing dependency, and as palaestra's own.
    assert isinstance(caught.value, gymnasium.error.DependencyNotInstalled)
    assert isinstance(caught.value, PalaestraError)
