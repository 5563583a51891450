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

import bisect
import re
from fractions import Fraction
from typing import Literal

ExtractionMode = Literal["auto", "boxed", "answer_line", "last_math", "last_number"]
EXTRACTION_MODES: tuple[str, ...] = ("auto", "boxed", "answer_line", "last_math", "last_number")

#: Longest extracted answer considered; longer ones are rejected before any parsing.
MAX_ANSWER_CHARS = 1000

_BOX_OPENERS = re.compile(r"\\(?:boxed|fbox)\s*\{")
# One whitespace run between "answer", "is" and the colon: two adjacent optional runs let
# the engine try every split of a long run of spaces (quadratic, seconds at 16k).
_ANSWER_LINE = re.compile(
    r"(?:final\s+answer|answer)\s*(?:is\s*)?[:：]\s*(.+)|####\s*(.+)", re.IGNORECASE
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


#: ``$$...$$`` and ``$...$`` (their content holds no unescaped dollar), or an escaped
#: character to step over (``\$5`` is a dollar sign). Each alternative can match in one way
#: only, so the engine never backtracks into a long content.
_DOLLAR_SPAN = re.compile(r"\\[\s\S]|\$\$((?:[^$\\]|\\[\s\S])+)\$\$|\$((?:[^$\\]|\\[\s\S])+)\$")
#: Backslash pairs (stepped over) and the bracket delimiters ``\(``, ``\)``, ``\[``, ``\]``.
#: Consuming ``\\`` first keeps the parity right: ``\\)`` is a line break and a ")".
_BRACKET_TOKEN = re.compile(r"\\\\|\\([()\[\]])")


def _bracket_spans(text: str) -> list[tuple[int, int]]:
    r"""``\(...\)`` and ``\[...\]`` contents, from one pass over the backslash pairs.

    An opener takes the first matching closer after it (a binary search in that closer's
    positions) and the search resumes behind it, so the loop turns once per expression,
    not once per delimiter: ``\(`` repeated 30,000 times costs one regular-expression pass.
    """
    positions: dict[str, list[int]] = {"(": [], ")": [], "[": [], "]": []}
    for match in _BRACKET_TOKEN.finditer(text):
        if match.lastindex:
            positions[match.group(1)].append(match.start())
    spans: list[tuple[int, int]] = []
    position = 0
    while True:
        openers = []
        for opener, closer in (("(", ")"), ("[", "]")):
            starts = positions[opener]
            at = bisect.bisect_left(starts, position)
            if at < len(starts):
                ends = positions[closer]
                after = bisect.bisect_right(ends, starts[at])
                if after < len(ends):
                    openers.append((starts[at], ends[after]))
        if not openers:
            return spans
        start, end = min(openers)
        spans.append((start + 2, end))
        position = end + 2


def math_spans(text: str) -> list[tuple[int, int]]:
    r"""The ``(start, end)`` of each math expression's content, left to right.

    Delimiters are ``$...$``, ``$$...$$``, ``\(...\)`` and ``\[...\]``; an escaped dollar
    (``\$5``) is a dollar sign, not a delimiter, and an opener without a closer is text.
    An expression inside another (``$\(x\)$``) is not listed separately.

    Linear in the length of ``text`` (up to a logarithm): the dollar pattern matches in one
    way only, and brackets come from one pass over the backslash pairs, so an opener with no
    closer after it is never scanned past (``\(`` repeated 30,000 times costs one pass).
    """
    # lastindex: the content group that matched (None for a skipped escape).
    found = (
        [m.span(m.lastindex) for m in _DOLLAR_SPAN.finditer(text) if m.lastindex]
        if "$" in text
        else []
    )
    brackets = _bracket_spans(text) if "\\" in text else []
    if not brackets:
        return found  # dollar spans come in order and never overlap
    found = sorted(found + brackets)
    spans: list[tuple[int, int]] = []
    for start, end in found:
        if not spans or start > spans[-1][1]:
            spans.append((start, end))
    return spans


def extract_last_math(text: str) -> str | None:
    """Return the content of the last non-empty math expression in ``text``, or ``None``."""
    for start, end in reversed(math_spans(text)):
        content = text[start:end].strip()
        if content:
            return content
    return None


#: Math expressions looked at from the end for one holding a value.
_LOOK_BACK = 64

#: What makes a math expression a value: a digit, or a constant, fraction, root or bracket.
_VALUE = re.compile(r"\d|\\(?:frac|dfrac|tfrac|sqrt|pi|infty|emptyset|\{)|[(\[]")


def _extract_final(text: str) -> str | None:
    r"""The last math expression or the last number outside math, whichever comes later.

    A later expression without a value in it (``$k$``, ``$\text{cm}$``, ``(mod $p$)``)
    names a variable or a unit after the answer, so the number wins; with no number at all,
    any expression is the answer (``$odd$``).
    """
    spans = math_spans(text)
    starts = [start for start, _ in spans]
    number = None
    for match in reversed(list(_NUMBER.finditer(text))):
        inside = bisect.bisect_right(starts, match.start()) - 1
        if inside < 0 or match.start() >= spans[inside][1]:
            number = match
            break
    # Only the last expressions matter: look from the end (at most _LOOK_BACK of them, so a
    # reply of thousands of value-less expressions costs no more than a few).
    valued = next(
        (
            (s, e)
            for s, e in reversed(spans[-_LOOK_BACK:])
            if (number is None or s > number.start()) and _VALUE.search(text, s, e)
        ),
        None,
    )
    if number is not None and (valued is None or number.start() > valued[1]):
        return number.group()
    chosen = valued or next(((s, e) for s, e in reversed(spans) if text[s:e].strip()), None)
    return text[chosen[0] : chosen[1]].strip() if chosen else None


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
