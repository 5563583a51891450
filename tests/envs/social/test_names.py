"""The earlier class names of the social games: still importable, with a warning."""

import warnings

import pytest

from palaestra.envs import social


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("IteratedGameEnv", social.MatrixGameParallelEnv),
        ("DilemmaEnv", social.MatrixGameEnv),
        ("GridDilemmaEnv", social.GridGameParallelEnv),
    ],
)
def test_old_name_warns_and_is_the_same_class(old: str, new: type) -> None:
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated; use {new.__name__}"):
        assert getattr(social, old) is new
    assert old not in social.__all__


def test_old_name_works_in_an_import_statement() -> None:
    with pytest.warns(DeprecationWarning, match="use MatrixGameParallelEnv"):
        from palaestra.envs.social import IteratedGameEnv
    assert IteratedGameEnv is social.MatrixGameParallelEnv


def test_current_names_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in social.__all__:
            getattr(social, name)


def test_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="SocialEnv"):
        social.SocialEnv  # noqa: B018
