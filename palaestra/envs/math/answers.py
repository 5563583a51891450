r"""Find the final answer in a model's reply, and read plain numbers exactly.

Extraction modes (``extract_answer(text, mode)``):

* ``boxed``: the content of the last ``\boxed{...}`` (or ``\fbox{...}``), braces matched;
* ``answer_line``: what follows the last ``Answer:`` / ``Final answer:`` (or GSM8K's
  ``####``) on its line;
* ``last_number``: the last number in the text;
* ``auto`` (default): the first of these that finds something, in that order.

:func:`parse_number` reads integers, decimals, thousands separators, simple fractions
(``3/4``, ``\frac{3}{4}``), percentages and trailing units (``$5``, ``12 cm``) as an exact
:class:`~fractions.Fraction`; it is the grader's fast path before math-verify.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Literal

ExtractionMode = Literal["auto", "boxed", "answer_line", "last_number"]
EXTRACTION_MODES: tuple[str, ...] = ("auto", "boxed", "answer_line", "last_number")

#: Longest extracted answer considered; longer ones are rejected before any parsing.
MAX_ANSWER_CHARS = 1000

_BOX_OPENERS = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_LINE = re.compile(
    r"(?:final\s+answer|answer)\s*(?:is)?\s*[:：]\s*(.+)|####\s*(.+)", re.IGNORECASE
)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_LATEX_WRAPPERS = re.compile(r"^\$+|\$+$|^\\\(|\\\)$|^\\\[|\\\]$")
_TEXT_COMMAND = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")
_PLAIN_NUMBER = re.compile(
    r"(?P<sign>[-+]?)\s*\\?\$?\s*(?P<int>\d{1,3}(?:,\d{3})+|\d+)?(?P<dec>\.\d+)?"
    r"(?:\s*/\s*(?P<den>\d+))?\s*(?P<pct>\\?%)?\s*(?P<unit>[a-zA-Z][a-zA-Z .]{0,24})?"
)
_LATEX_FRACTION = re.compile(
    r"(?P<sign>-?)\s*\\[dt]?frac\s*\{\s*(?P<num>-?\d+)\s*\}\s*\{\s*(?P<den>\d+)\s*\}"
)


def extract_boxed(text: str) -> str | None:
    r"""Return the content of the last ``\boxed{...}``, braces matched, or ``None``."""
    starts = [m.end() for m in _BOX_OPENERS.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for index in range(start, min(len(text), start + MAX_ANSWER_CHARS * 4)):
            char = text[index]
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return text[start:index].strip()
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
    "boxed": (extract_boxed,),
    "answer_line": (extract_answer_line,),
    "last_number": (extract_last_number,),
    "auto": (extract_boxed, extract_answer_line, extract_last_number),
}


def extract_answer(text: str, mode: ExtractionMode = "auto") -> str | None:
    """Return the final answer in ``text`` according to ``mode``, or ``None``.

    Raises:
        ValueError: ``mode`` is not one of :data:`EXTRACTION_MODES`.
    """
    try:
        extractors = _EXTRACTORS[mode]
    except KeyError:
        raise ValueError(
            f"extraction mode must be one of {EXTRACTION_MODES}, got {mode!r}"
        ) from None
    for extractor in extractors:
        answer = extractor(text)
        if answer:
            return answer
    return None


def parse_number(text: str) -> Fraction | None:
    r"""Read ``text`` as one exact number, or return ``None`` if it is anything else.

    Accepts ``42``, ``-3.5``, ``1,234``, ``3/4``, ``\frac{3}{4}``, ``50%`` (= 50),
    ``$5``, ``\$5.00``, ``12 cm``, ``\text{12 apples}``, ``x = 7``.
    """
    if len(text) > 100:
        return None
    value = _LATEX_WRAPPERS.sub("", text.strip()).strip()
    value = _TEXT_COMMAND.sub(r" \1", value).replace("\\!", "").replace("\\,", "").strip()
    value = re.sub(r"^[a-zA-Z]\s*=\s*", "", value)  # "x = 7"
    fraction = _LATEX_FRACTION.fullmatch(value)
    if fraction:
        denominator = int(fraction["den"])
        if denominator == 0:
            return None
        number = Fraction(int(fraction["num"]), denominator)
        return -number if fraction["sign"] else number
    match = _PLAIN_NUMBER.fullmatch(value)
    if not match or not (match["int"] or match["dec"]):
        return None
    if match["unit"] and match["den"]:
        return None
    number = Fraction((match["int"] or "0").replace(",", "") + (match["dec"] or ""))
    if match["den"]:
        if int(match["den"]) == 0 or match["dec"]:
            return None
        number /= int(match["den"])
    return -number if match["sign"] == "-" else number
