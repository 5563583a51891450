"""GRPO on the same task: palaestra's trainer against TRL's GRPOTrainer, each in a fresh process.

Run: ``python benchmarks/trainer_vs_trl.py`` (needs ``palaestra[trl]``; nothing is downloaded:
children run with ``HF_HUB_OFFLINE=1``). Both train the same tiny model (``tiny``, built
from scratch) on the same one-turn task, a 5-armed letter bandit with fixed arm means whose
reward is the chosen arm's mean (invalid replies 0), with 8 prompts x 8 generations per
rollout, at most 4 new tokens, lr 1e-3, no KL, fp32, and the loss palaestra's GRPO
aggregates by default (TRL's ``loss_type`` chosen to match, see ``TRL_LOSS_TYPES``; TRL's
own default, ``dapo``, is palaestra's ``DAPO`` preset's). One rollout feeds ``mini_batches``
optimizer steps (palaestra's ``TrainConfig`` default, or ``--mini-batches``); TRL gets the
same with ``steps_per_generation`` = mini_batches, ``num_iterations`` = 1, no gradient
checkpointing and no bf16 (``--trl-defaults`` keeps TRL's own bf16 and checkpointing).

A third side runs TRL's GRPOTrainer through palaestra's adapter
(:mod:`palaestra.integrations.trl`) on the env itself: same model, env, batch, reply limit,
``choice`` extraction, lr, precision, loss and episode seeds as palaestra's side (rows in
order, ``shuffle_dataset=False``), the env's episode return as the reward. The closing table
sets TRL via the adapter beside palaestra's trainer on the letter bandit and on a multi-turn
env (a 50-armed bandit, 3 turns, one-token replies: arms are numbered, and the random tiny
model's tokens are often numbers, so returns vary), each over ``--rounds`` fresh processes:
seconds per optimizer step and the mean episode return over the timed rollouts.

Each side runs in its own interpreter (``--side palaestra|trl|adapter|multi|adapter-multi``,
which prints one JSON line), sides alternate over ``--rounds`` rounds, and the median and
min-max of seconds (wall and CPU) per optimizer step are reported after one warm-up rollout;
then palaestra's split of an iteration into generation, environment and update, and the
same for a multi-turn env.
On a busy machine, ``--threads 1`` keeps torch's thread pool from stalling on shared cores.

``--same-process`` shows the state TRL leaves behind: its trainer leaves accelerate's
process-wide ``AcceleratorState`` at ``mixed_precision="bf16"`` (TRL's CPU default), which a
later ``Accelerator()`` without ``mixed_precision`` would inherit, running the model under
bf16 autocast instead of fp32. palaestra's trainer resets it; the mode prints the state
diff and palaestra's time and precision before and after TRL in one process.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

MEANS = [0.1, 0.2, 0.9, 0.3, 0.2]
ENV_KWARGS = json.dumps({"horizon": 1, "means": MEANS})
GROUPS, GROUP_SIZE = 8, 8
BATCH = GROUPS * GROUP_SIZE
MULTI_ENV, MULTI_KWARGS = "palaestra/Bandit-v0", json.dumps({"horizon": 3, "n_arms": 50})
#: Reply limit and timed rollouts of the multi-turn rows.
MULTI_NEW_TOKENS, MULTI_STEPS = 1, 2
#: TRL's ``loss_type`` for each of palaestra's loss aggregations: ``grpo`` averages each
#: sequence's tokens, then the sequences (palaestra's default, ``seq_mean_token_mean``);
#: ``dapo`` averages all tokens; ``dr_grpo`` divides token sums by a constant length.
TRL_LOSS_TYPES = {
    "seq_mean_token_mean": "grpo",
    "token_mean": "dapo",
    "seq_mean_token_sum_norm": "dr_grpo",
}
MARKER = "RESULT "
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def trl_loss_type() -> str:
    """TRL's ``loss_type`` matching the aggregation of palaestra's default GRPO."""
    from palaestra.algorithms.grpo import GRPOConfig

    return TRL_LOSS_TYPES[GRPOConfig().loss_aggregation]


def default_mini_batches() -> int:
    """``TrainConfig``'s default ``mini_batches``."""
    from palaestra.algorithms.trainer import TrainConfig

    return TrainConfig.mini_batches


def palaestra_steps(
    steps: int,
    env: str,
    env_kwargs: str,
    max_new_tokens: int,
    mini_batches: int | None = None,
) -> dict[str, Any]:
    """Time palaestra's GRPO iterations after one warm-up iteration.

    Args:
        steps: Timed iterations (rollout + update).
        env: Environment id.
        env_kwargs: JSON object of environment arguments.
        max_new_tokens: Reply length limit.
        mini_batches: Optimizer steps per rollout (None: ``TrainConfig``'s default).

    Returns:
        Mean seconds per iteration (``iteration_s``) and per optimizer step (``step_s``),
        the mean of every timing metric of an iteration (``generate_s``, ``env_s``,
        ``update_s``, ...), the mean episode ``return``, ``optimizer_steps`` per iteration
        and the accelerate mixed precision the trainer ran under.
    """
    from palaestra.algorithms import make_algorithm
    from palaestra.algorithms.trainer import TrainConfig, Trainer

    chosen = mini_batches or default_mini_batches()
    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig(
            env=env,
            env_kwargs=env_kwargs,
            steps=steps + 1,
            groups=GROUPS,
            group_size=GROUP_SIZE,
            max_new_tokens=max_new_tokens,
            extract="choice",
            lr=1e-3,
            micro_batch_size=max(BATCH // chosen, 1),  # one forward pass per optimizer step
            out=Path(folder),
            progress=False,
            tensorboard=False,
            checkpoint_every=10_000,
            mini_batches=chosen,
        )
        trainer = Trainer(config, make_algorithm("grpo"))
        trainer.iteration(0)  # warm-up
        totals: dict[str, float] = {}
        start, cpu = time.perf_counter(), time.process_time()
        for k in range(1, steps + 1):
            for key, value in trainer.iteration(k).items():
                if key.endswith("_s") or key == "return":
                    totals[key] = totals.get(key, 0.0) + value
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    optimizer_steps = config.mini_batches * config.ppo_epochs
    result: dict[str, Any] = {k: v / steps for k, v in totals.items()}
    result.update(
        iteration_s=elapsed / steps,
        step_s=elapsed / steps / optimizer_steps,
        cpu_step_s=cpu / steps / optimizer_steps,
        optimizer_steps=optimizer_steps,
        mixed_precision=str(trainer.accelerator.mixed_precision),
        autocast_wrapped="_original_forward" in vars(trainer.policy),
    )
    return result


def trl_steps(steps: int, mini_batches: int, trl_defaults: bool = False) -> dict[str, Any]:
    """Time TRL's GRPOTrainer on the same rollouts, after one warm-up rollout.

    Args:
        steps: Timed rollouts; each feeds ``mini_batches`` optimizer steps.
        mini_batches: Optimizer steps per rollout (``steps_per_generation``).
        trl_defaults: Keep TRL's own CPU defaults (bf16 autocast, gradient checkpointing)
            instead of palaestra's (fp32, no checkpointing).

    Returns:
        Mean seconds per optimizer step (``step_s``) and per rollout (``iteration_s``),
        and the TRL settings used.
    """
    import gymnasium as gym
    from datasets import Dataset
    from trl import GRPOTrainer

    import palaestra  # noqa: F401
    from palaestra.llm.models import resolve_model
    from palaestra.llm.prompting import extract_action

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

    like_palaestra = {} if trl_defaults else {"bf16": False, "gradient_checkpointing": False}
    with tempfile.TemporaryDirectory() as folder:
        config = grpo_config(
            folder,
            steps,
            mini_batches,
            max_completion_length=4,
            logging_steps=10_000,
            **like_palaestra,
        )
        trainer = GRPOTrainer(
            model=resolve_model("tiny").location,
            reward_funcs=reward,
            args=config,
            train_dataset=Dataset.from_list([{"prompt": prompt}] * BATCH * (steps + 1)),
        )
        timing = train_timed(trainer, mini_batches)
    return {
        **timing,
        "settings": {
            "per_device_train_batch_size": config.per_device_train_batch_size,
            "steps_per_generation": config.steps_per_generation,
            "num_iterations": config.num_iterations,
            "gradient_checkpointing": config.gradient_checkpointing,
            "bf16": config.bf16,
            "loss_type": config.loss_type,
        },
    }


def grpo_config(folder: str, steps: int, mini_batches: int, **settings: Any) -> Any:
    """TRL's ``GRPOConfig`` as both TRL sides run it.

    One warm-up rollout and ``steps`` timed ones of ``BATCH`` episodes, ``mini_batches``
    optimizer steps each, the loss palaestra's GRPO aggregates, no KL, on the CPU.
    """
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=folder,
        per_device_train_batch_size=BATCH // mini_batches,
        gradient_accumulation_steps=1,
        steps_per_generation=mini_batches,
        num_iterations=1,
        num_generations=GROUP_SIZE,
        learning_rate=1e-3,
        beta=0.0,
        loss_type=trl_loss_type(),
        use_cpu=True,
        max_steps=(steps + 1) * mini_batches,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        seed=0,
        **settings,
    )


def train_timed(trainer: Any, mini_batches: int) -> dict[str, float]:
    """Train; seconds (wall and CPU) per optimizer step after the warm-up rollout."""
    from transformers import TrainerCallback

    times: list[tuple[float, float]] = []

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, *args: object, **kwargs: object) -> None:
            self.start = (time.perf_counter(), time.process_time())

        def on_step_end(self, *args: object, **kwargs: object) -> None:
            wall, cpu = self.start
            times.append((time.perf_counter() - wall, time.process_time() - cpu))

    trainer.add_callback(Clock())
    trainer.train()
    timed = times[mini_batches:]  # the first rollout and its steps are the warm-up
    step_s = sum(t[0] for t in timed) / max(len(timed), 1)
    return {
        "step_s": step_s,
        "cpu_step_s": sum(t[1] for t in timed) / max(len(timed), 1),
        "iteration_s": step_s * mini_batches,
        "optimizer_steps": mini_batches,
    }


def adapter_steps(
    steps: int,
    env: str,
    env_kwargs: str,
    max_new_tokens: int,
    mini_batches: int,
    episode_tokens: int | None = None,
) -> dict[str, Any]:
    """Time TRL's GRPOTrainer on a palaestra env through ``palaestra.integrations.trl``.

    The settings are palaestra's side's: same model, env, episode seeds in the same order,
    episodes per rollout, reply length, reply extraction (``choice``), lr, no KL, fp32,
    loss aggregation, ``mini_batches`` optimizer steps per rollout; the reward is the env's
    episode return, as palaestra's trainer uses.

    Args:
        steps: Timed rollouts, after one warm-up rollout.
        env: Environment id.
        env_kwargs: JSON object of environment arguments.
        max_new_tokens: Reply length limit (per turn).
        mini_batches: Optimizer steps per rollout (``steps_per_generation``).
        episode_tokens: ``max_completion_length``, the token budget of a whole episode
            (default: ``max_new_tokens``, one reply); palaestra's side has none, so a
            multi-turn run needs one its episodes never reach.

    Returns:
        Mean seconds per optimizer step (``step_s``, ``cpu_step_s``) and per rollout
        (``iteration_s``), and the mean episode ``return`` TRL logged over the timed rollouts.
    """
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is experimental
    from trl import GRPOTrainer

    from palaestra.integrations.trl import PalaestraEnvs
    from palaestra.llm.models import resolve_model

    envs = PalaestraEnvs(
        env, env_kwargs=json.loads(env_kwargs), extract="choice", max_new_tokens=max_new_tokens
    )
    with tempfile.TemporaryDirectory() as folder:
        config = grpo_config(
            folder,
            steps,
            mini_batches,
            max_completion_length=episode_tokens or max_new_tokens,
            shuffle_dataset=False,  # rows in order: palaestra's seeds, iteration by iteration
            logging_steps=1,  # each rollout's reward is logged at its first step
            bf16=False,
            gradient_checkpointing=False,
        )
        trainer = GRPOTrainer(
            model=resolve_model("tiny").location,
            args=config,
            **envs.trainer_kwargs(episodes=GROUPS * (steps + 1)),
        )
        timing = train_timed(trainer, mini_batches)
    envs.close()
    rewards = [row["reward"] for row in trainer.state.log_history if "reward" in row]
    return {**timing, "return": statistics.mean(rewards[1:])}


def run_side(side: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measure one side in this process (``--side``)."""
    mini_batches = args.mini_batches or default_mini_batches()
    if side == "palaestra":
        return palaestra_steps(args.steps, "palaestra/Bandit-v0", ENV_KWARGS, 4, mini_batches)
    if side == "trl":
        return trl_steps(args.steps, mini_batches, args.trl_defaults)
    if side == "adapter":
        return adapter_steps(args.steps, "palaestra/Bandit-v0", ENV_KWARGS, 4, mini_batches)
    if side == "adapter-multi":
        return adapter_steps(
            MULTI_STEPS, MULTI_ENV, MULTI_KWARGS, MULTI_NEW_TOKENS, mini_batches, 4096
        )
    return palaestra_steps(MULTI_STEPS, MULTI_ENV, MULTI_KWARGS, MULTI_NEW_TOKENS, mini_batches)


def in_child(side: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measure one side in a fresh interpreter and parse its JSON line."""
    command = [sys.executable, __file__, "--side", side, "--steps", str(args.steps)]
    if args.mini_batches:
        command += ["--mini-batches", str(args.mini_batches)]
    if args.trl_defaults:
        command.append("--trl-defaults")
    if args.threads:
        command += ["--threads", str(args.threads)]
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **OFFLINE}, check=False
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"--side {side} failed with exit status {done.returncode}")
    return dict(json.loads(lines[-1][len(MARKER) :]))


def spread(values: list[float]) -> str:
    """Median and min-max of ``values``."""
    return f"{statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"


def compare(args: argparse.Namespace) -> None:
    """Alternate fresh processes per side over ``args.rounds`` rounds; print the figures."""
    sides = ("palaestra", "trl", "adapter", "multi", "adapter-multi")
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for k in range(args.rounds):
        order = sides if k % 2 == 0 else sides[::-1]
        for side in order:
            runs[side].append(in_child(side, args))
            print(f"round {k + 1} {side}: {runs[side][-1]['step_s']:.3f} s/step", flush=True)
    ours, theirs = runs["palaestra"], runs["trl"]
    steps = ours[0]["optimizer_steps"]
    ours_step = [r["step_s"] for r in ours]
    theirs_step = [r["step_s"] for r in theirs]
    print(
        f"\none-turn 5-armed letter bandit, tiny model, {GROUPS} x {GROUP_SIZE} samples, "
        f"<= 4 new tokens, {args.steps} timed rollouts per run, {args.rounds} fresh "
        f"processes per side, {steps} optimizer step(s) per rollout"
    )
    print(f"palaestra per optimizer step: {spread(ours_step)}")
    print(f"palaestra per iteration:      {spread([r['iteration_s'] for r in ours])}")
    split = {k: statistics.median(r[f"{k}_s"] for r in ours) for k in ("generate", "env", "update")}
    print(
        f"  median split of an iteration: generation {split['generate']:.3f}, "
        f"env {split['env']:.3f}, update {split['update']:.3f} s"
    )
    print(f"TRL GRPOTrainer per optimizer step: {spread(theirs_step)}")
    print(f"TRL GRPOTrainer per rollout:        {spread([r['iteration_s'] for r in theirs])}")
    print(f"  TRL settings: {json.dumps(theirs[0]['settings'])}")
    ratio = statistics.median(theirs_step) / statistics.median(ours_step)
    print(f"TRL / palaestra (medians per optimizer step): {ratio:.2f}x")
    ours_cpu = [r["cpu_step_s"] for r in ours]
    theirs_cpu = [r["cpu_step_s"] for r in theirs]
    print(
        f"CPU time per optimizer step (less sensitive to other processes): palaestra "
        f"{spread(ours_cpu)}, TRL {spread(theirs_cpu)}, ratio "
        f"{statistics.median(theirs_cpu) / statistics.median(ours_cpu):.2f}x"
    )
    total = statistics.median(r["iteration_s"] for r in runs["multi"])
    shares = {
        k: statistics.median(r[f"{k}_s"] for r in runs["multi"]) / total
        for k in ("generate", "env", "update")
    }
    print(
        f"multi-turn (50-armed bandit, 3 turns): {total:.3f} s per iteration: generation "
        f"{shares['generate']:.0%}, env {shares['env']:.0%}, update {shares['update']:.0%}, "
        f"other {1 - sum(shares.values()):.0%}"
    )
    print(
        f"\nTRL via the adapter vs palaestra's trainer, same model, batch and env "
        f"({GROUPS} x {GROUP_SIZE} episodes, the same seeds, {steps} optimizer step(s) per "
        f"rollout, TRL loss_type={trl_loss_type()!r}; medians over {args.rounds} runs, mean "
        f"episode return over the timed rollouts)"
    )
    table = [
        ("one-turn letter bandit", "palaestra trainer", ours),
        ("one-turn letter bandit", "TRL via adapter", runs["adapter"]),
        ("50-armed bandit, 3 turns", "palaestra trainer", runs["multi"]),
        ("50-armed bandit, 3 turns", "TRL via adapter", runs["adapter-multi"]),
    ]
    print(f"| {'env':<24}| {'side':<18}| s / optimizer step | CPU s / step | mean return |")
    print(f"|{'-' * 25}|{'-' * 19}|{'-' * 20}|{'-' * 14}|{'-' * 13}|")
    for env, side, results in table:
        step_s = statistics.median(r["step_s"] for r in results)
        cpu_s = statistics.median(r["cpu_step_s"] for r in results)
        reward = statistics.median(r["return"] for r in results)
        print(f"| {env:<24}| {side:<18}| {step_s:>18.3f} | {cpu_s:>12.3f} | {reward:>11.3f} |")


def global_state() -> dict[str, Any]:
    """Process-wide state a library could leave behind (torch, accelerate, Python)."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    import transformers
    from accelerate.state import AcceleratorState, PartialState

    module = torch.nn.modules.module
    return {
        "torch.get_num_threads": torch.get_num_threads(),
        "torch.get_num_interop_threads": torch.get_num_interop_threads(),
        "torch.are_deterministic_algorithms_enabled": torch.are_deterministic_algorithms_enabled(),
        "torch.is_anomaly_enabled": torch.is_anomaly_enabled(),
        "torch.is_grad_enabled": torch.is_grad_enabled(),
        "torch.get_default_dtype": str(torch.get_default_dtype()),
        "torch.get_float32_matmul_precision": torch.get_float32_matmul_precision(),
        "torch.is_autocast_enabled(cpu)": torch.is_autocast_enabled("cpu"),
        "torch.backends.mkldnn.enabled": torch.backends.mkldnn.enabled,
        "global module hooks": sum(
            len(h)
            for h in (
                module._global_forward_hooks,
                module._global_forward_pre_hooks,
                module._global_backward_hooks,
            )
        ),
        "id(torch.nn.Module.__call__)": id(torch.nn.Module.__call__),
        "id(torch.utils.checkpoint.checkpoint)": id(torch.utils.checkpoint.checkpoint),
        "id(GenerationMixin.generate)": id(transformers.GenerationMixin.generate),
        "id(F.scaled_dot_product_attention)": id(F.scaled_dot_product_attention),
        "AcceleratorState mixed_precision": AcceleratorState._shared_state.get(
            "_mixed_precision", "(not initialized)"
        ),
        "PartialState initialized": bool(PartialState._shared_state),
        "environment": dict(os.environ),
        "warnings filters": len(warnings.filters),
        "sys.gettrace/getprofile": (repr(sys.gettrace()), repr(sys.getprofile())),
        "gc": (gc.isenabled(), gc.get_threshold()),
        "threads": sorted(t.name for t in threading.enumerate()),
    }


def state_diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Lines ``key: before -> after`` for what changed (environment variables one by one)."""
    lines = []
    for key in before:
        if key == "environment":
            for name in sorted(set(before[key]) | set(after[key])):
                old, new = before[key].get(name), after[key].get(name)
                if old != new:
                    lines.append(f"${name}: {old!r} -> {new!r}")
        elif before[key] != after[key]:
            lines.append(f"{key}: {before[key]!r} -> {after[key]!r}")
    return lines


def same_process(args: argparse.Namespace) -> None:
    """Palaestra, then TRL (its defaults, as the old one-process benchmark), then palaestra.

    Prints the global state TRL's run changed and palaestra's time and accelerate mixed
    precision before and after it: the trainer resets the bf16 state TRL leaves behind, so
    it runs in fp32 and as fast as in a fresh process.
    """
    mini_batches = args.mini_batches or default_mini_batches()

    def palaestra(label: str) -> dict[str, Any]:
        r = palaestra_steps(args.steps, "palaestra/Bandit-v0", ENV_KWARGS, 4, mini_batches)
        print(
            f"{label:<36} {r['step_s']:.3f} s/step, CPU {r['cpu_step_s']:.3f} s (generation "
            f"{r['generate_s']:.3f}, update {r['update_s']:.3f}; accelerate "
            f"mixed_precision={r['mixed_precision']}, autocast forward: {r['autocast_wrapped']})",
            flush=True,
        )
        return r

    first = palaestra("palaestra, fresh process")
    before = global_state()
    theirs = trl_steps(args.steps, mini_batches, trl_defaults=True)
    after = global_state()
    print(f"TRL GRPOTrainer {json.dumps(theirs['settings'])}: {theirs['step_s']:.3f} s/step")
    print("global state changed by TRL (import, GRPOConfig, GRPOTrainer, train):")
    for line in state_diff(before, after):
        print(f"  {line}")
    second = palaestra("palaestra after TRL, same process")
    print(f"after / before: {second['step_s'] / first['step_s']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=5, help="timed rollouts per run")
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per side")
    parser.add_argument(
        "--mini-batches",
        type=int,
        default=None,
        help="optimizer steps per rollout (default: palaestra's TrainConfig default)",
    )
    parser.add_argument(
        "--trl-defaults",
        action="store_true",
        help="TRL with its own CPU defaults (bf16, gradient checkpointing)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per side (default: torch's; 1 is steadier on a busy machine)",
    )
    parser.add_argument(
        "--side",
        choices=("palaestra", "trl", "multi", "adapter", "adapter-multi"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--same-process",
        action="store_true",
        help="show the state TRL leaves behind and its effect on palaestra, in one process",
    )
    args = parser.parse_args()
    mini_batches = args.mini_batches or default_mini_batches()
    if mini_batches < 1 or BATCH % mini_batches:
        parser.error(f"--mini-batches must divide the {BATCH} samples of a rollout")
    for name, value in OFFLINE.items():
        os.environ.setdefault(name, value)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.side:
        print(MARKER + json.dumps(run_side(args.side, args)), flush=True)
    elif args.same_process:
        same_process(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
