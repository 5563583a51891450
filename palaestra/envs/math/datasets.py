r"""Load math problems from local files: GSM8K, MATH, or any JSONL/JSON/parquet table.

Layouts (``layout=`` or detected from the first record with ``"auto"``):

* ``gsm8k``: ``question`` and ``answer`` fields, the answer ending in ``#### 42`` (the
  number after ``####``, commas removed, is the gold answer; the text before it is the
  solution);
* ``math``: ``problem`` and ``solution`` fields, the gold answer in the solution's last
  ``\boxed{}``, as the MATH benchmark's own evaluation takes it (an ``answer`` field, where
  present, wins);
* ``generic``: a question field and an answer field, named by ``question_field`` and
  ``answer_field`` (default ``question`` / ``answer``).

Every gold answer is normalized at load by
:func:`~palaestra.envs.math.answers.normalize_gold` into bare LaTeX (``$\frac{1}{2}$`` and
``\boxed{\frac{1}{2}}`` become ``\frac{1}{2}``), which math-verify reads best as ``$...$``.

``path`` is a ``.jsonl``, ``.json`` (a list of records) or ``.parquet`` file, or a folder
of them (read in name order). Nothing is downloaded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from palaestra.envs.math.answers import extract_boxed, normalize_gold
from palaestra.envs.math.problems import Problem
from palaestra.errors import InvalidArgumentError, did_you_mean
from palaestra.optional import require

Layout = Literal["auto", "gsm8k", "math", "generic"]
LAYOUTS: tuple[str, ...] = ("auto", "gsm8k", "math", "generic")
SUFFIXES: tuple[str, ...] = (".jsonl", ".json", ".parquet")


class DatasetError(InvalidArgumentError):
    """A data file is missing, empty or malformed; the message names the file and record."""


def load_problems(
    path: str | Path,
    *,
    layout: Layout = "auto",
    question_field: str | None = None,
    answer_field: str | None = None,
    limit: int | None = None,
) -> list[Problem]:
    """Read problems from ``path`` (a file or a folder of files).

    Args:
        path: A ``.jsonl``/``.json``/``.parquet`` file or a folder of them.
        layout: ``auto``, ``gsm8k``, ``math`` or ``generic``.
        question_field: Field of the question (generic layout; default ``question``).
        answer_field: Field of the gold answer (generic layout; default ``answer``).
        limit: Keep at most this many problems.

    Raises:
        DatasetError: The path is missing or holds no problems, a record is malformed, or
            a field is missing (the message names file, record and the fields it has).
    """
    if layout not in LAYOUTS:
        raise InvalidArgumentError(
            f"layout must be one of {LAYOUTS}, got {layout!r}{did_you_mean(str(layout), LAYOUTS)}"
        )
    files = _files(Path(path))
    problems: list[Problem] = []
    for file in files:
        for number, record in _records(file):
            where = f"{file}, record {number}"
            chosen = _detect(record, where) if layout == "auto" else layout
            problems.append(_problem(record, chosen, question_field, answer_field, where))
            if limit is not None and len(problems) >= limit:
                return problems
    if not problems:
        raise DatasetError(f"{path}: no problems found (expected records in {', '.join(SUFFIXES)})")
    return problems


def _files(path: Path) -> list[Path]:
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES)
        if not files:
            raise DatasetError(f"{path}: the folder holds no {', '.join(SUFFIXES)} files")
        return files
    if path.suffix not in SUFFIXES:
        raise DatasetError(f"{path}: unsupported file type; expected one of {', '.join(SUFFIXES)}")
    return [path]


def _records(file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if file.suffix == ".parquet":
        yield from _parquet_records(file)
        return
    try:
        text = file.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise DatasetError(f"{file}: cannot be read as UTF-8 text ({exc})") from exc
    if file.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{file}: not valid JSON ({exc})") from exc
        if not isinstance(data, list):
            raise DatasetError(
                f"{file}: expected a JSON list of records, got {type(data).__name__}"
            )
        for number, record in enumerate(data, start=1):
            yield number, _as_record(record, f"{file}, record {number}")
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{file}, line {number}: not valid JSON ({exc.msg})") from exc
        yield number, _as_record(record, f"{file}, line {number}")


def _parquet_records(file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    pq = require("pyarrow.parquet", "math", f"reading {file} (parquet)")
    try:
        rows = pq.read_table(file).to_pylist()
    except Exception as exc:
        raise DatasetError(f"{file}: not a readable parquet file ({exc})") from exc
    yield from enumerate(rows, start=1)


def _as_record(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DatasetError(f"{where}: expected an object with fields, got {type(value).__name__}")
    return value


def _detect(record: dict[str, Any], where: str) -> str:
    if "problem" in record and "solution" in record:
        return "math"
    if "#### " in str(record.get("answer", "")) or "####" in str(record.get("answer", "")):
        return "gsm8k"
    return "generic"


def _field(record: dict[str, Any], name: str, where: str) -> str:
    if name not in record:
        raise DatasetError(
            f"{where}: no field {name!r}{did_you_mean(name, record)} "
            f"(fields: {', '.join(sorted(map(str, record)))})"
        )
    value = record[name]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DatasetError(f"{where}: field {name!r} is {value}, not a number to grade")
        # Positional notation: str(0.00001) is "1e-05", which LaTeX reads as e - 5.
        return format(Decimal(repr(value)), "f")
    if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value).strip() == "":
        raise DatasetError(f"{where}: field {name!r} must be non-empty text or a number")
    return str(value).strip()


def _problem(
    record: dict[str, Any],
    layout: str,
    question_field: str | None,
    answer_field: str | None,
    where: str,
) -> Problem:
    source = where.rsplit(",", 1)[0]
    if layout == "gsm8k":
        question = _field(record, question_field or "question", where)
        full = _field(record, answer_field or "answer", where)
        solution, sep, final = full.rpartition("####")
        if not sep or not final.strip():
            raise DatasetError(f"{where}: GSM8K answer has no '#### <number>' line")
        answer = normalize_gold(final.strip().replace(",", ""))
        return Problem(
            question,
            answer,
            f"{solution.strip()}\nThe answer is \\boxed{{{answer}}}.",
            source=source,
        )
    if layout == "math":
        question = _field(record, question_field or "problem", where)
        solution = _field(record, "solution", where)
        given = record.get("answer") not in (None, "")
        gold = _field(record, "answer", where) if given else extract_boxed(solution)
        if not gold:
            raise DatasetError(f"{where}: MATH solution has no \\boxed{{}} answer")
        return Problem(question, normalize_gold(gold), solution, source=source)
    question = _field(record, question_field or "question", where)
    answer = normalize_gold(_field(record, answer_field or "answer", where))
    return Problem(question, answer, source=source)
