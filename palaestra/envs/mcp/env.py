"""Questions answered with the tools of an MCP server."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from palaestra.envs.attempts import is_number
from palaestra.envs.core import InvalidAction, TextEnv, Transition
from palaestra.envs.mcp.actions import Answer, ToolCall, parse_action
from palaestra.envs.mcp.client import (
    ToolCallRefused,
    ToolOutput,
    ToolServer,
    ToolServerError,
    ToolSpec,
    UnsendableCall,
    call_request,
    text_of,
)
from palaestra.envs.mcp.config import ServerConfig
from palaestra.envs.mcp.questions import Item, make_source
from palaestra.errors import InvalidArgumentError

#: Characters of a tool's input schema, as JSON, put in the instruction (the server's
#: text, held to a size, as its descriptions are by the client).
MAX_SCHEMA_CHARS = 2000


class MCPToolEnv(TextEnv):
    """Answer a question with the tools of any MCP server (stdio transport).

    **Task.** A question from ``task``: ``searchqa`` (SearchQA's two-hop questions about an
    invented world), ``math`` (generated math problems) or ``custom`` (``questions=``, the
    user's questions with answers). The episode seed picks the question. The tools are
    those the server lists (``list_tools``); without ``server=`` it is palaestra's own
    server of the task's tool (:mod:`palaestra.integrations.mcp_server`, started as a child
    process): ``search`` over the same corpus, or sandboxed ``python``.

    **Server.** ``server`` is the stdio command of any MCP server, as a dict or JSON:
    ``{"command": "npx", "args": ["-y", "some-mcp-server"], "env": {...}, "cwd": ...}``
    (:class:`~palaestra.envs.mcp.config.ServerConfig`). It starts at the first reset, runs
    in a process group of its own, and is killed with its process group on ``close()``,
    after a failure, when the env is garbage-collected unclosed, or when the interpreter
    exits: a process that leaves the group with ``setsid`` (a daemon) is not. A forked
    copy of the process never touches the server; it starts its own if it uses the env.
    Nothing the server sends is checked against a JSON schema of its own (its tools'
    ``outputSchema``), so no schema can stall a step past ``call_timeout_s``.

    **Observation.** The question; after a tool call, the tool's result (text content, cut
    to ``tool_output_chars``, which the observation then says), then the calls left and the
    question again.

    **Action.** A tool call, ``{"tool": "search", "arguments": {"query": "..."}}`` (JSON,
    alone or in a code fence), or ``name[text]`` for a tool with one text argument; or
    ``answer[text]`` to finish (:mod:`palaestra.envs.mcp.actions`). A call of an unknown
    tool; with arguments that miss a key its input schema requires, add one it forbids
    (``additionalProperties: false``), give a top-level value of another JSON type than
    the schema's, or cannot be sent (nested over 64 levels deep); beyond
    ``max_tool_calls``; or that the server refuses, fails or does not answer in
    ``call_timeout_s``: each is an invalid action whose observation says which (the rest
    of a schema is the server's to judge). A tool's own failure (``isError``) is a
    result. ``info["tool_status"]`` of a step that reached the server: ``ok``, ``error``
    (``isError``), ``refused``, ``failed`` or ``unavailable`` (failed more than
    ``max_restarts`` times).

    **Reward.** ``searchqa`` and ``custom``: the word F1 of the answer (``success``: exact
    match after normalization). ``math``: 1 for an answer math-verify finds equal.
    ``episode_metrics``: ``score``, ``tool_calls`` (calls sent to the server; an invalid
    action or a server that did not start sends none),
    ``tool_errors`` (``isError`` results), ``server_failures``, ``invalid_actions``.

    **Oracle.** With palaestra's own server: the question's tool calls (a search for each
    hop, the problem's program), then the gold answer; with another server, the answer at
    once (privileged).

    **Failures.** A server that does not start, exits, hangs past a time limit, or writes
    anything but JSON-RPC (or a message over ``max_message_bytes``) is stopped, and the
    observation says what happened; the next call starts it again, up to
    ``max_restarts`` times an episode. No failure raises, and each is bounded by
    ``start_timeout_s`` and ``call_timeout_s``.

    Args:
        server: The MCP server (``None``: palaestra's own server of the task's tool).
        task: ``searchqa``, ``math`` or ``custom``.
        questions: With ``task="custom"``: ``{"question", "answer"}`` objects, or a JSON or
            JSONL file of them.
        corpus_seed: ``searchqa``: seed of the invented world.
        people: ``searchqa``: persons in the world.
        top_k: ``searchqa``: documents a search of the default server returns.
        difficulty: ``math``: 0 (warm-up) to 3.
        grading_timeout: ``math``: seconds math-verify may take on an answer.
        max_tool_calls: Tool calls allowed per episode.
        start_timeout_s: Longest wait for the server to start and list its tools.
        call_timeout_s: Longest wait for a tool call's answer.
        tool_output_chars: Characters of a tool result shown.
        max_message_bytes: Longest message read from the server.
        max_restarts: Server starts after failures allowed per episode.
        expose_ground_truth: Put the gold answer in ``info["ground_truth"]``.
        **kwargs: :class:`~palaestra.envs.core.TextEnv` arguments.

    Version History:
        * v0: Initial version.
    """

    free_text_actions = False

    def __init__(
        self,
        *,
        server: ServerConfig | Mapping[str, Any] | str | None = None,
        task: str = "searchqa",
        questions: Sequence[Mapping[str, Any]] | str | Path | None = None,
        corpus_seed: int = 0,
        people: int = 60,
        top_k: int = 3,
        difficulty: int = 1,
        grading_timeout: float = 5.0,
        max_tool_calls: int = 6,
        start_timeout_s: float = 30.0,
        call_timeout_s: float = 15.0,
        tool_output_chars: int = 2000,
        max_message_bytes: int = 1 << 22,
        max_restarts: int = 2,
        expose_ground_truth: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (
            ("start_timeout_s", start_timeout_s),
            ("call_timeout_s", call_timeout_s),
        ):
            if not (is_number(value) and 0 < value <= 3600):
                raise InvalidArgumentError(f"{name} must lie in (0, 3600] seconds, got {value!r}")
        for name, count, least in (
            ("max_tool_calls", max_tool_calls, 0),
            ("max_restarts", max_restarts, 0),
            ("tool_output_chars", tool_output_chars, 1),
            ("max_message_bytes", max_message_bytes, 1024),
        ):
            if isinstance(count, bool) or not isinstance(count, int) or count < least:
                raise InvalidArgumentError(
                    f"{name} must be an int of at least {least}, got {count!r}"
                )
        self.source = make_source(
            task,
            questions=questions,
            corpus_seed=corpus_seed,
            people=people,
            top_k=top_k,
            difficulty=difficulty,
            grading_timeout=grading_timeout,
        )
        own = self.source.default_server()
        if server is None and own is None:
            raise InvalidArgumentError(f"task={task!r} has no default server; pass server=")
        self.task = task
        self.own_server = server is None
        self.server_config = ServerConfig.parse(server) if server is not None else own
        assert self.server_config is not None
        self.server = ToolServer(
            self.server_config,
            start_timeout_s=start_timeout_s,
            call_timeout_s=call_timeout_s,
            max_output_chars=tool_output_chars,
            max_message_bytes=max_message_bytes,
        )
        self.max_tool_calls = max_tool_calls
        self.max_restarts = max_restarts
        self.expose_ground_truth = expose_ground_truth
        self.max_step_seconds = self.source.step_seconds
        # A step that reached the server: a restart, the call, and the clean-up of a
        # server that failed (a grace period and a bounded wait).
        self.max_tool_step_seconds = start_timeout_s + call_timeout_s + 5.0
        self.tools: list[ToolSpec] = []
        self.server_problem: str | None = None  # why the tools are unavailable, if they are
        self.item = Item("", "")
        self._calls = self._errors = self._failures = 0
        self._score = 0.0
        self._solved = False

    def step_time_limit(self, info: dict[str, Any]) -> float:
        """A step that called the server (``tool_status`` in its info) may take its time."""
        return self.max_tool_step_seconds if "tool_status" in info else self.max_step_seconds

    def close(self) -> None:
        """Stop the server."""
        self.server.close()
        super().close()

    # ------------------------------------------------------------------ TextEnv

    @property
    def turn_limit(self) -> int:
        """The tool calls, then the answer."""
        return self.max_tool_calls + 1

    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        self.item = self.source.draw(self.np_random)
        self._calls = self._errors = self._failures = 0
        self._score, self._solved = 0.0, False
        self._start_server()
        info: dict[str, Any] = {"instruction": self._instruction()}
        self._add_ground_truth(info)
        return self._question_text(), info

    def _parse_action(self, text: str) -> Answer | ToolCall:
        action = parse_action(text, self.tools)
        if isinstance(action, ToolCall):
            if self._calls >= self.max_tool_calls:
                raise InvalidAction(f"all {self.max_tool_calls} tool calls are used; answer now")
            try:
                call_request(action.name, action.arguments)
            except UnsendableCall as exc:
                raise InvalidAction(str(exc)) from None
        return action

    def _step(self, action: Answer | ToolCall) -> Transition:
        info: dict[str, Any] = {}
        self._add_ground_truth(info)
        if isinstance(action, Answer):
            score = self.source.score(action.text, self.item)
            self._score, self._solved = score.reward, score.success
            return Transition(f"You answered: {action.text}", score.reward, True, info)
        return self._call(action, info)

    def _invalid_transition(self, reason: str) -> Transition:
        info: dict[str, Any] = {}
        self._add_ground_truth(info)
        return Transition(f"Invalid action: {reason}.\n\n{self._question_text()}", 0.0, False, info)

    def _success(self) -> bool:
        return self._solved

    def _metrics(self) -> dict[str, float]:
        return {
            "score": self._score,
            "tool_calls": float(self._calls),
            "tool_errors": float(self._errors),
            "server_failures": float(self._failures),
        }

    def oracle_action(self) -> str:
        """With palaestra's own server, make the question's tool calls; then answer."""
        calls = self.item.calls if self.own_server else ()
        if self._calls < min(len(calls), self.max_tool_calls):
            name, arguments = calls[self._calls]
            return json.dumps({"tool": name, "arguments": arguments})
        return f"answer[{self.item.answer}]"

    @property
    def max_return(self) -> float:
        """A correct answer."""
        return 1.0

    # ------------------------------------------------------------------ the server

    def _start_server(self) -> None:
        try:
            self.tools = self.server.start()
            self.server_problem = None
        except ToolServerError as exc:
            self._failures += 1
            self.tools = []
            self.server_problem = str(exc)

    def _call(self, call: ToolCall, info: dict[str, Any]) -> Transition:
        if not self.server.running and self._failures > self.max_restarts:
            info["tool_status"] = "unavailable"
            return self._refused(
                f"the tool server failed {self._failures} times this episode; answer without "
                f"tools ({self.server_problem})",
                info,
            )
        try:
            output = self.server.call(call.name, call.arguments)
        except UnsendableCall as exc:  # checked by _parse_action already; nothing was sent
            return self._refused(str(exc), info)
        except ToolServerError as exc:
            self._calls += exc.sent  # a server that did not start got no call
            self._failures += 1
            self.server_problem = str(exc)
            info["tool_status"] = "failed"
            return self._refused(f"the tool call failed: {exc}", info)
        except ToolCallRefused as exc:
            self._calls += 1
            info["tool_status"] = "refused"
            return self._refused(f"the server refused the call: {exc}", info)
        self._calls += 1
        # The tools of the server that answered (one started at this call included).
        self.tools, self.server_problem = self.server.tools, None
        self._errors += output.is_error
        info["tool_status"] = "error" if output.is_error else "ok"
        return Transition(self._result_text(call, output), 0.0, False, info)

    def _refused(self, reason: str, info: dict[str, Any]) -> Transition:
        info["invalid_action"] = True
        info["invalid_reason"] = reason
        return Transition(f"Invalid action: {reason}.\n\n{self._question_text()}", 0.0, False, info)

    # ------------------------------------------------------------------ text

    def _result_text(self, call: ToolCall, output: ToolOutput) -> str:
        head = f"{call.name} failed:" if output.is_error else f"{call.name} returned:"
        lines = [head, output.text or "(no content)"]
        if output.truncated:
            lines.append(f"(output cut to {self.server.max_output_chars} characters)")
        left = self.max_tool_calls - self._calls
        lines.append(f"\n({left} tool call{'s' if left != 1 else ''} left) {self._question_text()}")
        return "\n".join(lines)

    def _question_text(self) -> str:
        return f"Question: {self.item.question}"

    def _instruction(self) -> str:
        lines = [
            self.source.preamble,
            "Reply with exactly one action:",
            '- a tool call, as JSON: {"tool": "NAME", "arguments": {...}} with the arguments '
            "its input schema describes; a tool with one text argument may also be called as "
            "NAME[text];",
            "- answer[your answer] to finish.",
            f"You may call tools up to {self.max_tool_calls} times.",
        ]
        if self.server_problem is not None:
            lines.append(f"The tool server is not available now: {self.server_problem}.")
        else:
            lines.append("The tools:")
            for tool in self.tools:
                schema = json.dumps(tool.input_schema, ensure_ascii=False, sort_keys=True)
                description = " ".join(tool.description.split())
                lines.append(f"- {tool.name}: {description}")
                lines.append(f"  input schema: {text_of(schema)[:MAX_SCHEMA_CHARS]}")
        return "\n".join(lines)

    def _add_ground_truth(self, info: dict[str, Any]) -> None:
        if self.expose_ground_truth:
            info["ground_truth"] = self.item.answer
            info["answer_template"] = "answer[{answer}]"
