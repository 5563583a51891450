"""Demonstrations for the supervised warm start: the prompts a rollout would see."""

from typing import Any

import gymnasium as gym
import pytest

from palaestra.algorithms.sft import demonstrations
from palaestra.errors import InvalidArgumentError
from palaestra.llm.prompting import ChatSession, PromptConfig


def test_each_turn_is_a_prompt_and_the_demonstrated_reply(tiny: tuple[Any, Any]) -> None:
    tokenizer = tiny[1]
    prompt = PromptConfig(extract="choice")
    samples = demonstrations("palaestra/Bandit-TwoArmed-v0", {"horizon": 3}, "oracle",
                             episodes=2, seed=4, tokenizer=tokenizer, prompt=prompt)  # fmt: skip
    assert len(samples) == 6 and [s.episode for s in samples] == [0, 0, 0, 1, 1, 1]
    # The first sample's prompt is the one a rollout of seed 4 builds.
    env = gym.make("palaestra/Bandit-TwoArmed-v0", horizon=3)
    observation, info = env.reset(seed=4)
    first = ChatSession(tokenizer, str(info["instruction"]), prompt).observe(observation, info)
    reply = samples[0].input_ids[len(first) :]
    assert samples[0].input_ids[: len(first)] == first and reply[-1] == tokenizer.eos_token_id
    assert samples[0].loss_mask == [0] * len(first) + [1] * len(reply)
    assert tokenizer.decode(reply[:-1]) == env.unwrapped.oracle_action()


def test_only_a_scripted_agent_demonstrates(tiny: tuple[Any, Any]) -> None:
    with pytest.raises(InvalidArgumentError, match="need a scripted agent"):
        demonstrations("palaestra/Bandit-v0", {}, "hf:tiny", episodes=1, seed=0,
                       tokenizer=tiny[1], prompt=PromptConfig())  # fmt: skip
