"""The palaestra error hierarchy.

Every error raised at a boundary (env ids, env arguments, agent specs, config fields) names
the offending id or field and, where a close valid one exists, suggests it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import gymnasium.error


class PalaestraError(Exception):
    """Base class of every error palaestra raises on purpose."""


class InvalidArgumentError(PalaestraError, ValueError, TypeError):
    """An argument (env kwarg, config field, CLI option) is unknown or has an impossible value.

    It is a ``TypeError`` as well as a ``ValueError``: Python raises ``TypeError`` for an
    unknown keyword, and ``gym.make`` adds the environment id to ``TypeError`` messages.
    """


class UnknownNameError(PalaestraError, LookupError):
    """A name (env id, agent name, algorithm) is not registered."""

    def __str__(self) -> str:
        # LookupError/KeyError would quote the message; keep it readable.
        return str(self.args[0]) if self.args else ""


class ConformanceError(PalaestraError, AssertionError):
    """An environment broke the palaestra environment contract (see `palaestra.testing`)."""


class SandboxUnavailableError(PalaestraError, RuntimeError):
    """Untrusted code would run, and this machine cannot build the OS sandbox around it."""


class DependencyNotInstalled(PalaestraError, gymnasium.error.DependencyNotInstalled):  # noqa: N818 - Gymnasium's name
    """An optional package is not installed; the message names the extra that installs it.

    Gymnasium's own error for a missing dependency, so code written for Gymnasium envs
    catches it as it catches theirs.
    """


class RemoteEnvError(PalaestraError, RuntimeError):
    """A remote environment server did not answer, dropped the connection, or sent an error."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest of ``choices`` to ``name``, or ``""``.

    Args:
        name: The unknown name the user gave.
        choices: The valid names.

    Returns:
        A suffix to append to an error message.
    """
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
