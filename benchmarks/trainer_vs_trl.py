"""One GRPO iteration of palaestra's trainer against TRL's GRPOTrainer, same script.

Run: ``python benchmarks/trainer_vs_trl.py`` (needs ``pip install trl``). Both train the same
tiny model (``tiny``, built from scratch, nothing downloaded) on the same one-turn task, a
5-armed letter bandit with fixed arm means whose reward is the chosen arm's mean (invalid
replies 0), with 8 prompts x 8 generations per step, at most 4 new tokens, lr 1e-3, no KL.
Reported: seconds per optimizer step (after one warm-up step) and palaestra's split of an
iteration into generation, environment and update; then the same split for a multi-turn env.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

MEANS = [0.1, 0.2, 0.9, 0.3, 0.2]
ENV_KWARGS = json.dumps({"horizon": 1, "means": MEANS})


def palaestra_steps(steps: int, env: str, env_kwargs: str, max_new_tokens: int) -> dict[str, float]:
    from palaestra.algorithms import make_algorithm
    from palaestra.algorithms.trainer import TrainConfig, Trainer

    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig(
            env=env,
            env_kwargs=env_kwargs,
            steps=steps + 1,
            groups=8,
            group_size=8,
            max_new_tokens=max_new_tokens,
            extract="choice",
            lr=1e-3,
            micro_batch_size=64,
            out=Path(folder),
            progress=False,
            tensorboard=False,
            checkpoint_every=10_000,
        )
        trainer = Trainer(config, make_algorithm("grpo"))
        trainer.iteration(0)  # warm-up
        totals: dict[str, float] = {}
        start = time.perf_counter()
        for k in range(1, steps + 1):
            for key, value in trainer.iteration(k).items():
                totals[key] = totals.get(key, 0.0) + value
        totals["step_s"] = (time.perf_counter() - start) / steps
    return {k: v / steps if k != "step_s" else v for k, v in totals.items()}


def trl_steps(steps: int) -> float:
    import gymnasium as gym
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    import palaestra  # noqa: F401
    from palaestra.agents.models import resolve_model
    from palaestra.agents.prompting import extract_action

    env = gym.make("palaestra/Bandit-v0", horizon=1, means=MEANS)
    observation, info = env.reset(seed=0)
    prompt = [
        {"role": "system", "content": info["instruction"]},
        {"role": "user", "content": observation},
    ]
    arms = info["available_actions"]

    def reward(completions: list, **_: object) -> list[float]:
        actions = [extract_action(c[0]["content"], "choice", arms) for c in completions]
        return [MEANS[arms.index(a)] if a in arms else 0.0 for a in actions]

    with tempfile.TemporaryDirectory() as folder:
        config = GRPOConfig(
            output_dir=folder,
            per_device_train_batch_size=64,
            num_generations=8,
            max_completion_length=4,
            learning_rate=1e-3,
            beta=0.0,
            use_cpu=True,
            max_steps=steps + 1,
            logging_steps=10_000,
            save_strategy="no",
            report_to=[],
            disable_tqdm=True,
            seed=0,
        )
        trainer = GRPOTrainer(
            model=resolve_model("tiny").location,
            reward_funcs=reward,
            args=config,
            train_dataset=Dataset.from_list([{"prompt": prompt}] * 64 * (steps + 1)),
        )
        times: list[float] = []

        from transformers import TrainerCallback

        class Clock(TrainerCallback):
            def on_step_begin(self, *args: object, **kwargs: object) -> None:
                self.start = time.perf_counter()

            def on_step_end(self, *args: object, **kwargs: object) -> None:
                times.append(time.perf_counter() - self.start)

        trainer.add_callback(Clock())
        trainer.train()
    return sum(times[1:]) / max(len(times) - 1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    ours = palaestra_steps(args.steps, "palaestra/Bandit-v0", ENV_KWARGS, 4)
    theirs = trl_steps(args.steps)
    print("one-turn 5-armed letter bandit, tiny model, 8 x 8 samples, <= 4 new tokens")
    print(
        f"palaestra: {ours['step_s']:.3f} s per step (generation {ours['generate_s']:.3f}, "
        f"env {ours['env_s']:.3f}, update {ours['update_s']:.3f})"
    )
    print(f"TRL GRPOTrainer: {theirs:.3f} s per step")
    print(f"TRL / palaestra: {theirs / ours['step_s']:.2f}x")
    multi = palaestra_steps(3, "palaestra/Bandit-TwoArmed-v0", json.dumps({"horizon": 5}), 8)
    total = multi["step_s"]
    shares = {k: multi[f"{k}_s"] / total for k in ("generate", "env", "update")}
    print(
        f"multi-turn (2-armed bandit, 5 turns): {total:.3f} s per iteration: generation "
        f"{shares['generate']:.0%}, env {shares['env']:.0%}, update {shares['update']:.0%}, "
        f"other {1 - sum(shares.values()):.0%}"
    )


if __name__ == "__main__":
    main()
