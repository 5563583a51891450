"""Supervised warm start on demonstrations from a scripted agent (the oracle, usually).

Demonstrations are played through the same :class:`~palaestra.llm.prompting.ChatSession`
as RL rollouts, so the warm start sees exactly the prompts the policy will see. For the math
environments the oracle writes the generated worked solution, so this is the usual short SFT
on solutions before RL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from palaestra.agents.factory import make_agent
from palaestra.algorithms.batch import Sample, TokenBatch
from palaestra.algorithms.config import TrainConfig
from palaestra.algorithms.losses import token_logprobs_and_entropy
from palaestra.llm.prompting import ChatSession, PromptConfig


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
    samples: list[Sample] = []
    env = gym.make(env_id, **env_kwargs)
    end = [tokenizer.eos_token_id]
    try:
        agent = make_agent(agent_spec, env, seed=seed)
        for k in range(episodes):
            observation, info = env.reset(seed=seed + k)
            agent.reset(str(info.get("instruction", "")))
            session = ChatSession(tokenizer, str(info.get("instruction", "")), prompt)
            done = False
            while not done:
                prompt_ids = session.observe(observation, info)
                action = agent.act(observation, info)
                reply = list(tokenizer(action, add_special_tokens=False)["input_ids"]) + end
                session.reply(reply, action)
                samples.append(
                    Sample(
                        input_ids=prompt_ids + reply,
                        loss_mask=[0] * len(prompt_ids) + [1] * len(reply),
                        turn_index=[-1] * len(prompt_ids) + [0] * len(reply),
                        sample_logprobs=[0.0] * (len(prompt_ids) + len(reply)),
                        episode=k,
                    )
                )
                observation, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
    finally:
        env.close()
    return samples


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
