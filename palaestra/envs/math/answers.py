r"""Answers in replies and gold answers in data, in the forms math-verify reads best.

By default (``extraction="auto"``) the grader hands the whole reply to math-verify, whose
own extraction finds the answer (boxed, "final answer is", ``Answer:``, LaTeX, plain
numbers, rightmost first). The strict modes here are for users who want a format enforced,
as some RLVR recipes do; what they find is then checked by math-verify in turn:

* ``boxed``: the content of the last ``\boxed{...}`` (or ``\fbox{...}``), braces matched;
* ``answer_line``: what follows the last ``Answer:`` / ``Final answer:`` (or GSM8K's
  ``####``) on its line;
* ``last_number``: the last number in the text (lm-eval's "flexible extract").

:func:`normalize_gold` brings a gold answer from a data file into the form math-verify parses
best: bare LaTeX without delimiters (``\frac{1}{2}``, ``(1, +\infty)``, ``odd``), which the
grader writes as ``$...$`` for math-verify.

Every function here is linear in the length of its text (regular expressions without
nested quantifiers, and one pass for braces).
"""

from __future__ import annotations

import re
from typing import Literal

ExtractionMode = Literal["auto", "boxed", "answer_line", "last_number"]
EXTRACTION_MODES: tuple[str, ...] = ("auto", "boxed", "answer_line", "last_number")

#: Longest answer a strict mode passes on; longer ones are rejected before any parsing.
MAX_ANSWER_CHARS = 1000

_BOX_OPENERS = re.compile(r"\\(?:boxed|fbox)\s*\{")
# One whitespace run between "answer", "is" and the colon: two adjacent optional runs let
# the engine try every split of a long run of spaces (quadratic, seconds at 16k).
_ANSWER_LINE = re.compile(
    r"(?:final\s+answer|answer)\s*(?:is\s*)?[:：]\s*(.+)|####\s*(.+)", re.IGNORECASE
)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")


def extract_boxed(text: str) -> str | None:
    r"""Return the content of the last ``\boxed{...}``, braces matched, or ``None``.

    One pass pairs every brace (a stack of open ones), then the openers are tried from the
    last; contents over ``4 * MAX_ANSWER_CHARS`` characters do not count. Linear in the
    length of ``text``, however many openers it repeats.
    """
    starts = [m.end() for m in _BOX_OPENERS.finditer(text)]
    if not starts:
        return None
    closing: dict[int, int] = {}  # position after an opening brace -> its closing brace
    stack: list[int] = []
    for index in range(starts[0] - 1, len(text)):
        char = text[index]
        if char == "{":
            stack.append(index + 1)
        elif char == "}" and stack:
            closing[stack.pop()] = index
    for start in reversed(starts):
        end = closing.get(start)
        if end is not None and end - start <= MAX_ANSWER_CHARS * 4:
            return text[start:end].strip() or None
    return None


def extract_answer_line(text: str) -> str | None:
    """Return what follows the last ``Answer:`` / ``Final answer:`` / ``####`` on its line."""
    matches = list(_ANSWER_LINE.finditer(text))
    if not matches:
        return None
    value = (matches[-1].group(1) or matches[-1].group(2) or "").strip()
    return value.rstrip(".").strip() or None


def extract_last_number(text: str) -> str | None:
    """Return the last number written in ``text``, or ``None``."""
    matches = _NUMBER.findall(text)
    return matches[-1] if matches else None


_EXTRACTORS = {
    "boxed": extract_boxed,
    "answer_line": extract_answer_line,
    "last_number": extract_last_number,
}


def extract_answer(text: str, mode: ExtractionMode) -> str | None:
    """Return the final answer in ``text`` by a strict ``mode``, or ``None``.

    ``"auto"`` has no extractor here: it is math-verify's own extraction, run by the grader.

    Raises:
        ValueError: ``mode`` is ``"auto"`` or not one of :data:`EXTRACTION_MODES`.
    """
    extractor = _EXTRACTORS.get(mode)
    if extractor is None:
        raise ValueError(
            f"extract_answer takes one of {tuple(_EXTRACTORS)}, got {mode!r}"
            + (" (math-verify extracts in the grader)" if mode == "auto" else "")
        )
    return extractor(text)


#: One math expression making up the whole text: ``$...$``, ``$$...$$``, ``\(...\)``,
#: ``\[...\]`` (no dollar inside a dollar span).
_WHOLE_MATH = re.compile(
    r"\$\$([^$]*)\$\$|\$([^$]*)\$|\\\(((?:[^\\]|\\[^()])*)\\\)|\\\[((?:[^\\]|\\[^\[\]])*)\\\]"
)
#: A dollar sign that is a math delimiter: not escaped as ``\$``.
_MATH_DOLLAR = re.compile(r"(?<!\\)\$")


def normalize_gold(text: str) -> str:
    r"""Bring a gold answer into bare LaTeX, the form math-verify parses best as ``$...$``.

    Strips math delimiters around the whole text (``$x$``, ``$$x$$``, ``\(x\)``, ``\[x\]``)
    and a ``\boxed{...}`` around the whole text, and joins lines (an inline ``$...$`` cannot
    span a line break). Up to four layers are unwrapped (``$\boxed{x}$`` is two), so that a hostile
    gold costs one pass; normalizing again changes nothing below that depth. Text that is
    something else (several expressions, several boxes) is kept as it is and given to
    math-verify whole.

    Examples: ``$$(1, +\infty)$$`` -> ``(1, +\infty)``; ``\boxed{\frac{1}{2}}`` ->
    ``\frac{1}{2}``; ``odd`` and ``\$18.90`` (an escaped dollar is a currency sign) stay.
    """
    value = text.strip()
    # A few layers at most ("$\boxed{x}$"): each costs a pass, and data is outside input.
    for _ in range(4):
        whole = _WHOLE_MATH.fullmatch(value)
        if whole is not None:
            value = next(g for g in whole.groups() if g is not None).strip()
            continue
        inner = _whole_box(value)
        if inner is not None:
            value = inner
            continue
        break
    if has_math_dollar(value):
        return value  # several expressions: math-verify reads them as written
    return " ".join(value.splitlines())


def has_math_dollar(text: str) -> bool:
    r"""Whether ``text`` has a ``$`` that opens or closes math (not an escaped ``\$``)."""
    return _MATH_DOLLAR.search(text) is not None


def _whole_box(text: str) -> str | None:
    r"""The content of a ``\boxed{...}`` that spans all of ``text``, else ``None``."""
    opener = _BOX_OPENERS.match(text)
    if opener is None:
        return None
    depth = 1
    for index in range(opener.end(), len(text)):
        char = text[index]
        depth += (char == "{") - (char == "}")
        if depth == 0:
            # "\boxed{1} and \boxed{2}" is two answers, not one box.
            return text[opener.end() : index].strip() if index == len(text) - 1 else None
    return None
