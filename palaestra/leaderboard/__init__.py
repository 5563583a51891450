"""The leaderboard: versioned suites, the evaluation harness and replay verification.

The server (:mod:`palaestra.leaderboard.server`), its client
(:mod:`palaestra.leaderboard.client`) and the web page need the ``leaderboard`` extra.
"""

import warnings

from palaestra.leaderboard.harness import (
    HiddenSeeds,
    Mismatch,
    check_claims,
    evaluate,
    load_results,
    replay,
    verify,
)
from palaestra.leaderboard.schema import (
    Aggregate,
    EpisodeResult,
    LearningCurve,
    Results,
    read_learning_curve,
)
from palaestra.leaderboard.scoring import bootstrap
from palaestra.leaderboard.suites import Suite, Task, hidden_seeds, load_suite, parse_suite

__all__ = [
    "Aggregate",
    "EpisodeResult",
    "HiddenSeeds",
    "LearningCurve",
    "Mismatch",
    "Results",
    "Suite",
    "Task",
    "bootstrap",
    "check_claims",
    "evaluate",
    "hidden_seeds",
    "load_results",
    "load_suite",
    "parse_suite",
    "read_learning_curve",
    "replay",
    "verify",
]


def __getattr__(name: str) -> type[HiddenSeeds]:
    if name == "Challenge":
        warnings.warn(
            "palaestra.leaderboard.Challenge is now HiddenSeeds (Challenge is the server's "
            "table); the old name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return HiddenSeeds
    raise AttributeError(f"module 'palaestra.leaderboard' has no attribute {name!r}")
