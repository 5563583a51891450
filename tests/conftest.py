"""Shared test configuration."""

import palaestra  # noqa: F401  - registers the environments for every test
