"""Loading GSM8K, MATH and generic data from local files, and hostile files."""

import json
from pathlib import Path

import pytest

from palaestra.envs.math import DatasetError, Grader, load_problems

DATA = Path(__file__).resolve().parents[3] / "palaestra" / "envs" / "math" / "data"


def test_gsm8k_sample() -> None:
    problems = load_problems(DATA / "sample_gsm8k.jsonl")
    assert [p.answer for p in problems] == ["72", "10", "1225", "9"]
    assert problems[0].solution.endswith("The answer is \\boxed{72}.")
    assert "####" not in problems[0].solution


def test_math_sample() -> None:
    problems = load_problems(DATA / "sample_math.jsonl", layout="math")
    assert [p.answer for p in problems] == ["\\frac{5}{6}", "7", "[-1, 3]", "5\\sqrt{2}"]


def test_folder_and_limit() -> None:
    problems = load_problems(DATA)
    assert len(problems) == 8
    assert len(load_problems(DATA, limit=3)) == 3


def test_generic_fields_json_and_parquet(tmp_path: Path) -> None:
    records = [{"q": "1+1?", "a": 2}, {"q": "2+2?", "a": "4"}]
    (tmp_path / "d.json").write_text(json.dumps(records))
    problems = load_problems(tmp_path / "d.json", question_field="q", answer_field="a")
    assert [(p.question, p.answer) for p in problems] == [("1+1?", "2"), ("2+2?", "4")]
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.Table.from_pylist([{"q": "1+1?", "a": 2}, {"q": "2+2?", "a": 4}]), tmp_path / "d.parquet"
    )
    parquet = load_problems(tmp_path / "d.parquet", question_field="q", answer_field="a")
    assert [(p.question, p.answer) for p in parquet] == [("1+1?", "2"), ("2+2?", "4")]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "message"),
    [
        (
            "d.jsonl",
            '{"question": "x", "answer": "1"}\n{broken\n',
            {},
            r"d.jsonl, line 2: not valid JSON",
        ),
        ("d.jsonl", "[1, 2]\n", {}, "line 1: expected an object"),
        ("d.jsonl", '{"question": "x"}\n', {}, "no field 'answer'.*fields: question"),
        (
            "d.jsonl",
            '{"questoin": "x", "answer": "1"}\n',
            {},
            "no field 'question'; did you mean 'questoin'",
        ),
        (
            "d.jsonl",
            '{"question": "x", "answer": "no hashes ####"}\n',
            {"layout": "gsm8k"},
            "no '#### <number>'",
        ),
        ("d.jsonl", '{"problem": "x", "solution": "no box"}\n', {}, "no \\\\boxed"),
        ("d.jsonl", '{"question": ["x"], "answer": "1"}\n', {}, "must be non-empty text"),
        ("d.jsonl", '{"question": "", "answer": "1"}\n', {}, "must be non-empty text"),
        ("d.jsonl", '{"question": "x", "answer": NaN}\n', {}, "is nan, not a number"),
        ("d.jsonl", '{"question": "x", "answer": 1e400}\n', {}, "is inf, not a number"),
        (
            "d.jsonl",
            '{"problem": "x", "solution": "\\\\boxed{1}", "answer": ["1", "2"]}\n',
            {},
            "field 'answer' must be non-empty text",
        ),
        ("d.jsonl", "\n\n", {}, "no problems found"),
        ("d.json", '{"question": "x"}', {}, "expected a JSON list"),
        ("d.json", "{{{", {}, "not valid JSON"),
        ("d.jsonl", b"\xff\xfe\x00garbage", {}, "cannot be read as UTF-8"),
        ("d.parquet", b"not parquet at all", {}, "not a readable parquet file"),
        ("d.csv", "a,b", {}, "unsupported file type"),
        ("d.jsonl", '{"question": "x", "answer": "1"}', {"layout": "csv"}, "layout must be one of"),
    ],
)
def test_hostile_files(
    tmp_path: Path, name: str, content: str | bytes, kwargs: dict, message: str
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(Exception, match=message) as info:
        load_problems(path, **kwargs)
    assert isinstance(info.value, (DatasetError, ValueError))


def test_missing_and_empty_paths(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file or folder"):
        load_problems(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetError, match=r"holds no \.jsonl"):
        load_problems(tmp_path)


@pytest.mark.parametrize(
    ("layout", "record", "gold"),
    [
        ("gsm8k", {"question": "q", "answer": "Add them.\n#### 1,234"}, "1234"),
        ("gsm8k", {"question": "q", "answer": "So -3.5\n####-3.5"}, "-3.5"),
        ("math", {"problem": "q", "solution": "So $x=\\boxed{\\frac{1}{2}}$."}, "\\frac{1}{2}"),
        ("math", {"problem": "q", "solution": "\\boxed{(1, +\\infty)}"}, "(1, +\\infty)"),
        ("math", {"problem": "q", "solution": "s", "answer": "$\\frac{1}{2}$"}, "\\frac{1}{2}"),
        ("math", {"problem": "q", "solution": "Area $\\boxed{6}$; perimeter $\\boxed{12}$."}, "12"),
        ("math", {"problem": "q", "solution": "It is \\boxed{1}, not 0.", "answer": 0}, "0"),
        ("math", {"problem": "q", "solution": "\\boxed{\\$18.90}"}, "\\$18.90"),
        ("generic", {"question": "q", "answer": 0.00001}, "0.00001"),
        ("generic", {"question": "q", "answer": 1e21}, "1000000000000000000000"),
        ("generic", {"question": "q", "answer": "\\$13.50"}, "\\$13.50"),
        ("generic", {"question": "q", "answer": "42"}, "42"),
        ("generic", {"question": "q", "answer": "odd"}, "odd"),
        ("generic", {"question": "q", "answer": "$$(1, +\\infty)$$"}, "(1, +\\infty)"),
        ("generic", {"question": "q", "answer": "\\(x^2\\)"}, "x^2"),
        ("generic", {"question": "q", "answer": "\\boxed{7}"}, "7"),
        ("generic", {"question": "q", "answer": "25%"}, "25%"),
        ("generic", {"question": "q", "answer": "$a$ and $b$"}, "$a$ and $b$"),
    ],
)
def test_gold_answers_are_normalized_at_load(
    tmp_path: Path, layout: str, record: dict[str, str], gold: str
) -> None:
    path = write(tmp_path, "d.jsonl", json.dumps(record))
    (problem,) = load_problems(path, layout=layout)  # type: ignore[arg-type]
    assert problem.answer == gold
    # ... and the form it is kept in grades a reply that writes the same answer.
    if "$" not in gold:
        assert Grader().grade(f"The answer is ${gold}$.", problem.answer).correct
    if "\\$" in gold:
        assert Grader().grade(f"The answer is \\boxed{{{gold}}}.", problem.answer).correct
