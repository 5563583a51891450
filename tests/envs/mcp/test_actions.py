"""Actions of MCPTool-v0: tool calls and answers, parsed in linear time on any text."""

import contextlib
import time

import pytest

from palaestra.envs.core import InvalidAction
from palaestra.envs.mcp.actions import Answer, ToolCall, parse_action
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
