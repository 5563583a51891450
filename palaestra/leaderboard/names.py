"""Agent names on the leaderboard: one visible form each, none posing as another.

A name is NFKC-normalized (full-width and compatibility forms become plain ones) and may not
hold control, format (bidirectional overrides, zero-width joiners), private-use,
surrogate, unassigned or line/paragraph-separator characters: what is stored is what a
reader sees. Two names are confusable when their skeletons are equal: the skeleton is
decancer's cure of the name (confusable letters from other scripts mapped to their Latin
look-alikes, case folded), computed in linear time.
"""

from __future__ import annotations

import unicodedata

#: Unicode general categories a name may not contain.
_REFUSED = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}


def clean_name(name: str) -> str:
    """``name`` NFKC-normalized with its outer whitespace removed.

    Raises:
        ValueError: It holds a refused character (named by code point), or nothing.
    """
    normalized = unicodedata.normalize("NFKC", name).strip()
    for char in normalized:
        if unicodedata.category(char) in _REFUSED:
            raise ValueError(
                f"the name holds U+{ord(char):04X} ({unicodedata.name(char, 'unnamed')}): "
                "control, format and bidirectional characters are not allowed"
            )
    if not normalized:
        raise ValueError("the name is empty")
    return normalized


def skeleton(name: str) -> str:
    """What ``name`` looks like: equal skeletons are confusable names."""
    import decancer_py

    return str(decancer_py.parse(name))
