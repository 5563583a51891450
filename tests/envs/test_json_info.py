"""An env's info as bounded JSON."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from palaestra.envs.json_info import MAX_ITEMS, MAX_REPR_LENGTH, MAX_STRING, json_safe


def test_json_safe_keeps_json_and_bounds_the_rest() -> None:
    nested: dict[str, Any] = {}
    deepest = nested
    for _ in range(40):
        deepest["next"] = {}
        deepest = deepest["next"]
    safe = json_safe(
        {
            "numbers": (np.int64(3), np.float32(0.5), float("nan"), float("inf")),
            "array": np.arange(3),
            1: "key",
            "object": object(),
            "long": [b"x" * 5000],
            "nested": nested,
        }
    )
    json.dumps(safe, allow_nan=False)
    assert safe["numbers"] == [3, 0.5, None, None] and safe["array"] == [0, 1, 2]
    assert safe["1"] == "key" and safe["object"].startswith("<object object")
    assert len(safe["long"][0]) == MAX_REPR_LENGTH and safe["long"][0].endswith("...")
    assert "next" in json.dumps(safe["nested"])


def test_long_strings_and_containers_are_cut() -> None:
    info = {"a": np.float32(1.5), "b": float("nan"), "c": object(), "d": "x" * 10_000,
            "e": list(range(1000)), "f": {"g": {"h": {"i": {"j": 1}}}}, "k": 2**70}  # fmt: skip
    safe = json_safe(info)
    assert safe["a"] == 1.5 and safe["b"] is None and safe["c"].startswith("<object")
    assert safe["d"] == info["d"] and safe["e"] == info["e"] and safe["k"] == 2**70
    huge = json_safe({"s": "x" * (MAX_STRING + 1), "l": list(range(MAX_ITEMS + 1))})
    assert len(huge["s"]) == MAX_STRING and len(huge["l"]) == MAX_ITEMS
