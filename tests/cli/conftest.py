"""The leaderboard tests' fixtures (a small suite, a results file on it), for its commands."""

from ..leaderboard.conftest import results_bytes, suite_file  # noqa: F401 - fixtures
