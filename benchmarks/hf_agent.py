"""Sampled tokens per second of HFAgent: 16 episodes in one batch against one at a time.

Run: ``python benchmarks/hf_agent.py [--model tiny|smollm2|PATH]``. Both modes play the same
16 seeded episodes of a palaestra bandit with the same model in this one process; sampling
is temperature 1, so replies run to ``--max-new-tokens`` about as often in both.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch

import palaestra  # noqa: F401 - registers the environments
from palaestra.llm.generation import SamplingConfig
from palaestra.llm.hf_agent import HFAgent
from palaestra.llm.models import load_model
from palaestra.rollout import play

ENV_ID = "palaestra/Bandit-v0"


def rate(agent: HFAgent, episodes: int, horizon: int, batch: int) -> tuple[float, int]:
    """Tokens per second playing ``episodes`` episodes ``batch`` at a time."""
    tokens, start = 0, time.perf_counter()
    for first in range(0, episodes, batch):
        seeds = list(range(first, min(first + batch, episodes)))
        envs = [gym.make(ENV_ID, horizon=horizon) for _ in seeds]
        tokens += sum(e.response_tokens for e in play(agent, envs, seeds))
    return tokens / (time.perf_counter() - start), tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--horizon", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, tokenizer = load_model(args.model)
    sampling = SamplingConfig(max_new_tokens=args.max_new_tokens)
    results = {}
    for batch in (1, args.episodes):
        agent = HFAgent(model, tokenizer, sampling=sampling, seed=0, max_batch_size=batch)
        rate(agent, 2, 1, batch)  # warm-up
        results[batch] = rate(agent, args.episodes, args.horizon, batch)
    one, many = results[1], results[args.episodes]
    print(
        f"model {args.model}: {args.episodes} episodes x {args.horizon} turns of {ENV_ID}, "
        f"<= {args.max_new_tokens} new tokens per turn, {torch.get_num_threads()} threads"
    )
    print(f"one at a time : {one[0]:8.1f} tokens/s ({one[1]} tokens)")
    print(f"batch of {args.episodes:<4} : {many[0]:8.1f} tokens/s ({many[1]} tokens)")
    print(f"batching speed-up: {many[0] / one[0]:.1f}x")


if __name__ == "__main__":
    main()
