"""Actions of MCPTool-v0: tool calls and answers, parsed in linear time on any text."""

import contextlib
import json
import time

import pytest

from palaestra.envs.core import InvalidAction
from palaestra.envs.mcp.actions import MAX_DEPTH, Answer, ToolCall, parse_action
from palaestra.envs.mcp.client import ToolSpec

SEARCH = ToolSpec(
    "search",
    "Search.",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)
ADD = ToolSpec(
    "add",
    "Add.",
    {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "number"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
)
TOOLS = [SEARCH, ADD]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"tool": "search", "arguments": {"query": "x y"}}', ToolCall("search", {"query": "x y"})),
        (
            '{"name": "add", "arguments": "{\\"a\\": 1, \\"b\\": 2.5}"}',
            ToolCall("add", {"a": 1, "b": 2.5}),
        ),
        (
            '```json\n{"tool": "add", "arguments": {"a": 1, "b": 2}}\n```',
            ToolCall("add", {"a": 1, "b": 2}),
        ),
        ("search[Kamiren Dosavel]", ToolCall("search", {"query": "Kamiren Dosavel"})),
        ("search [a [nested] query]", ToolCall("search", {"query": "a [nested] query"})),
        ("answer[Saan]", Answer("Saan")),
        ("Answer [ 42 ]", Answer("42")),
    ],
)
def test_valid_actions(text: str, expected: object) -> None:
    assert parse_action(text, TOOLS) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("search for it", "is not a tool call"),
        (
            '{"tool": "serch", "arguments": {"query": "x"}}',
            "no tool 'serch'; did you mean 'search'?",
        ),
        ('{"tool": "search"}', "needs the argument 'query'"),
        ('{"tool": "search", "arguments": {"query": 3}}', "must be of JSON type string"),
        ('{"tool": "add", "arguments": {"a": true, "b": 1}}', "must be of JSON type integer"),
        ('{"tool": "add", "arguments": {"a": 1, "b": 1, "c": 1}}', "has no argument 'c'"),
        ('{"tool": "search", "arguments": [1]}', "must be a JSON object"),
        ('{"action": null, "reward": 1e9}', "names no tool"),
        ('{"tool": "search", ', "not valid JSON"),
        ("add[1 2]", "does not take one text argument"),
        ("answer[]", "needs your answer"),
        ("search[]", "needs text"),
    ],
)
def test_invalid_actions_say_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidAction, match=None) as exc:
        parse_action(text, TOOLS)
    assert reason in exc.value.reason


def test_lone_surrogates_in_arguments_are_refused() -> None:
    # The action text is ASCII; the JSON escapes decode to text no server can read.
    with pytest.raises(InvalidAction, match="lone surrogate"):
        parse_action('{"tool": "search", "arguments": {"query": "\\ud800"}}', TOOLS)


def test_unknown_tools_admit_json_calls_only() -> None:
    # Before the server listed its tools, the server judges a JSON call; name[text] cannot
    # be mapped to an argument name.
    assert parse_action('{"tool": "x", "arguments": {"k": 1}}', []) == ToolCall("x", {"k": 1})
    with pytest.raises(InvalidAction, match="not known yet"):
        parse_action("x[text]", [])


HOSTILE = {
    "huge_json": '{"tool": "search", "arguments": {"query": "' + "a" * 1_000_000 + '"}}',
    "deep_nesting": '{"tool": "search", "arguments": ' + "[" * 200_000 + "]" * 200_000 + "}",
    "deep_objects": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "huge_number": '{"tool": "add", "arguments": {"a": ' + "9" * 100_000 + ', "b": 1}}',
    "openers": "search[" * 100_000,
    "brackets": "[" * 300_000 + "]",
    "answer_openers": "answer[" * 100_000,
    "fences": "```json\n" * 100_000,
    "name_then_spaces": "search" + " " * 300_000 + "x",
    "lone_surrogates": '{"tool": "search", "arguments": {"query": "\\ud800\\udfff\\ud800"}}',
    "mojibake": "search[\ufffd\u00c3\u00a9\udcff\x80]",
}


@pytest.mark.parametrize("label", HOSTILE)
def test_hostile_text_is_parsed_in_linear_time(label: str) -> None:
    text = HOSTILE[label]
    start = time.perf_counter()
    with contextlib.suppress(InvalidAction):
        parse_action(text, TOOLS)
    assert time.perf_counter() - start < 0.5, label


def test_parsing_time_grows_linearly() -> None:
    def cost(n: int) -> float:
        text = "search[" * n
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            with pytest.raises(InvalidAction):
                parse_action(text, TOOLS)
            best = min(best, time.perf_counter() - start)
        return best

    small, large = cost(20_000), cost(160_000)
    assert large < 8 * small * 4 + 0.01  # 8 times the text: far from 64 times the time


def nested(depth: int) -> str:
    """Arguments whose ``query``'s value nests ``depth - 1`` arrays (``depth`` levels in all)."""
    return (
        '{"tool": "search", "arguments": {"query": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}}"
    )


def test_arguments_nested_too_deep_for_pydantic_are_an_invalid_action() -> None:
    # 300 levels pass json.loads but not pydantic's serialization of the request.
    for depth in (MAX_DEPTH + 1, 300, 900):
        with pytest.raises(InvalidAction, match=f"nested more than {MAX_DEPTH} levels deep"):
            parse_action(nested(depth), [])
    assert parse_action(nested(MAX_DEPTH), []) == ToolCall(  # the checker judges types
        "search", json.loads(nested(MAX_DEPTH))["arguments"]
    )


def test_the_depth_check_is_linear_on_wide_arguments() -> None:
    # 100 KB, six times the longest action MCPTool-v0 reads.
    wide = '{"tool": "x", "arguments": {"a": [' + ",".join(["[[1]]"] * 20_000) + "]}}"
    start = time.perf_counter()
    assert isinstance(parse_action(wide, []), ToolCall)
    assert time.perf_counter() - start < 1.0  # a quadratic walk would take minutes


#: Malformed parts of an input schema, as a hostile server may list them.
BAD_PARTS: list[dict[str, object]] = [
    {"required": None},
    {"required": 5},
    {"required": "query"},
    {"required": {"query": 1}},
    {"required": ["query", None, 3, ["x"], {"a": 1}]},
    {"properties": [1, 2], "additionalProperties": False},
    {"properties": None, "required": ["query"]},
    {"properties": "query"},
    {"properties": {"query": ["string"], "n": {"type": 7}, "m": None}},
    {"properties": {"query": {"type": ["string", "null"]}}, "additionalProperties": "no"},
    {"type": None, "properties": {"query": True}},
]


@pytest.mark.parametrize("part", BAD_PARTS, ids=str)
@pytest.mark.parametrize(
    "text",
    [
        "search[x]",
        '{"tool": "search", "arguments": {"query": "x"}}',
        '{"tool": "search", "arguments": {"n": 1, "query": [1]}}',
        '{"tool": "search"}',
    ],
)
def test_a_malformed_input_schema_never_raises_anything_but_invalid_action(
    part: dict[str, object], text: str
) -> None:
    tool = ToolSpec("search", "", {"type": "object", **part})
    with contextlib.suppress(InvalidAction):
        call = parse_action(text, [tool])
        assert isinstance(call, ToolCall) and call.name == "search"


def test_a_null_required_list_is_no_requirement() -> None:
    tool = ToolSpec("search", "", {"type": "object", "required": None})
    assert parse_action('{"tool": "search"}', [tool]) == ToolCall("search", {})
