"""Shared test configuration."""

import os
from typing import Any

import pytest

import palaestra  # noqa: F401  - registers the environments for every test

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two test workers on two cores: one torch thread each, or they oversubscribe the CPU
    # and every model test slows down several times.
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny() -> tuple[Any, Any]:
    """The tiny test model and its tokenizer, built once per test worker."""
    from palaestra.llm.models import load_model

    return load_model("tiny")
