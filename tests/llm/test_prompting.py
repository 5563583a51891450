"""Chat prompts and action extraction, including hostile replies."""

from typing import Any

import pytest

from palaestra.errors import InvalidArgumentError
from palaestra.llm.prompting import (
    ChatSession,
    PromptConfig,
    extract_action,
    format_observation,
    system_message,
)

ACTIONS = ["go north", "go", "take apple", "open fridge"]


@pytest.mark.parametrize(
    ("reply", "mode", "expected"),
    [
        ("  B \n", "whole", "B"),
        ("I think...\nB\n\n", "last_line", "B"),
        ("hmm <action>A</action> no, <action> B </action>", "tag", "B"),
        ("B", "tag", ""),
        ("<action>", "tag", ""),
        ("Open Fridge", "choice", "open fridge"),
        ("I will go north now.", "choice", "go north"),
        ("<action>take apple</action>", "choice", "take apple"),
        ("take appel", "choice", "take apple"),
        ("something unrelated entirely", "choice", ""),
        ("", "whole", ""),
        ("\x00\x01", "last_line", "\x00\x01"),
        ("a" * 100_000, "choice", ""),
    ],
)
def test_extract_action(reply: str, mode: Any, expected: str) -> None:
    assert extract_action(reply, mode, ACTIONS) == expected


def test_choice_without_actions_is_empty() -> None:
    assert extract_action("go north", "choice", None) == ""


def test_format_observation_lists_actions() -> None:
    config = PromptConfig(max_available_actions=2)
    text = format_observation("You see a door.", {"available_actions": ACTIONS}, config)
    assert text == "You see a door.\n\nAvailable actions: go north, go (and 2 more)"
    hidden = PromptConfig(show_available_actions=False)
    assert format_observation("x", {"available_actions": ACTIONS}, hidden) == "x"


def test_system_message_format_hints() -> None:
    assert system_message("Play.", PromptConfig(extract="tag")).endswith("<action>...</action>.")
    assert system_message("Play.", PromptConfig(format_hint=False)) == "Play."


def test_config_validation() -> None:
    with pytest.raises(InvalidArgumentError, match="extract must be one of"):
        PromptConfig(extract="json")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="history"):
        PromptConfig(history=-1)


def test_windowed_history_keeps_last_turns(tiny: tuple[Any, Any]) -> None:
    _, tokenizer = tiny
    session = ChatSession(tokenizer, "Play.", PromptConfig(history=1))
    for k in range(4):
        ids = session.observe(f"observation {k}", {})
        reply = tokenizer(f"reply {k}<|im_end|>", add_special_tokens=False).input_ids
        session.reply(reply, f"reply {k}")
    text = tokenizer.decode(session.observe("observation 4", {}))
    assert "observation 3" in text and "reply 3" in text and "observation 4" in text
    assert "observation 2" not in text and "reply 2" not in text
    assert text.startswith("<|im_start|>system\nPlay.")
    assert ids


def test_full_history_extends_sampled_ids(tiny: tuple[Any, Any]) -> None:
    _, tokenizer = tiny
    session = ChatSession(tokenizer, "Play.", PromptConfig())
    first = session.observe("one", {})
    odd_reply = [tokenizer.convert_tokens_to_ids("A"), tokenizer.eos_token_id]
    session.reply(odd_reply, "A")
    second = session.observe("two", {})
    assert second[: len(first) + 2] == first + odd_reply
    assert tokenizer.decode(second[len(first) + 2 :]) == (
        "\n<|im_start|>user\ntwo<|im_end|>\n<|im_start|>assistant\n"
    )


def test_reply_cut_at_the_length_limit_gets_its_end_token(tiny: tuple[Any, Any]) -> None:
    _, tokenizer = tiny
    session = ChatSession(tokenizer, "Play.", PromptConfig())
    first = session.observe("one", {})
    cut = tokenizer("no end", add_special_tokens=False).input_ids
    session.reply(cut, "no end")
    second = session.observe("two", {})
    assert second[len(first) + len(cut)] == tokenizer.eos_token_id
