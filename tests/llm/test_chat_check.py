"""The chat-template and loss-mask checker: passes real templates, catches broken ones."""

import copy
from typing import Any

import gymnasium as gym
import pytest

from palaestra.llm.chat_check import ChatTemplateError, check_chat_tokens
from palaestra.llm.generation import SamplingConfig
from palaestra.llm.hf_agent import HFAgent
from palaestra.llm.prompting import PromptConfig
from palaestra.rollout import play


def episodes(model: Any, tokenizer: Any, config: PromptConfig) -> list[Any]:
    player = HFAgent(model, tokenizer, sampling=SamplingConfig(max_new_tokens=6), prompt=config)
    return play(
        player, [gym.make("palaestra/Bandit-TwoArmed-v0", horizon=4) for _ in range(2)], [0, 1]
    )


@pytest.mark.parametrize("extract", ["whole", "tag"])
def test_tiny_passes(tiny: tuple[Any, Any], extract: Any) -> None:
    config = PromptConfig(extract=extract)
    report = check_chat_tokens(tiny[1], episodes(*tiny, config), prompt=config)
    assert report.ok, report.problems
    assert report.checked_turns == 4 + 2 * 4


def test_smollm2_passes(smollm2: tuple[Any, Any]) -> None:
    report = check_chat_tokens(
        smollm2[1], episodes(*smollm2, PromptConfig()), raise_on_failure=True
    )
    assert report.ok


def test_template_that_rewrites_content_is_caught(tiny: tuple[Any, Any]) -> None:
    tokenizer = copy.deepcopy(tiny[1])
    tokenizer.chat_template = tokenizer.chat_template.replace(
        "message['content']", "message['content'] | trim"
    )
    report = check_chat_tokens(tokenizer)
    assert not report.ok
    assert report.problems[0].startswith("rebuild: turn 2: the incremental prompt differs")
    with pytest.raises(ChatTemplateError, match="rebuild"):
        check_chat_tokens(tokenizer, raise_on_failure=True)


def test_template_that_drops_old_turns_is_caught(tiny: tuple[Any, Any]) -> None:
    tokenizer = copy.deepcopy(tiny[1])
    # Like templates that strip reasoning from earlier assistant turns.
    tokenizer.chat_template = (
        "{% for message in messages %}{% if message['role'] != 'assistant' or loop.last %}"
        "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
        "{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )
    report = check_chat_tokens(tokenizer)
    assert any(p.startswith("rebuild") for p in report.problems)


def test_role_marker_in_trained_tokens_is_caught(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    played = episodes(model, tokenizer, PromptConfig())
    turn = played[0].turns[-1]
    marker = tokenizer.convert_tokens_to_ids("<|im_start|>")
    turn.response_ids = [marker, *turn.response_ids]
    report = check_chat_tokens(tokenizer, played[:1])
    assert any("role marker '<|im_start|>'" in p for p in report.problems)


def test_broken_prefix_is_caught(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    played = episodes(model, tokenizer, PromptConfig())
    played[0].turns[2].prompt_ids[5] += 1
    report = check_chat_tokens(tokenizer, played[:1])
    assert report.problems == [
        "prefix: episode palaestra/Bandit-TwoArmed-v0/0: turn 2: the prompt "
        "differs from the previous prompt + response at token 5"
    ]


def test_missing_end_of_turn_is_caught(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    played = episodes(model, tokenizer, PromptConfig())
    last = played[0].turns[-1]
    last.finish_reason = "stop"
    last.response_ids = [*last.response_ids[:-1], tokenizer.convert_tokens_to_ids("A")]
    report = check_chat_tokens(tokenizer, played[:1])
    assert any("end-of-turn token is not the last" in p for p in report.problems)
