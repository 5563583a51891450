"""Check that a model's chat template and palaestra's token bookkeeping agree.

Multi-turn RL trains on the tokens the policy sampled, inside a sequence built from a chat
template. Three things silently go wrong in many stacks, and :func:`check_chat_tokens`
checks each, reporting the first mismatch with the decoded text around it:

1. **loss mask**: the tokens marked for training are exactly the sampled response tokens,
   end-of-turn token included, and no role marker or environment text;
2. **prefix**: each turn's prompt extends the previous prompt and response, so the one-
   sequence (``concat``) layout equals what the model saw turn by turn;
3. **rebuild**: prompts built incrementally equal the prompt rendered from scratch with the
   chat template and tokenized (on a conversation whose replies are canonical tokenizations;
   a sampled reply may legitimately tokenize differently from its text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from palaestra.llm.prompting import ChatSession, ChatTemplateError, PromptConfig
from palaestra.rollout.records import Episode, PrefixError, Turn, concat_tokens

__all__ = ["PROBE_CONVERSATION", "ChatCheckReport", "ChatTemplateError", "check_chat_tokens"]

#: The scripted conversation of the rebuild check: awkward but ordinary text.
PROBE_CONVERSATION: tuple[tuple[str, str], ...] = (
    ("You are in a kitchen. There is a fridge.\nAvailable: open fridge, look", "open fridge"),
    ("The fridge is open. Inside: an apple, 2 eggs, crème fraîche.", " take apple\n"),
    ("Invalid action: the action is empty.\n\nRound 3 of 50.", "<action>B</action>"),
    ("Problem: Compute 3/4 + 1/8. Give \\boxed{}.", "7/8 → \\boxed{\\frac{7}{8}}"),
)


@dataclass
class ChatCheckReport:
    """Result of :func:`check_chat_tokens`.

    Attributes:
        problems: One line per failed check (empty when everything agrees).
        checked_turns: Turns checked.
    """

    problems: list[str] = field(default_factory=list)
    checked_turns: int = 0

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.problems


def check_chat_tokens(
    tokenizer: Any,
    episodes: Sequence[Episode] = (),
    *,
    prompt: PromptConfig | None = None,
    raise_on_failure: bool = False,
) -> ChatCheckReport:
    """Run the checks on the scripted probe conversation and on ``episodes``.

    Args:
        tokenizer: The model's tokenizer (with its chat template).
        episodes: Episodes played by an :class:`~palaestra.llm.hf_agent.HFAgent` with full
            history (their sampled tokens are checked).
        prompt: The prompt settings the episodes were played with.
        raise_on_failure: Raise :class:`ChatTemplateError` instead of returning problems.
    """
    config = prompt or PromptConfig()
    report = ChatCheckReport()
    probe = _probe_episode(tokenizer, config, report)
    for episode in [probe, *episodes]:
        _check_episode(tokenizer, episode, report)
    if raise_on_failure and not report.ok:
        raise ChatTemplateError("; ".join(report.problems))
    return report


def _probe_episode(tokenizer: Any, config: PromptConfig, report: ChatCheckReport) -> Episode:
    """Play the probe conversation through a :class:`ChatSession`, as an agent would."""
    instruction = "Play the game. Reply with one action."
    session = ChatSession(tokenizer, instruction, config)
    episode = Episode(env_id="probe", seed=None, instruction=instruction)
    end = tokenizer.eos_token or ""
    messages: list[dict[str, str]] = list(session.messages)
    for observation, reply in PROBE_CONVERSATION:
        try:
            prompt_ids = session.observe(observation, {})
        except ChatTemplateError as exc:
            report.problems.append(f"rebuild: turn {len(episode.turns)}: {exc}")
            break
        messages.append({"role": "user", "content": observation})
        rebuilt = _tokenize(
            tokenizer,
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True),
        )
        _compare(tokenizer, rebuilt, prompt_ids, f"rebuild: turn {len(episode.turns)}", report)
        response_ids = _tokenize(tokenizer, reply + end)
        session.reply(response_ids, reply)
        messages.append({"role": "assistant", "content": reply})
        episode.turns.append(
            Turn(
                observation=observation,
                action=reply,
                response=reply,
                prompt_ids=prompt_ids,
                response_ids=response_ids,
                logprobs=[0.0] * len(response_ids),
                entropies=[0.0] * len(response_ids),
            )
        )
    return episode


def _check_episode(tokenizer: Any, episode: Episode, report: ChatCheckReport) -> None:
    name = f"episode {episode.env_id}/{episode.seed}"
    try:
        ids, mask, turn_of = concat_tokens(episode)
    except PrefixError as exc:
        report.problems.append(f"prefix: {name}: {exc}")
        return
    trained = [token for token, m in zip(ids, mask, strict=True) if m]
    sampled = [token for turn in episode.turns for token in turn.response_ids]
    if trained != sampled:
        report.problems.append(f"loss mask: {name}: the masked tokens are not the sampled ones")
    markers = _role_marker_ids(tokenizer)
    end = tokenizer.eos_token_id
    for index, turn in enumerate(episode.turns):
        report.checked_turns += 1
        inner = turn.response_ids[:-1] if turn.finish_reason == "stop" else turn.response_ids
        leaked = [t for t in inner if t in markers]
        if leaked:
            marker = tokenizer.convert_ids_to_tokens(leaked[0])
            report.problems.append(
                f"loss mask: {name} turn {index}: role marker {marker!r} would be trained on"
            )
        if turn.finish_reason == "stop" and (not turn.response_ids or turn.response_ids[-1] != end):
            report.problems.append(
                f"loss mask: {name} turn {index}: the end-of-turn token is not the last "
                "trained token"
            )
    if len(turn_of) != len(ids):
        report.problems.append(f"loss mask: {name}: turn index and ids differ in length")


def _role_marker_ids(tokenizer: Any) -> set[int]:
    ids = set()
    for token in getattr(tokenizer, "all_special_tokens", []):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is not None and token != tokenizer.eos_token:
            ids.add(int(token_id))
    return ids


def _compare(
    tokenizer: Any, expected: list[int], got: list[int], what: str, report: ChatCheckReport
) -> None:
    if expected == got:
        return
    index = next(
        (k for k, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
        min(len(expected), len(got)),
    )
    context = tokenizer.decode(expected[max(0, index - 8) : index + 8])
    report.problems.append(
        f"{what}: the incremental prompt differs from the template's at token {index} "
        f"(expected {expected[index : index + 3]}, got {got[index : index + 3]}, near {context!r})"
    )


def _tokenize(tokenizer: Any, text: Any) -> list[int]:
    return list(tokenizer(str(text), add_special_tokens=False)["input_ids"])
