"""Supervised warm start on demonstrations from a scripted agent (the oracle, usually).

Demonstrations are played through the same :class:`~palaestra.llm.prompting.ChatSession`
as RL rollouts, so the warm start sees exactly the prompts the policy will see. For the math
environments the oracle writes the generated worked solution, so this is the usual short SFT
on solutions before RL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from palaestra.agents.factory import SCRIPTED_AGENTS
from palaestra.algorithms.batch import Sample, TokenBatch
from palaestra.algorithms.config import TrainConfig
from palaestra.algorithms.losses import token_logprobs_and_entropy
from palaestra.errors import InvalidArgumentError
from palaestra.llm.prompting import ChatSession, PromptConfig
from palaestra.rollout import Agent, Turn, run_episodes


def demonstrations(
    env_id: str,
    env_kwargs: dict[str, Any],
    agent_spec: str,
    *,
    episodes: int,
    seed: int,
    tokenizer: Any,
    prompt: PromptConfig,
) -> list[Sample]:
    """One sample (prompt + demonstrated reply) per turn of ``episodes`` scripted episodes."""
    if agent_spec not in SCRIPTED_AGENTS:
        raise InvalidArgumentError(
            f"demonstrations need a scripted agent ({', '.join(SCRIPTED_AGENTS)}), not "
            f"{agent_spec!r}"
        )
    env = gym.make(env_id, **env_kwargs)
    try:
        agent = SCRIPTED_AGENTS[agent_spec](env, seed)
        played = run_episodes(
            env, _Demonstrator(agent, tokenizer, prompt), episodes=episodes, seed=seed
        )
    finally:
        env.close()
    return [
        Sample(
            input_ids=turn.prompt_ids + turn.response_ids,
            loss_mask=[0] * len(turn.prompt_ids) + [1] * len(turn.response_ids),
            turn_index=[-1] * len(turn.prompt_ids) + [0] * len(turn.response_ids),
            sample_logprobs=[0.0] * (len(turn.prompt_ids) + len(turn.response_ids)),
            episode=k,
        )
        for k, episode in enumerate(played)
        for turn in episode.turns
    ]


class _Demonstrator:
    """A scripted agent whose actions are written as the chat tokens an LLM would reply."""

    max_batch_size = 1

    def __init__(self, agent: Agent, tokenizer: Any, prompt: PromptConfig) -> None:
        self.agent, self.tokenizer, self.prompt = agent, tokenizer, prompt
        self.session = ChatSession(tokenizer, "", prompt)

    def start(self, instructions: Sequence[str]) -> None:
        (instruction,) = instructions
        self.agent.reset(instruction)
        self.session = ChatSession(self.tokenizer, instruction, self.prompt)

    def respond(
        self, episodes: Sequence[int], observations: Sequence[str], infos: Sequence[dict[str, Any]]
    ) -> list[Turn | None]:
        ((observation, info),) = zip(observations, infos, strict=True)
        prompt_ids = self.session.observe(observation, info)
        action = self.agent.act(observation, info)
        reply = list(self.tokenizer(action, add_special_tokens=False)["input_ids"])
        reply.append(self.tokenizer.eos_token_id)
        self.session.reply(reply, action)
        return [
            Turn(observation=observation, action=action, response=action,
                 prompt_ids=prompt_ids, response_ids=reply)
        ]  # fmt: skip

    def finish(self) -> None:
        """Nothing to free: the next episode starts a new chat."""


def supervised_steps(
    model: Any,
    samples: list[Sample],
    *,
    steps: int,
    lr: float,
    batch_size: int,
    pad_id: int,
    generator: torch.Generator,
) -> list[float]:
    """Train on the demonstrated replies (token-mean cross-entropy); return the losses."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    device = next(model.parameters()).device
    losses = []
    model.train()
    for _ in range(steps):
        rows = torch.randperm(len(samples), generator=generator)[:batch_size].tolist()
        batch = TokenBatch.collate([samples[r] for r in rows], pad_id)
        logits = model(
            input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device)
        ).logits[:, :-1]
        logprobs, _ = token_logprobs_and_entropy(logits, batch.targets.to(device))
        mask = batch.loss_mask.to(device)
        loss = -(logprobs * mask).sum() / mask.sum().clamp(min=1)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


def warm_start(
    config: TrainConfig, env_kwargs: dict[str, Any], *, agent: Any, policy: Any, tokenizer: Any
) -> None:
    """The run's supervised warm start: ``sft_steps`` on ``sft_agent``'s play.

    The losses go to ``<out>/sft.jsonl``.
    """
    samples = demonstrations(
        config.env,
        env_kwargs,
        config.sft_agent,
        episodes=config.sft_episodes,
        seed=config.seed + 10_000_019,  # never the RL seeds
        tokenizer=tokenizer,
        prompt=agent.prompt,
    )
    losses = supervised_steps(
        policy,
        samples,
        steps=config.sft_steps,
        lr=config.sft_lr,
        batch_size=config.micro_batch_size,
        pad_id=agent.pad_id,
        generator=torch.Generator().manual_seed(config.seed),
    )
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sft.jsonl").write_text(
        "".join(json.dumps({"step": k, "loss": v}) + "\n" for k, v in enumerate(losses))
    )
