"""The policy synthesis loop: an LLM writes ``policy(obs)``, self-play scores it, repeat.

Each iteration the writer sees the game's rules, the observation and action interface, and
the previous candidate's code with its feedback: the mean reward only (``sparse``) or also
the social metrics (``dense``), plus the failed calls in both. Every candidate is kept, with
its reply, code, evaluation and the feedback it produced; the best by mean reward is
returned.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from palaestra.agents.synthesis.extract import ReplyError, extract_policy
from palaestra.agents.synthesis.prompts import Feedback, feedback_text, task_prompt
from palaestra.agents.synthesis.selfplay import Evaluation, evaluate_policy, social_game
from palaestra.errors import InvalidArgumentError, did_you_mean
from palaestra.llm.prompting import PromptConfig
from palaestra.progress import track
from palaestra.sandbox import isolation
from palaestra.sandbox.policy import PolicyLimits


class CodeWriter(Protocol):
    """Anything that answers a prompt with text (an LLM, or a script in tests)."""

    def write(self, prompt: str) -> str:
        """The reply to ``prompt``."""
        ...


#: How a code writer's agent reads prompts: the whole reply is the answer.
WRITER_PROMPT = PromptConfig(extract="whole", format_hint=False, show_available_actions=False)


class AgentWriter:
    """A palaestra LLM agent as a code writer.

    Each prompt starts a fresh one-turn conversation. Give the agent
    :data:`WRITER_PROMPT` (``extract="whole"``) so that the whole reply is kept;
    :meth:`from_spec` does.

    Args:
        agent: An agent with ``reset(instruction)`` and ``act(observation, info)``.
    """

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    @classmethod
    def from_spec(cls, spec: str, *, max_new_tokens: int = 768, seed: int = 0) -> AgentWriter:
        """A writer for ``hf:MODEL`` or ``openai:MODEL@URL``."""
        kind, _, rest = spec.partition(":")
        if kind == "hf" and rest:
            from palaestra.llm.generation import SamplingConfig
            from palaestra.llm.hf_agent import HFAgent

            sampling = SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.7)
            return cls(HFAgent.from_spec(rest, prompt=WRITER_PROMPT, sampling=sampling, seed=seed))
        if kind == "openai" and rest:
            from palaestra.llm.openai_agent import OpenAIChatAgent

            model, _, url = rest.partition("@")
            return cls(
                OpenAIChatAgent(
                    model, base_url=url or None, prompt=WRITER_PROMPT, max_tokens=max_new_tokens
                )
            )
        raise InvalidArgumentError(
            f"a code writer is an LLM: hf:MODEL or openai:MODEL@URL, not {spec!r}"
        )

    def write(self, prompt: str) -> str:
        """One reply to ``prompt``."""
        self.agent.reset(prompt)
        return str(self.agent.act("Write the policy now.", {}))


def make_writer(spec: str, *, seed: int = 0) -> CodeWriter:
    """A writer from a spec: ``hf:MODEL``, ``openai:MODEL@URL`` or ``reference:NAME``.

    ``reference:NAME`` answers every prompt with a hand-written reference policy: a
    baseline run of the same loop.
    """
    kind, _, name = spec.partition(":")
    if kind == "reference":
        from palaestra.agents.synthesis.reference import REFERENCE_POLICIES

        if name not in REFERENCE_POLICIES:
            raise InvalidArgumentError(
                f"unknown reference policy {name!r}{did_you_mean(name, REFERENCE_POLICIES)}; "
                f"choose one of {', '.join(REFERENCE_POLICIES)}"
            )
        return ScriptedWriter([f"```python\n{REFERENCE_POLICIES[name]}```"])
    return AgentWriter.from_spec(spec, seed=seed)


class ScriptedWriter:
    """Answers with the given replies in turn (the last one repeats): tests and baselines."""

    def __init__(self, replies: list[str]) -> None:
        if not replies:
            raise InvalidArgumentError("ScriptedWriter needs at least one reply")
        self.replies = list(replies)
        self.prompts: list[str] = []

    def write(self, prompt: str) -> str:
        """The next scripted reply."""
        self.prompts.append(prompt)
        return self.replies[min(len(self.prompts) - 1, len(self.replies) - 1)]


@dataclass
class Candidate:
    """One iteration: what was asked, answered, run and said back.

    Attributes:
        iteration: 0-based.
        prompt: The prompt the writer saw.
        reply: Its reply.
        code: The extracted ``policy`` source (``None`` when the reply had none).
        evaluation: Its self-play results (``None`` when there was no code).
        feedback: What the next prompt tells the writer about this candidate.
    """

    iteration: int
    prompt: str
    reply: str
    code: str | None
    evaluation: Evaluation | None
    feedback: str

    @property
    def reward(self) -> float:
        """Mean reward per player (-inf without a policy)."""
        return self.evaluation.reward if self.evaluation else float("-inf")


@dataclass
class SynthesisResult:
    """Every candidate and the best one."""

    env_id: str
    feedback: Feedback
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def best(self) -> Candidate | None:
        """The candidate with the highest mean reward (the earliest on ties), if any ran."""
        scored = [c for c in self.candidates if c.evaluation is not None]
        return max(scored, key=lambda c: c.reward) if scored else None

    def save(self, folder: Path) -> list[Path]:
        """Write ``candidates.json``, ``best_policy.py`` and ``synthesis.png`` to ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        written = [folder / "candidates.json"]
        rows = [asdict(c) for c in self.candidates]
        written[0].write_text(json.dumps({"env": self.env_id, "feedback": self.feedback,
                                          "candidates": rows}, indent=1))  # fmt: skip
        best = self.best
        if best is not None and best.code is not None:
            written.append(folder / "best_policy.py")
            written[-1].write_text(best.code + "\n")
        written.append(plot_iterations(self, folder / "synthesis.png"))
        return written


def synthesize(
    writer: CodeWriter,
    env_id: str,
    *,
    iterations: int = 5,
    feedback: Feedback = "dense",
    episodes: int = 3,
    seed: int = 0,
    limits: PolicyLimits | None = None,
    progress: bool = True,
    unsafe_sandbox: bool | None = None,
) -> SynthesisResult:
    """Run the synthesis loop for ``iterations`` candidates on a grid social dilemma.

    Args:
        writer: Who writes the code.
        env_id: A social-dilemma id: ``palaestra/Gathering-v0``, ``palaestra/Cleanup-v0``,
            or a matrix game such as ``palaestra/PrisonersDilemma-v0``.
        iterations: Candidates to write.
        feedback: ``sparse`` (mean reward) or ``dense`` (and the four social metrics).
        episodes: Self-play episodes per candidate (seeds ``seed ... seed+episodes-1``, the
            same for every candidate so they are compared on equal terms).
        seed: First episode seed.
        limits: Sandbox limits of every policy call.
        progress: Show a progress bar.
        unsafe_sandbox: Run the candidates without the OS sandbox where this machine
            cannot build it (``None``: ``PALAESTRA_UNSAFE_SANDBOX``).

    Raises:
        SandboxUnavailableError: The OS sandbox cannot be built and there is no opt-in
            (checked before the first candidate is written).
    """
    if feedback not in ("sparse", "dense"):
        raise InvalidArgumentError(f"feedback is 'sparse' or 'dense', not {feedback!r}")
    if iterations < 1:
        raise InvalidArgumentError("iterations must be >= 1")
    limits = limits or PolicyLimits()
    isolation.require(unsafe_sandbox, "policy synthesis")
    game = social_game(env_id)
    task = task_prompt(game, limits)
    result = SynthesisResult(env_id, feedback)
    for iteration in track(range(iterations), description="synthesis", enabled=progress):
        prompt = task
        if result.candidates:
            last = result.candidates[-1]
            shown = last.code if last.code is not None else last.reply[:2000]
            prompt += (
                f"\n\nYour previous attempt:\n```python\n{shown}\n```\nFeedback:\n"
                f"{last.feedback}\nImprove the policy."
            )
        try:
            reply = writer.write(prompt)
        except Exception as exc:
            reply, code, error = "", None, f"the writer failed: {exc}"
        else:
            try:
                code, error = extract_policy(reply), ""
            except ReplyError as exc:
                code, error = None, str(exc)
        evaluation = None
        if code is None:
            text = f"No policy was run: {error}."
        else:
            evaluation = evaluate_policy(
                code, game, episodes=episodes, seed=seed, limits=limits,
                unsafe_sandbox=unsafe_sandbox,
            )  # fmt: skip
            text = feedback_text(
                feedback, evaluation.reward, evaluation.metrics, evaluation.failures,
                evaluation.errors, evaluation.episodes,
            )  # fmt: skip
        result.candidates.append(Candidate(iteration, prompt, reply, code, evaluation, text))
    return result


def plot_iterations(result: SynthesisResult, path: Path) -> Path:
    """Reward and the four social metrics per iteration (gaps where no policy ran)."""
    import numpy as np

    from palaestra.plots import plot_curves

    def series(pick: Any) -> np.ndarray:
        return np.asarray(
            [pick(c.evaluation) if c.evaluation else np.nan for c in result.candidates],
            dtype=float,
        )

    panels = {"mean reward per player": {"reward": series(lambda e: e.reward)}}
    for metric in ("efficiency", "equality", "sustainability", "peace"):
        panels[metric] = {metric: series(lambda e, m=metric: e.metrics[m])}
    return plot_curves(
        panels,
        path,
        xlabel="iteration",
        ylabel="",
        title=f"policy synthesis on {result.env_id} ({result.feedback} feedback)",
    )
