"""Agent names on the leaderboard: one visible form each, none posing as another.

A name is NFKC-normalized (full-width and compatibility forms become plain ones) and may not
hold control, format (bidirectional overrides, zero-width joiners), private-use,
surrogate, unassigned or line/paragraph-separator characters: what is stored is what a
reader sees. Two names are confusable when their skeletons are equal: the skeleton is
decancer's cure of the name (confusable letters from other scripts mapped to their Latin
look-alikes, case folded), computed in linear time.
"""

from __future__ import annotations

import re
import unicodedata

#: Unicode general categories a name may not contain.
_REFUSED = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}
#: Characters that draw nothing but are letters or marks by category (Unicode's
#: Default_Ignorable_Code_Point outside the refused categories, and blank symbols).
_INVISIBLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f"
    "\uffa0\U000e0100-\U000e01ef]"
)
#: Most combining marks allowed on one letter (Vietnamese needs two).
_MARKS_PER_LETTER = 2
#: Longest name, counted after normalization (one character can expand to eighteen).
MAX_NAME = 200
#: Latin letters and digits read as one another: folded together in skeletons.
_LOOKALIKES = str.maketrans({"1": "l", "i": "l", "|": "l", "0": "o"})


def clean_name(name: str) -> str:
    """``name`` NFKC-normalized, its whitespace runs collapsed to single spaces.

    Raises:
        ValueError: It holds a refused or invisible character (named by code point), a
            letter with too many combining marks, no letter or digit, or is too long.
    """
    normalized = " ".join(unicodedata.normalize("NFKC", name).split())
    marks = 0
    for char in normalized:
        category = unicodedata.category(char)
        if category in _REFUSED or _INVISIBLE.fullmatch(char):
            raise ValueError(
                f"the name holds U+{ord(char):04X} ({unicodedata.name(char, 'unnamed')}): "
                "control, format, bidirectional and invisible characters are not allowed"
            )
        marks = marks + 1 if category.startswith("M") else 0
        if marks > _MARKS_PER_LETTER:
            raise ValueError(f"the name stacks more than {_MARKS_PER_LETTER} marks on a letter")
    if not any(unicodedata.category(c)[0] in "LN" for c in normalized):
        raise ValueError("the name has no letter or digit")
    if len(normalized) > MAX_NAME:
        raise ValueError(
            f"the name is {len(normalized)} characters once normalized (max {MAX_NAME})"
        )
    return normalized


def skeleton(name: str) -> str:
    """What ``name`` looks like: equal skeletons are confusable names.

    decancer's cure (other scripts' lookalikes to Latin, case folded), with ``1``, ``i``,
    ``|`` and ``l`` read as one letter, ``0`` and ``o`` as another, and whitespace dropped.
    """
    import decancer_py

    cured = str(decancer_py.parse(name)).translate(_LOOKALIKES)
    return "".join(cured.split())
