"""The synthesis loop end to end: a scripted code writer, the tiny model, the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from palaestra.agents.synthesis import (
    REFERENCE_POLICIES,
    ScriptedWriter,
    evaluate_policy,
    social_game,
    synthesize,
)
from palaestra.agents.synthesis.loop import make_writer
from palaestra.cli import main
from palaestra.errors import InvalidArgumentError
from palaestra.sandbox.policy import PolicyLimits

LIMITS = PolicyLimits(call_cpu_seconds=0.2, call_wall_seconds=1.0, episode_wall_seconds=10.0)


def fenced(code: str) -> str:
    return f"Here is my policy.\n```python\n{code}\n```"


def test_a_writer_that_improves_gets_its_best_kept(tmp_path: Path) -> None:
    writer = ScriptedWriter([
        "I think you should go for the apples.",
        fenced("def policy(obs):\n    return 1 / 0"),
        fenced(REFERENCE_POLICIES["random"]),
        fenced(REFERENCE_POLICIES["greedy"]),
        "```python\ndef policy(obs):\n    while True:\n        pass\n```",
    ])  # fmt: skip
    result = synthesize(
        writer, "palaestra/Gathering-v0", iterations=5, episodes=1, limits=LIMITS, progress=False
    )
    first, crashing, random_, greedy, looping = result.candidates
    assert first.code is None and first.evaluation is None
    assert "no code defining policy" in first.feedback
    assert crashing.evaluation is not None and crashing.evaluation.failures["error"] == 200
    assert "ZeroDivisionError" in crashing.feedback
    assert looping.evaluation is not None and looping.evaluation.failures["timeout"] == 200
    assert result.best is greedy and greedy.reward > random_.reward
    # Each prompt shows the previous attempt and its feedback.
    assert "no code defining policy" in writer.prompts[1]
    assert "ZeroDivisionError" in writer.prompts[2] and "1 / 0" in writer.prompts[2]
    # What went wrong before leaves a later candidate's score untouched.
    alone = evaluate_policy(REFERENCE_POLICIES["greedy"], social_game("palaestra/Gathering-v0"),
                            episodes=1, limits=LIMITS)  # fmt: skip
    assert greedy.evaluation == alone

    written = result.save(tmp_path)
    saved = json.loads((tmp_path / "candidates.json").read_text())
    assert len(saved["candidates"]) == 5 and saved["candidates"][3]["code"] == greedy.code
    assert (tmp_path / "best_policy.py").read_text().strip() == greedy.code.strip()
    assert (tmp_path / "synthesis.png").read_bytes()[:4] == b"\x89PNG"
    assert len(written) == 3


@pytest.mark.parametrize("mode", ["sparse", "dense"])
def test_sparse_feedback_gives_the_reward_only(mode: str) -> None:
    writer = ScriptedWriter([fenced(REFERENCE_POLICIES["random"])])
    result = synthesize(writer, "palaestra/Cleanup-v0", iterations=2, feedback=mode,  # type: ignore[arg-type]
                        episodes=1, limits=LIMITS, progress=False)  # fmt: skip
    feedback = result.candidates[0].feedback
    assert "Mean reward per player" in feedback
    assert ("efficiency" in feedback) == (mode == "dense")
    assert ("sustainability" in writer.prompts[1]) == (mode == "dense")


def test_the_tiny_model_writes_garbage_and_the_loop_goes_on(tiny: tuple[Any, Any]) -> None:
    from palaestra.agents.synthesis.loop import WRITER_PROMPT, AgentWriter
    from palaestra.llm.generation import SamplingConfig
    from palaestra.llm.hf_agent import HFAgent

    model, tokenizer = tiny
    agent = HFAgent(model, tokenizer, prompt=WRITER_PROMPT, sampling=SamplingConfig(64))
    writer = AgentWriter(agent)
    result = synthesize(
        writer, "palaestra/Gathering-v0", iterations=2, episodes=1, limits=LIMITS, progress=False
    )
    assert len(result.candidates) == 2
    for candidate in result.candidates:
        assert candidate.reply  # it said something
        assert candidate.feedback  # and was told what came of it


def test_a_local_model_by_spec_writes(tmp_path: Path) -> None:
    writer = make_writer("hf:tiny")
    reply = writer.write("Write the policy.")
    assert isinstance(reply, str) and reply == reply.strip()


def test_bad_arguments_are_clear_errors() -> None:
    writer = ScriptedWriter(["x"])
    with pytest.raises(InvalidArgumentError, match="sparse"):
        synthesize(writer, "palaestra/Gathering-v0", feedback="loud", progress=False)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="iterations"):
        synthesize(writer, "palaestra/Gathering-v0", iterations=0, progress=False)
    with pytest.raises(InvalidArgumentError, match="not a social dilemma"):
        synthesize(writer, "palaestra/Math-v0", progress=False)
    with pytest.raises(InvalidArgumentError, match="unknown reference policy"):
        make_writer("reference:greedyy")
    with pytest.raises(InvalidArgumentError, match="hf:MODEL or openai"):
        make_writer("random")


def test_the_writer_failing_is_feedback_too() -> None:
    class Broken:
        def write(self, prompt: str) -> str:
            raise ConnectionError("server down")

    result = synthesize(Broken(), "palaestra/Gathering-v0", iterations=1, progress=False)
    assert "the writer failed: server down" in result.candidates[0].feedback


def test_command_line(tmp_path: Path) -> None:
    argv = ["synthesize", "palaestra/Cleanup-v0", "--agent", "reference:cleaner-harvester",
            "--iterations", "1", "--episodes", "1", "--out", str(tmp_path),
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert (tmp_path / "best_policy.py").exists() and (tmp_path / "synthesis.png").exists()
    assert main(["synthesize", "palaestra/Bandit-v0", "--out", str(tmp_path)]) == 2
