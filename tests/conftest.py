"""Shared test configuration."""

import os

import palaestra  # noqa: F401  - registers the environments for every test

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two test workers on two cores: one torch thread each, or they oversubscribe the CPU
    # and every model test slows down several times.
    import torch

    torch.set_num_threads(1)
