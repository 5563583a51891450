"""The leaderboard: versioned suites, the evaluation harness and replay verification."""

from palaestra.leaderboard.harness import Mismatch, evaluate, load_results, replay, verify
from palaestra.leaderboard.schema import Aggregate, EpisodeResult, Results, bootstrap
from palaestra.leaderboard.suites import Suite, Task, hidden_seeds, load_suite, parse_suite

__all__ = [
    "Aggregate",
    "EpisodeResult",
    "Mismatch",
    "Results",
    "Suite",
    "Task",
    "bootstrap",
    "evaluate",
    "hidden_seeds",
    "load_results",
    "load_suite",
    "parse_suite",
    "replay",
    "verify",
]
