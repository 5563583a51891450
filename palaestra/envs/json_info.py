"""An env's ``info`` as bounded JSON, for sending it over a wire (OpenEnv, live play).

``info`` may hold anything an env puts there (numpy scalars and arrays, tuples, objects),
and a server must not send an unbounded reply: containers are capped, strings cut.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

#: Nesting kept; deeper values are shown as their (cut) ``repr``.
MAX_DEPTH = 16
#: Items kept of a list or a mapping.
MAX_ITEMS = 1024
#: Characters kept of a string.
MAX_STRING = 65_536
#: Characters kept of the ``repr`` of what JSON cannot hold.
MAX_REPR_LENGTH = 1000


def json_safe(value: Any, depth: int = 0) -> Any:
    """Return ``value`` as bounded JSON data.

    Numpy scalars and arrays become numbers and lists, tuples become lists, mapping keys
    become strings, non-finite floats become ``None`` (JSON has no NaN); lists and mappings
    keep their first :data:`MAX_ITEMS` items and strings their first :data:`MAX_STRING`
    characters; anything else, and anything nested deeper than :data:`MAX_DEPTH`, becomes
    its ``repr``, cut to :data:`MAX_REPR_LENGTH` characters.
    """
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str):
        return value[:MAX_STRING]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return json_safe(value.item(), depth)
    if depth < MAX_DEPTH:
        if isinstance(value, Mapping):
            items = list(value.items())[:MAX_ITEMS]
            return {str(key)[:MAX_STRING]: json_safe(item, depth + 1) for key, item in items}
        if isinstance(value, (list, tuple)):
            return [json_safe(item, depth + 1) for item in value[:MAX_ITEMS]]
        if isinstance(value, np.ndarray):
            return json_safe(value.ravel()[:MAX_ITEMS].tolist(), depth)
    text = repr(value)
    return text if len(text) <= MAX_REPR_LENGTH else text[: MAX_REPR_LENGTH - 3] + "..."
