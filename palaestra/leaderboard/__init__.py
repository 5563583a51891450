"""The leaderboard: suites, evaluation harness, results schema and verifying server."""
