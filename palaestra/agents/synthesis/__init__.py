"""LLM policy synthesis for the social dilemmas: Gathering, Cleanup and the matrix games.

Instead of acting turn by turn, the LLM writes a ``policy(obs) -> action`` program; every
player of a self-play episode runs its own sandboxed copy; the LLM refines the program from
the feedback. See :func:`synthesize`.
"""

from palaestra.agents.synthesis.extract import ReplyError, extract_policy
from palaestra.agents.synthesis.loop import (
    AgentWriter,
    Candidate,
    CodeWriter,
    ScriptedWriter,
    SynthesisResult,
    synthesize,
)
from palaestra.agents.synthesis.reference import REFERENCE_POLICIES
from palaestra.agents.synthesis.selfplay import Evaluation, evaluate_policy, social_game

__all__ = [
    "REFERENCE_POLICIES",
    "AgentWriter",
    "Candidate",
    "CodeWriter",
    "Evaluation",
    "ReplyError",
    "ScriptedWriter",
    "SynthesisResult",
    "evaluate_policy",
    "extract_policy",
    "social_game",
    "synthesize",
]
