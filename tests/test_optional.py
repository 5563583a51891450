"""Optional dependencies fail with the extra to install."""

import pytest

from palaestra.errors import InvalidArgumentError
from palaestra.optional import require


def test_present_module_is_returned() -> None:
    assert require("json", "none", "test").dumps([1]) == "[1]"


def test_missing_module_names_the_extra() -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"Thing needs no_such_mod: pip install 'palaestra\[x\]'"
    ):
        require("no_such_mod", "x", "Thing")
