"""Turn an episode into chat messages and token ids, and a reply into an action.

An episode is a chat: system = the instruction, user = each observation (followed by the
available actions where the env lists them), assistant = each reply. :class:`ChatSession`
keeps one episode's prompt as token ids, rendered with the model's own chat template:

* ``history=None`` (full history): each new prompt is the previous prompt, the sampled
  response ids as they were sampled, and the tokens of what the template adds after them
  (end of turn, the next user message, the generation prompt). Prompts therefore extend
  each other, and the trainer can use one sequence per episode (``concat`` layout).
* ``history=k``: each prompt is rendered afresh from the instruction and the last ``k``
  turns; long episodes stay short, and the trainer uses the ``per_turn`` layout.

Action extraction modes: ``whole`` (the reply, stripped), ``last_line``, ``tag`` (inside the
last ``<action>...</action>``) and ``choice`` (match against ``available_actions``: exact,
then contained, then the closest by edit similarity). A reply from which no action can be
extracted becomes the empty action, which every palaestra env treats as invalid.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from palaestra.errors import InvalidArgumentError, PalaestraError

ExtractMode = Literal["whole", "last_line", "tag", "choice"]
EXTRACT_MODES: tuple[str, ...] = ("whole", "last_line", "tag", "choice")

_TAG = re.compile(r"<action>(.*?)</action>", re.S | re.I)
_SENTINEL = "\u2063PALAESTRA\u2063"  # invisible separator: never produced by a template


class ChatTemplateError(PalaestraError):
    """A chat template and palaestra's token bookkeeping disagree; the message says how."""


@dataclass(frozen=True)
class PromptConfig:
    """How episodes are shown to a model and how its replies become actions.

    Attributes:
        history: ``None`` for the whole episode, or the number of past turns to show.
        show_available_actions: Append ``info["available_actions"]`` to each observation.
        max_available_actions: Show at most this many available actions.
        extract: Action extraction mode: ``whole``, ``last_line``, ``tag`` or ``choice``.
        format_hint: Append a sentence about the reply format to the instruction.
    """

    history: int | None = None
    show_available_actions: bool = True
    max_available_actions: int = 50
    extract: ExtractMode = "whole"
    format_hint: bool = True

    def __post_init__(self) -> None:
        if self.extract not in EXTRACT_MODES:
            raise InvalidArgumentError(
                f"extract must be one of {EXTRACT_MODES}, got {self.extract!r}"
            )
        if self.history is not None and self.history < 0:
            raise InvalidArgumentError(f"history must be None or >= 0, got {self.history}")


def extract_action(
    reply: str, mode: ExtractMode = "whole", available_actions: Sequence[str] | None = None
) -> str:
    """Return the action in ``reply`` according to ``mode``, or ``""`` if there is none."""
    text = reply.strip()
    if mode == "whole":
        return text
    if mode == "last_line":
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[-1] if lines else ""
    if mode == "tag":
        matches = _TAG.findall(text)
        return matches[-1].strip() if matches else ""
    return _match_choice(text, available_actions or ())


def _match_choice(text: str, actions: Sequence[str]) -> str:
    if not actions or not text:
        return ""
    lowered = {a.lower(): a for a in actions}
    lines = [line.strip().strip(".").lower() for line in text.splitlines() if line.strip()]
    for candidate in (text.lower(), *(reversed(lines))):
        if candidate in lowered:
            return lowered[candidate]
    tagged = _TAG.findall(text)
    if tagged and tagged[-1].strip().lower() in lowered:
        return lowered[tagged[-1].strip().lower()]
    # The longest action written in the reply (so "go north" wins over "go").
    contained = [a for a in actions if len(a) > 1 and a.lower() in text.lower()]
    if contained:
        return max(contained, key=len)
    close = difflib.get_close_matches(
        lines[-1] if lines else text.lower(), list(lowered), n=1, cutoff=0.6
    )
    return lowered[close[0]] if close else ""


def format_observation(observation: str, info: dict[str, Any], config: PromptConfig) -> str:
    """The user message for ``observation``: the text plus the available actions."""
    actions = info.get("available_actions") if config.show_available_actions else None
    if not actions:
        return observation
    shown = list(actions)[: config.max_available_actions]
    more = len(actions) - len(shown)
    tail = f" (and {more} more)" if more > 0 else ""
    return f"{observation}\n\nAvailable actions: {', '.join(shown)}{tail}"


def system_message(instruction: str, config: PromptConfig) -> str:
    """The system message: the instruction plus a hint about the reply format."""
    if not config.format_hint:
        return instruction
    hints = {
        "whole": "Reply with the action only.",
        "last_line": "Think if you like, then write the action alone on the last line.",
        "tag": "Think if you like, then write the action as <action>...</action>.",
        "choice": "Reply with one of the available actions.",
    }
    return f"{instruction}\n\n{hints[config.extract]}"


class ChatSession:
    """One episode's chat, kept as the token ids the model sees.

    Args:
        tokenizer: A Hugging Face tokenizer with a chat template.
        instruction: The episode's instruction (system message).
        config: Prompt settings.
    """

    def __init__(self, tokenizer: Any, instruction: str, config: PromptConfig) -> None:
        self.tokenizer = tokenizer
        self.config = config
        self.messages: list[dict[str, str]] = [
            {"role": "system", "content": system_message(instruction, config)}
        ]
        self.prompt_ids: list[int] = []
        end = tokenizer.convert_tokens_to_ids(tokenizer.eos_token) if tokenizer.eos_token else None
        self._end_of_turn: int | None = end

    def observe(self, observation: str, info: dict[str, Any]) -> list[int]:
        """Add the next observation and return the prompt ids for the model's reply."""
        user = {"role": "user", "content": format_observation(observation, info, self.config)}
        if self.config.history is not None or len(self.messages) == 1:
            self.messages.append(user)
            self.prompt_ids = self._render(self._windowed(), generation_prompt=True)
            return list(self.prompt_ids)
        # Full history: extend the ids the model actually produced with the template's
        # continuation after the last assistant message, never re-tokenizing the reply.
        suffix = self._continuation_after_reply(user)
        self.messages.append(user)
        self.prompt_ids = self.prompt_ids + self._tokenize(suffix)
        return list(self.prompt_ids)

    def reply(self, response_ids: Sequence[int], response_text: str) -> None:
        """Record the model's reply (its exact sampled ids and their text)."""
        self.messages.append({"role": "assistant", "content": response_text})
        if self.config.history is None:
            self.prompt_ids = self.prompt_ids + list(response_ids)
            self._last_reply_ended = bool(response_ids) and response_ids[-1] == self._end_of_turn

    def render_text(self, generation_prompt: bool = False) -> str:
        """The whole chat as the template renders it (for checks and debugging)."""
        return str(
            self.tokenizer.apply_chat_template(
                self.messages, tokenize=False, add_generation_prompt=generation_prompt
            )
        )

    def _windowed(self) -> list[dict[str, str]]:
        k = self.config.history
        if k is None:
            return self.messages
        past = self.messages[1:-1]
        keep = past[len(past) - 2 * k :] if k > 0 else []
        return [self.messages[0], *keep, self.messages[-1]]

    def _continuation_after_reply(self, user: dict[str, str]) -> str:
        probe = [*self.messages[:-1], {"role": "assistant", "content": _SENTINEL}, user]
        text = str(
            self.tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
        )
        position = text.rfind(_SENTINEL)
        if position < 0:
            raise ChatTemplateError(
                "the chat template drops earlier assistant messages, so prompts cannot extend "
                "the sampled tokens; use PromptConfig(history=k) and the per_turn layout"
            )
        suffix = text[position + len(_SENTINEL) :]
        end_text = self.tokenizer.eos_token or ""
        if getattr(self, "_last_reply_ended", False) and end_text and suffix.startswith(end_text):
            suffix = suffix[len(end_text) :]  # the sampled reply already holds it
        return suffix

    def _render(self, messages: list[dict[str, str]], generation_prompt: bool) -> list[int]:
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )
        return self._tokenize(str(text))

    def _tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
