"""MCPTool-v0: questions answered with an MCP server's tools, failures as observations."""

import json
import pickle
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

from palaestra.envs.mcp import MCPToolEnv
from palaestra.envs.mcp.config import ServerConfig
from palaestra.errors import InvalidArgumentError
from tests.envs.mcp.helpers import gone, hostile

QUESTIONS = [{"question": "What does echo say to 'seven'?", "answer": "seven"}]


def custom(config: ServerConfig, **kwargs: Any) -> MCPToolEnv:
    settings = {"start_timeout_s": 2.0, "call_timeout_s": 1.0, **kwargs}
    return MCPToolEnv(server=config.to_dict(), task="custom", questions=QUESTIONS, **settings)


@pytest.fixture(scope="module")
def default_env() -> Any:
    env = gym.make("palaestra/MCPTool-v0")
    yield env
    env.close()


def test_default_env_searches_with_palaestras_server_and_the_oracle_wins(default_env: Any) -> None:
    from palaestra.envs.searchqa import SearchQAEnv

    base = default_env.unwrapped
    _, info = default_env.reset(seed=3)
    instruction = info["instruction"]
    assert "- search: Search a private encyclopedia" in instruction
    assert '"required": ["query"]' in instruction and "answer[" in instruction
    local = SearchQAEnv()
    hop = base.item.calls[0][1]["query"]
    observation, reward, terminated, _, info = default_env.step(f"search[{hop}]")
    # The same results SearchQA-v0 shows for search[hop].
    assert observation.startswith(f"search returned:\n{local.results_text(hop)}\n")
    assert info == {"tool_status": "ok", "invalid_action": False, "turn": 1}
    total = reward
    while not terminated:
        observation, reward, terminated, _, info = default_env.step(base.oracle_action())
        total += reward
    assert info["success"] and total == 1.0
    assert info["episode_metrics"]["tool_calls"] == 2.0  # what SPEAR's tool reward reads


def test_checks_before_the_server_cost_no_call(default_env: Any) -> None:
    default_env.reset(seed=0)
    for action in (
        '{"tool": "serach", "arguments": {"query": "x"}}',
        "search[]",
        '{"tool": "search"}',
    ):
        _, _, _, _, info = default_env.step(action)
        assert info["invalid_action"] and "tool_status" not in info
    assert default_env.unwrapped.episode_metrics()["tool_calls"] == 0.0


def test_math_questions_with_python_over_mcp() -> None:
    env = gym.make("palaestra/MCPTool-v0", task="math")
    try:
        _, info = env.reset(seed=0)
        assert "- python: Run a Python program in a sandbox" in info["instruction"]
        observation, _, _, _, info = env.step(
            '{"tool": "python", "arguments": {"code": "print(6 * 7)"}}'
        )
        assert observation.startswith("python returned:\nTool output:\n42\n")
        observation, _, _, _, info = env.step('{"tool": "python", "arguments": {"code": "1/0"}}')
        assert observation.startswith("python failed:") and "ZeroDivisionError" in observation
        assert info["tool_status"] == "error" and not info["invalid_action"]
        base = env.unwrapped
        assert isinstance(base, MCPToolEnv)
        observation, reward, terminated, _, info = env.step(base.oracle_action())
        while not terminated:
            observation, reward, terminated, _, info = env.step(base.oracle_action())
        assert info["success"] and reward == 1.0
        assert info["episode_metrics"]["tool_errors"] == 1.0
    finally:
        env.close()


def test_any_server_with_custom_questions() -> None:
    env = custom(hostile())
    try:
        _, info = env.reset(seed=0)
        assert "- echo: Return the text." in info["instruction"]
        observation, _, _, _, info = env.step("echo[seven]")
        assert observation.startswith("echo returned:\nseven\n") and not info["invalid_action"]
        observation, _, _, _, info = env.step('{"tool": "big"}')
        assert "(output cut to 2000 characters)" in observation
        _, _, _, _, info = env.step('{"tool": "fail"}')
        assert info["tool_status"] == "error" and not info["invalid_action"]
        _, _, _, _, info = env.step('{"tool": "reject"}')
        assert info["invalid_action"] and "refused the call: no, thanks" in info["invalid_reason"]
        _, reward, terminated, _, info = env.step("answer[Seven]")
        assert terminated and reward == 1.0 and info["success"]
        assert info["episode_metrics"]["tool_calls"] == 4.0
    finally:
        env.close()


@pytest.mark.parametrize(
    ("tool", "reason"),
    [
        ("hang", "did not answer within 1 s"),
        ("crash", "exited (status 1)"),
        ("garbage", "is not JSON-RPC"),
        ("flood", "a message of over"),
    ],
)
def test_a_server_failing_mid_episode_is_an_invalid_action(tool: str, reason: str) -> None:
    env = custom(hostile(), max_message_bytes=1 << 20)
    try:
        env.reset(seed=0)
        pid = env.server.pid
        start = time.monotonic()
        observation, _, terminated, truncated, info = env.step(json.dumps({"tool": tool}))
        assert time.monotonic() - start < env.step_time_limit(info)
        assert info["invalid_action"] and info["tool_status"] == "failed"
        assert reason in observation and not (terminated or truncated)
        assert pid is not None and gone(pid)
        observation, _, _, _, info = env.step("echo[again]")  # restarted
        assert observation.startswith("echo returned:\nagain") and not info["invalid_action"]
        assert env.episode_metrics()["server_failures"] == 1.0
    finally:
        env.close()


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (ServerConfig("/no/such/program"), "no program"),
        (hostile("exit"), "exited (status 3)"),
        (hostile("hang"), "did not start within 2 s"),
        (hostile("garbage"), "not JSON-RPC"),
    ],
)
def test_a_server_that_does_not_start_leaves_the_env_playable(
    config: ServerConfig, reason: str
) -> None:
    env = custom(config, max_restarts=1)
    try:
        _, info = env.reset(seed=0)
        assert (
            "The tool server is not available now: the MCP server did not start"
            in (info["instruction"])
        )
        assert reason in info["instruction"]
        _, _, _, _, info = env.step('{"tool": "echo", "arguments": {"text": "x"}}')
        assert info["invalid_action"] and reason in info["invalid_reason"]
        _, _, _, _, info = env.step('{"tool": "echo", "arguments": {"text": "x"}}')
        assert info["invalid_action"] and "answer without tools" in info["invalid_reason"]
        assert info["tool_status"] == "unavailable"
        _, reward, terminated, _, info = env.step("answer[seven]")
        assert terminated and reward == 1.0
        assert info["episode_metrics"]["tool_calls"] == 0.0
    finally:
        env.close()


def test_close_and_copies_leave_no_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    env = custom(hostile("spawn", HOSTILE_PID_FILE=str(pid_file)))
    env.reset(seed=0)
    env.step("echo[one]")
    clone = pickle.loads(pickle.dumps(env))
    observation, *_ = clone.step("echo[two]")
    assert observation.startswith("echo returned:\ntwo")
    pids = [env.server.pid, clone.server.pid, int(pid_file.read_text())]
    env.close()
    clone.close()
    deadline = time.monotonic() + 3
    while not all(gone(p) for p in pids if p) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(gone(p) for p in pids if p)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "serchqa"}, "did you mean 'searchqa'?"),
        ({"task": "custom"}, "task='custom' needs questions="),
        ({"questions": QUESTIONS}, "questions= go with task='custom'"),
        ({"task": "custom", "questions": QUESTIONS}, "has no default server; pass server="),
        ({"server": {"comand": "x"}}, "unknown field 'comand'; did you mean 'command'?"),
        ({"server": {"command": "x", "args": "y"}}, "server.args must be a list of strings"),
        ({"server": "{"}, "server is not valid JSON"),
        ({"call_timeout_s": 0}, "call_timeout_s must lie in (0, 3600]"),
        ({"call_timeout_s": "5"}, "call_timeout_s must lie in (0, 3600]"),
        ({"max_tool_calls": 2.5}, "max_tool_calls must be an int of at least 0"),
        ({"max_tool_calls": True}, "max_tool_calls must be an int of at least 0"),
        ({"task": "custom", "server": {"command": "x"}, "questions": [{"q": 1}]}, "questions[0]"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        MCPToolEnv(**kwargs)
    assert message in str(exc.value)


def test_questions_from_a_jsonl_file(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(json.dumps(q) for q in QUESTIONS * 2))
    env = MCPToolEnv(server=hostile().to_dict(), task="custom", questions=str(path))
    try:
        observation, _ = env.reset(seed=1)
        assert observation == "Question: What does echo say to 'seven'?"
    finally:
        env.close()


def test_a_servers_tool_listing_is_held_to_bounds() -> None:
    env = custom(hostile("weird_tools"))
    try:
        _, info = env.reset(seed=0)
        assert [tool.name for tool in env.tools] == ["odd"]
        assert "- odd: " + "d" * 1000 + "\n" in info["instruction"]  # cut to 1000
        assert len(info["instruction"]) < 3000
    finally:
        env.close()


def test_arguments_too_deep_to_send_cost_no_call_and_no_restart() -> None:
    # 300 levels pass json.loads, but pydantic cannot write the request: the agent's error,
    # not the server's.
    env = custom(hostile(), max_restarts=0)
    try:
        env.reset(seed=0)
        pid = env.server.pid
        deep = '{"tool": "echo", "arguments": {"text": "x", "d": ' + "[" * 300 + "]" * 300 + "}}"
        for _ in range(3):
            _, _, _, _, info = env.step(deep)
            assert info["invalid_action"] and "nested more than 64" in info["invalid_reason"]
            assert "tool_status" not in info
        observation, _, _, _, info = env.step("echo[still]")
        assert observation.startswith("echo returned:\nstill") and env.server.pid == pid
        metrics = env.episode_metrics()
        assert (metrics["tool_calls"], metrics["server_failures"]) == (1.0, 0.0)
        assert metrics["invalid_actions"] == 3.0
    finally:
        env.close()


def test_malformed_input_schemas_never_raise() -> None:
    env = custom(hostile("bad_schemas"))
    try:
        env.reset(seed=0)
        names = [tool.name for tool in env.tools]
        assert names == ["required_null", "properties_null", "additional_junk"]
        both = {"text": "x", "n": 1}
        for name in names:
            for action in (f"{name}[x]", json.dumps({"tool": name}),
                           json.dumps({"tool": name, "arguments": both})):  # fmt: skip
                _, _, _, _, info = env.step(action)
                assert info["invalid_action"] or info["tool_status"] == "ok"
            env.reset(seed=0)  # a fresh budget of calls
        observation, _, _, _, info = env.step('{"tool": "required_null", "arguments": {}}')
        assert observation.startswith("required_null returned:\n{}") and not info["invalid_action"]
    finally:
        env.close()


@pytest.mark.parametrize("mode", ["redos", "expo"])
def test_an_output_schema_cannot_stall_a_step(mode: str) -> None:
    env = custom(hostile(mode), call_timeout_s=1.0)
    try:
        env.reset(seed=0)
        for _ in range(3):
            start = time.monotonic()
            observation, _, _, _, info = env.step("echo[x]")
            assert time.monotonic() - start < 1.0
            assert observation.startswith("echo returned:\nx") and info["tool_status"] == "ok"
        assert env.episode_metrics()["server_failures"] == 0.0
    finally:
        start = time.monotonic()
        env.close()
        assert time.monotonic() - start < 1.0


def test_a_server_that_fails_to_start_at_a_call_costs_no_call() -> None:
    env = custom(hostile("exit"), max_restarts=5)
    try:
        env.reset(seed=0)
        for _ in range(2):
            _, _, _, _, info = env.step('{"tool": "echo", "arguments": {"text": "x"}}')
            assert info["tool_status"] == "failed"
        metrics = env.episode_metrics()
        assert (metrics["tool_calls"], metrics["server_failures"]) == (0.0, 3.0)
    finally:
        env.close()
