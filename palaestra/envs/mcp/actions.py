"""The actions of :class:`~palaestra.envs.mcp.MCPToolEnv`, parsed in time linear in their length.

An action is one of:

* a tool call as a JSON object, ``{"tool": "search", "arguments": {"query": "..."}}``
  (``"name"`` for ``"tool"`` as function-calling models write it; ``arguments`` may be
  omitted for a tool without any), alone or in a Markdown code fence;
* ``name[text]`` for a tool whose input is one text argument (``search[Kamiren Dosavel]``);
* ``answer[text]``, the final answer.

Every step is one scan, one ``json.loads`` or one walk of what it read (linear; arguments
nested deeper than :data:`MAX_DEPTH` are an invalid action, as is anything else that is not
one of the three). A tool's input schema is the server's data: a malformed part of it (a
``required`` that is not a list, ``properties`` that are not an object) is ignored, never
trusted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from palaestra.envs.core import InvalidAction, shorten
from palaestra.envs.mcp.client import TOOL_NAME, ToolSpec
from palaestra.errors import did_you_mean

#: A tool's name (MCP's own rule: letters, digits, ``_``, ``-`` and ``.``, at most 128)
#: and the bracket that opens its argument. The name is bounded, so the match is linear.
_BRACKET = re.compile(rf"({TOOL_NAME.pattern})[ \t]*\[")
#: Levels of nesting allowed in a call's arguments (an object or array in an object is two).
#: pydantic, which serializes the request, gives up past about 250; no tool needs 64.
MAX_DEPTH = 64
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


@dataclass(frozen=True)
class Answer:
    """The final answer."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """A call of tool ``name`` with ``arguments``."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


def parse_action(text: str, tools: Sequence[ToolSpec]) -> Answer | ToolCall:
    """The answer or tool call ``text`` (stripped) stands for.

    Args:
        text: The action.
        tools: The server's tools; an empty list (the server's tools are unknown) admits
            any name, for the server to judge.

    Raises:
        InvalidAction: Neither an answer nor a well-formed call of a listed tool with
            arguments its schema admits.
    """
    body = _unfenced(text)
    if body.startswith("{"):
        call = _json_call(body)
    else:
        match = _BRACKET.match(body)
        if match is None or not body.endswith("]"):
            raise InvalidAction(
                f'{shorten(text)} is not a tool call ({{"tool": ..., "arguments": {{...}}}} '
                "or name[text]) or answer[text]"
            )
        name, inner = match.group(1), body[match.end() : -1].strip()
        if name.lower() == "answer":
            if not inner:
                raise InvalidAction("answer[] needs your answer inside the brackets")
            return Answer(inner)
        call = ToolCall(name, _bracket_arguments(name, inner, tools))
    _check_call(call, tools)
    return call


def _unfenced(text: str) -> str:
    """The inside of a Markdown code fence around the whole text, else the text."""
    if text.startswith("```") and text.endswith("```") and len(text) >= 6:
        inside = text[3:-3]
        newline = inside.find("\n")
        language = inside[:newline].strip() if newline >= 0 else "-"
        if not language or language.isalnum():  # ```json
            inside = inside[newline + 1 :]
        return inside.strip()
    return text


def _json_call(body: str) -> ToolCall:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidAction(
            'the tool call is not valid JSON; write {"tool": NAME, "arguments": {...}}'
        ) from None
    if not isinstance(value, dict):
        raise InvalidAction('a tool call is a JSON object: {"tool": NAME, "arguments": {...}}')
    name = value.get("tool", value.get("name"))
    if not isinstance(name, str) or not name:
        raise InvalidAction('the tool call names no tool; write {"tool": NAME, "arguments": {...}}')
    arguments = value.get("arguments", {})
    if isinstance(arguments, str):  # function-calling APIs send arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):
            raise InvalidAction(f"the arguments of {shorten(name)} are not valid JSON") from None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise InvalidAction(f"the arguments of {shorten(name)} must be a JSON object")
    if _depth(arguments) > MAX_DEPTH:  # before pydantic, which fails past about 250
        raise InvalidAction(
            f"the arguments of {shorten(name)} are nested more than {MAX_DEPTH} levels deep"
        )
    try:  # JSON's "\ud800" escapes decode to lone surrogates, which no server can read
        json.dumps(arguments, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidAction("the arguments contain a lone surrogate, which is not text") from None
    return ToolCall(name, arguments)


def _bracket_arguments(name: str, inner: str, tools: Sequence[ToolSpec]) -> dict[str, Any]:
    """``name[text]``'s arguments: the tool's one text parameter set to ``text``."""
    if not inner:
        raise InvalidAction(f"{name}[] needs text inside the brackets")
    tool = next((t for t in tools if t.name == name), None)
    if tool is None:
        if not tools:
            raise InvalidAction(
                "the server's tools are not known yet, so name[text] cannot be mapped to "
                f'arguments; call it as {{"tool": "{name}", "arguments": {{...}}}}'
            )
        return {}  # an unknown tool: _check_call says so
    properties = _properties(tool.input_schema)
    texts = [key for key, spec in properties.items() if _type_of(spec) in ("string", None)]
    if len(properties) != 1 or len(texts) != 1:
        raise InvalidAction(
            f"{name} does not take one text argument; call it as "
            f'{{"tool": "{name}", "arguments": {{...}}}}'
        )
    return {texts[0]: inner}


def _check_call(call: ToolCall, tools: Sequence[ToolSpec]) -> None:
    """The name is a listed tool's, and the arguments have its schema's keys and types."""
    if not tools:
        return
    tool = next((t for t in tools if t.name == call.name), None)
    names = [t.name for t in tools]
    if tool is None:
        raise InvalidAction(
            f"there is no tool {shorten(call.name)}{did_you_mean(call.name[:128], names)} "
            f"(the tools: {', '.join(names)})"
        )
    schema = tool.input_schema
    properties = _properties(schema)
    required = schema.get("required")
    required = required if isinstance(required, list) else []
    missing = [key for key in required if isinstance(key, str) and key not in call.arguments]
    if missing:
        raise InvalidAction(f"{tool.name} needs the argument {missing[0]!r}")
    for key, value in call.arguments.items():
        spec = properties.get(key)
        if spec is None:
            if schema.get("additionalProperties") is False:
                raise InvalidAction(
                    f"{tool.name} has no argument {shorten(key)}"
                    f"{did_you_mean(key[:128], list(properties))} (its arguments: "
                    f"{', '.join(properties) or 'none'})"
                )
            continue
        expected = _type_of(spec)
        kinds = _JSON_TYPES.get(expected or "")
        if kinds is not None and not _is(value, expected or "", kinds):
            raise InvalidAction(f"{tool.name}'s argument {key!r} must be of JSON type {expected}")


def _properties(schema: Mapping[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties")
    return properties if isinstance(properties, dict) else {}


def _depth(value: Any) -> int:
    """How deep objects and arrays nest in ``value`` (a walk with a stack: no recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level  # deep enough to refuse; no need to see the rest
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _type_of(spec: Any) -> str | None:
    kind = spec.get("type") if isinstance(spec, dict) else None
    return kind if isinstance(kind, str) else None


def _is(value: Any, expected: str, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and expected in ("integer", "number"):
        return False  # JSON's true is not a number
    return isinstance(value, kinds)
