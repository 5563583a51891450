r"""Find the final answer in a model's reply, and read plain numbers exactly.

Extraction modes (``extract_answer(text, mode)``):

* ``boxed``: the content of the last ``\boxed{...}`` (or ``\fbox{...}``), braces matched;
* ``answer_line``: what follows the last ``Answer:`` / ``Final answer:`` (or GSM8K's
  ``####``) on its line;
* ``last_math``: the content of the last math expression (``$...$``, ``$$...$$``,
  ``\(...\)`` or ``\[...\]``);
* ``last_number``: the last number in the text;
* ``auto`` (default): ``boxed``, then ``answer_line``, then whichever of the last math
  expression holding a value (a digit, a fraction, a root, a constant, a bracket) and the
  last number written outside math comes later in the text. Taking the later one is what
  math-verify does within one priority level (its rightmost match wins): ``The answer is
  $\frac{1}{2}$.`` gives ``\frac{1}{2}``, not the ``2`` inside it, while ``Let $x$ be the
  count. Then x = 12.`` gives ``12``. An expression without a value after the last number
  is a variable or a unit (``6 ways to choose $k$``, ``12 $\text{cm}$``), so the number
  wins; with no number at all, the last expression is the answer (``$odd$``).

Every extractor is linear in the length of the text (regular expressions without nested
quantifiers, and one left-to-right scan for math delimiters).

:func:`parse_number` reads integers, decimals, thousands separators, simple fractions
(``3/4``, ``\frac{3}{4}``), percentages and trailing units (``$5``, ``12 cm``) as an exact
:class:`~fractions.Fraction`; it is the grader's fast path before math-verify.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Literal

ExtractionMode = Literal["auto", "boxed", "answer_line", "last_math", "last_number"]
EXTRACTION_MODES: tuple[str, ...] = ("auto", "boxed", "answer_line", "last_math", "last_number")

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


#: Math openers and their closers: display dollars first, so ``$$`` is not read as ``$``.
_MATH_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))


def math_spans(text: str) -> list[tuple[int, int]]:
    r"""The ``(start, end)`` of each math expression's content, left to right.

    Delimiters are ``$...$``, ``$$...$$``, ``\(...\)`` and ``\[...\]``; an escaped dollar
    (``\$5``) is a dollar sign, not a delimiter, and an opener without a closer is text. One
    pass: after a closer is found the scan resumes behind it, and a closer searched for in
    vain is not searched for again, so the cost is linear in the length of ``text``.
    """
    spans: list[tuple[int, int]] = []
    exhausted: set[str] = set()  # closers that do not occur after the current position
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char == "\\" and index + 1 < length and text[index + 1] not in "([":
            index += 2  # an escaped character
            continue
        opener = next((pair for pair in _MATH_DELIMITERS if text.startswith(pair[0], index)), None)
        if opener is None or opener[1] in exhausted:
            index += 1
            continue
        start = index + len(opener[0])
        end = _find_unescaped(text, opener[1], start)
        if end < 0:
            exhausted.add(opener[1])
            index += 1
            continue
        spans.append((start, end))
        index = end + len(opener[1])
    return spans


def _find_unescaped(text: str, needle: str, start: int) -> int:
    r"""Index of the first ``needle`` at or after ``start`` that a backslash does not escape.

    A dollar after an odd run of backslashes is escaped (``\$``); after an even run it is
    a delimiter (``\\$``, a LaTeX line break that ends the math).
    """
    position = text.find(needle, start)
    while position > 0 and needle.startswith("$") and _escaped(text, position, start):
        position = text.find(needle, position + 1)
    return position


def _escaped(text: str, position: int, floor: int) -> bool:
    """Whether an odd run of backslashes (not reaching back past ``floor``) ends at ``position``."""
    run = 0
    while position - run - 1 >= floor and text[position - run - 1] == "\\":
        run += 1
    return run % 2 == 1


def extract_last_math(text: str) -> str | None:
    """Return the content of the last non-empty math expression in ``text``, or ``None``."""
    for start, end in reversed(math_spans(text)):
        content = text[start:end].strip()
        if content:
            return content
    return None


#: What makes a math expression a value: a digit, or a constant, fraction, root or bracket.
_VALUE = re.compile(r"\d|\\(?:frac|dfrac|tfrac|sqrt|pi|infty|emptyset|\{)|[(\[]")


def _extract_final(text: str) -> str | None:
    r"""The last math expression or the last number outside math, whichever comes later.

    A later expression without a value in it (``$k$``, ``$\text{cm}$``, ``(mod $p$)``)
    names a variable or a unit after the answer, so the number wins; with no number at all,
    any expression is the answer (``$odd$``).
    """
    spans = [(s, e) for s, e in math_spans(text) if text[s:e].strip()]
    outside = list(text)
    for start, end in spans:
        outside[start:end] = " " * (end - start)
    numbers = list(_NUMBER.finditer("".join(outside)))
    valued = [(s, e) for s, e in spans if _VALUE.search(text, s, e)]
    if numbers and (not valued or numbers[-1].start() > valued[-1][1]):
        return numbers[-1].group()
    if valued or spans:
        start, end = (valued or spans)[-1]
        return text[start:end].strip()
    return None


_EXTRACTORS = {
    "boxed": (extract_boxed,),
    "answer_line": (extract_answer_line,),
    "last_math": (extract_last_math,),
    "last_number": (extract_last_number,),
    "auto": (extract_boxed, extract_answer_line, _extract_final),
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
