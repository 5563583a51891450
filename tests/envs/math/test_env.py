"""Math envs: oracle wins, wrong answers score 0, attempts, ground truth, the tool."""

import json
from pathlib import Path

import gymnasium as gym
import pytest

import palaestra
from palaestra.agents import OracleAgent
from palaestra.errors import InvalidArgumentError

# Reaches the os module's functions without importing anything.
ESCAPE = (
    "g = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close']"
    "[0].__init__.__globals__\n"
)
DATA = Path(palaestra.__file__).parent / "envs" / "math" / "data"
MATH_IDS = [i for i in palaestra.env_ids() if "Math" in i]


@pytest.mark.parametrize("env_id", MATH_IDS)
def test_oracle_wins_every_variant(env_id: str) -> None:
    env = gym.make(env_id)
    records = palaestra.run_episodes(env, OracleAgent(env), episodes=5)
    assert all(r.success and r.total_reward == 1.0 for r in records)


@pytest.mark.parametrize("env_id", MATH_IDS)
def test_wrong_answer_scores_zero(env_id: str) -> None:
    env = gym.make(env_id)
    _, info = env.reset(seed=0)
    gold = env.unwrapped.problem.answer
    wrong = "123456789" if gold != "123456789" else "1"
    total, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, info = env.step(f"\\boxed{{{wrong}}}")
        total += reward
        done = terminated or truncated
    assert total == 0.0 and info["success"] is False
    assert "123456789" not in str(info.get("ground_truth", ""))


def test_single_turn_contract() -> None:
    env = gym.make("palaestra/Math-v0")
    obs, info = env.reset(seed=1)
    assert obs.startswith("Problem: ")
    assert "\\boxed" in info["instruction"]
    assert "ground_truth" not in info
    _, _, terminated, _, info = env.step("\\boxed{0}")
    assert terminated and info["episode_metrics"]["attempts"] == 1.0
    assert info["grade_reason"].startswith("fast path")


def test_feedback_attempts_and_discount() -> None:
    env = gym.make("palaestra/MathFeedback-v0")
    env.reset(seed=2)
    gold = env.unwrapped.problem.answer
    obs, reward, terminated, _, info = env.step("\\boxed{99999}")
    assert not terminated and reward == 0.0
    assert "not correct. You have 2 attempts left" in obs and "Problem:" in obs
    assert gold not in obs.split("Problem:")[0]
    obs, reward, terminated, _, info = env.step("I am not sure.")  # no answer: an attempt
    assert info["invalid_action"] and not terminated and reward == 0.0
    _, reward, terminated, _, info = env.step(f"\\boxed{{{gold}}}")
    assert terminated and info["success"] and reward == pytest.approx(0.25)
    assert info["episode_metrics"]["attempts"] == 3.0


def test_out_of_attempts_ends_without_revealing() -> None:
    env = gym.make("palaestra/MathFeedback-v0")
    env.reset(seed=3)
    gold = env.unwrapped.problem.answer
    for _ in range(3):
        obs, _, terminated, _, info = env.step("\\boxed{-777}")
    assert terminated and not info["success"] and "No attempts left" in obs
    assert gold not in obs


def test_format_reward() -> None:
    env = gym.make("palaestra/Math-v0", format_reward=0.1)
    env.reset(seed=4)
    gold = env.unwrapped.problem.answer
    assert env.step(f"\\boxed{{{gold}}}")[1] == pytest.approx(1.1)
    env.reset(seed=4)
    assert env.step(f"Answer: {gold}")[1] == pytest.approx(1.0)
    env.reset(seed=4)
    assert env.step("\\boxed{-31337}")[1] == pytest.approx(0.1)


def test_ground_truth_only_on_request() -> None:
    env = gym.make("palaestra/Math-Word-v0", expose_ground_truth=True)
    obs, info = env.reset(seed=5)
    assert info["ground_truth"] == env.unwrapped.problem.answer
    assert info["ground_truth"] not in obs.split("?")[-1]
    assert env.step("\\boxed{0}")[4]["ground_truth"] == info["ground_truth"]


def test_data_file_problems_and_index_option() -> None:
    env = gym.make("palaestra/Math-v0", data_path=str(DATA / "sample_math.jsonl"))
    obs, _ = env.reset(seed=0, options={"index": 3})
    assert "\\sqrt{50}" in obs
    _, reward, *_ = env.step("So $\\sqrt{50} = \\boxed{5 \\sqrt 2}$")
    assert reward == 1.0
    env.reset(options={"index": 2})
    assert env.step("\\boxed{[-1,3]}")[1] == 1.0
    with pytest.raises(InvalidArgumentError, match=r"options\['index'\]"):
        env.reset(options={"index": 99})


def test_gsm8k_file_with_generic_reply() -> None:
    env = gym.make("palaestra/MathFeedback-v0", data_path=str(DATA / "sample_gsm8k.jsonl"))
    env.reset(options={"index": 2})
    _, reward, terminated, *_ = env.step("They have 1,225 books.\nAnswer: 1,225")
    assert terminated and reward == 1.0


@pytest.mark.parametrize(
    ("gold", "reply"),
    [
        ("odd", "The sum of two odd numbers plus one is always $odd$."),
        ("$$(1, +\\infty)$$", "$$(1, +\\infty)$$"),
        ("(2, 2), (6, 2)", "\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}"),
        ("$\\frac{1}{\\sqrt{6}}$", "Hence $\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}$"),
        ("$$-793 < a < 10$$", "The answer is $(-793, 10)$"),
    ],
)
def test_answers_math_verify_reads_score_without_a_box(
    tmp_path: Path, gold: str, reply: str
) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"question": "q", "answer": gold}))
    env = gym.make("palaestra/Math-v0", data_path=str(data))
    env.reset(seed=0)
    _, reward, _, _, info = env.step(reply)
    assert reward == 1.0 and info["grade_reason"] == "math-verify: equivalent", info


def test_a_reply_math_verify_finds_no_answer_in_is_invalid() -> None:
    env = gym.make("palaestra/MathFeedback-v0")
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step("I am not sure.")
    assert info["invalid_action"] and reward == 0.0 and not terminated
    assert "no final answer found" in obs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "geometry"}, "task must be one of"),
        ({"task": "word_"}, "did you mean 'word'"),
        ({"difficulty": 4}, "difficulty must be 0, 1, 2 or 3"),
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
        ({"attempt_discount": 2}, "attempt_discount"),
        ({"extraction": "box"}, "did you mean 'boxed'"),
        ({"data_path": "/nonexistent/gsm8k.jsonl"}, "/nonexistent/gsm8k.jsonl: no such file"),
        ({"grading_timeout": -1}, "timeout must be positive"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        gym.make("palaestra/Math-v0", **kwargs)


@pytest.mark.parametrize(
    "reply",
    [
        "\\boxed{" + "9" * (1 << 20) + "}",
        "\\boxed{" + "{" * 5000 + "}",
        "\\boxed{9^{9^{9^{9}}}}",
        "\\boxed{\\frac{1}{2}",
        "\x00\x01\x02 binary",
    ],
    ids=["1MB", "deep-latex", "tower", "unbalanced", "binary"],
)
def test_hostile_answers_score_zero_with_reason_and_env_stays_usable(reply: str) -> None:
    env = gym.make("palaestra/Math-v0", grading_timeout=2.0)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(reply)
    assert reward == 0.0 and terminated and not info["success"]
    assert info.get("grade_reason") or info.get("invalid_reason")
    env.reset(seed=0)
    assert env.step(env.unwrapped.oracle_action())[1] == 1.0


class TestTool:
    @staticmethod
    def tool(code: str, **kwargs: object) -> tuple[str, dict]:
        env = gym.make(
            "palaestra/MathTool-v0", tool_wall_seconds=3.0, tool_cpu_seconds=1.0, **kwargs
        )
        env.reset(seed=0)
        obs, reward, terminated, _, info = env.step(f"<python>\n{code}\n</python>")
        assert reward == 0.0 and not terminated
        # The env stays usable after any tool call.
        _, reward, *_ = env.step(env.unwrapped.oracle_action())
        return obs, {**info, "after": reward}

    def test_tool_output_and_metrics(self) -> None:
        env = gym.make("palaestra/MathTool-v0")
        env.reset(seed=1)
        obs, *_ = env.step("```python\nimport sympy\nprint(sympy.Rational(1, 3) + 1)\n```")
        assert "Tool output:\n4/3" in obs and "3 tool calls left" in obs
        _, _, terminated, _, info = env.step(env.unwrapped.oracle_action())
        assert terminated and info["episode_metrics"]["tool_calls"] == 1.0

    def test_oracle_uses_the_tool(self) -> None:
        env = gym.make("palaestra/MathTool-v0")
        record = palaestra.run_episode(env, OracleAgent(env), seed=7)
        assert record.length == 2 and record.success and record.metrics["tool_calls"] == 1.0

    @pytest.mark.parametrize(
        ("code", "expected"),
        [
            ("while True:\n    pass", "CPU time limit"),
            ("import os\nos.fork()", "import of 'os' is not allowed"),
            ("x = bytearray(10 * 1024**3)", "memory limit"),
            ("print(open('/etc/passwd').read())", "name 'open' is not defined"),
            ("import socket", "import of 'socket' is not allowed"),
            ("import subprocess", "import of 'subprocess' is not allowed"),
            (
                ESCAPE + "g['system']('touch /tmp/palaestra_pwned')",
                "os.system is not allowed",
            ),
            (
                ESCAPE + "g['fork']()",
                "os.fork is not allowed",
            ),
            (
                ESCAPE + "g['__builtins__']['open']('/tmp/x', 'w')",
                "open is not allowed",
            ),
            ("print('y' * 10**6)", "output cut to 2000 characters"),
            ("def (", "SyntaxError"),
        ],
        ids=[
            "loop",
            "fork",
            "10GB",
            "read-file",
            "socket",
            "subprocess",
            "escape-system",
            "escape-fork",
            "escape-write",
            "output-flood",
            "syntax",
        ],
    )
    def test_hostile_tool_code_is_contained(self, code: str, expected: str) -> None:
        obs, info = self.tool(code)
        assert expected in obs
        assert info["after"] == 1.0
        assert not Path("/tmp/palaestra_pwned").exists()

    def test_tool_budget(self) -> None:
        env = gym.make("palaestra/MathTool-v0", max_tool_calls=1, max_attempts=2)
        env.reset(seed=0)
        assert env.step("<python>print(1)</python>")[4]["invalid_action"] is False
        obs, _, terminated, _, info = env.step("<python>print(2)</python>")
        assert info["invalid_action"] and "all 1 tool calls are used" in obs and not terminated

    def test_only_a_step_that_ran_code_may_take_the_tools_time(self) -> None:
        env = gym.make("palaestra/MathTool-v0", tool_wall_seconds=3.0)
        env.reset(seed=0)
        base = env.unwrapped
        _, _, _, _, info = env.step("<python>print(1)</python>")
        assert base.step_time_limit(info) == 4.0
        _, _, _, _, info = env.step("<python>" * 2000)  # no closer: parsed, never run
        # Graded instead, by math-verify, which the grading timeout bounds.
        assert "tool_status" not in info
        assert base.step_time_limit(info) == base.grader.timeout + 2.0

    def test_tool_output_is_seeded(self) -> None:
        outputs = []
        for _ in range(2):
            env = gym.make("palaestra/MathTool-v0")
            env.reset(seed=11)
            outputs.append(env.step("<python>import random\nprint(random.random())</python>")[0])
        assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("<python>print(1)</python>", "print(1)"),
        ("<PYTHON>x = 2</Python>", "x = 2"),
        ("first ```python\nprint(2)\n``` then <python>3</python>", "print(2)\n"),
        ("```py  \nprint(3)```", "print(3)"),
        ("<python>no closer", None),
        ("```python\nno closer", None),
        ("plain text", None),
        ("<python>" * 30_000, None),  # a scan from every opener took seconds
        ("```python\n" * 6_000, ""),
    ],
)
def test_code_blocks(reply: str, code: str | None) -> None:
    from palaestra.envs.math.env import code_block

    assert code_block(reply) == code
