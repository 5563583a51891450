"""The CPU-side costs of one ALFWorld GRPO iteration, measured for docs/scaling.md.

Run: ``python benchmarks/scaling_components.py [--games 10] [--steps 20] [--rounds 3]``
(about 2 minutes on 2 cores once the games are cached; the first run also generates them).
It prints each figure docs/scaling.md uses:

* ALFWorld (``palaestra/ALFWorld-v0``): a reset to a game this process has not played
  before (an environment actor of a training run meets new games for most of the run: 600
  in the generated pool), to a game it has played before (its parsed text templates are
  cached), and to the game already loaded; a step with a random admissible action; and
  SearchQA's step for comparison. Games missing from the cache are generated first (a
  one-off cost, in the new-game reset of a first run).
* Ray's object store: ``ray.put`` of a state dict shaped like Qwen2.5-1.5B-Instruct's in
  bf16 (1.54 B parameters, 3.09 GB), and an actor in another process taking it with
  ``ray.get`` and copying it into its own tensors (a weight sync to one generation actor on
  the same node; between nodes the network adds its own time), shipped as int16 numpy
  views of the tensors (zero-copy) and as the torch tensors themselves (pickled).
* Ray's overhead per lockstep turn: the bare rollout of ``benchmarks/distributed_rollout.py``
  (64 bandit episodes of 50 turns, a random agent, in this process and on 2 env actors),
  and one round trip of a generation request's payload (32 prompts of 1,200 token ids out,
  32 replies of 200 back) to an actor that only echoes it.

Ray runs as a local cluster of 2 CPUs (``ray.init(num_cpus=2)``). Every figure is a
wall-clock time on this machine; GPU costs are not measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import palaestra  # noqa: F401 - registers the environments

#: Qwen2.5-1.5B-Instruct's shapes (its config.json on the Hub): hidden 1536, MLP 8960,
#: 28 layers, 12 query heads and 2 key/value heads of 128, vocabulary 151936, tied embeddings.
QWEN25_15B = {"hidden": 1536, "mlp": 8960, "layers": 28, "kv": 2 * 128, "vocab": 151936}
#: Its parameter count (the model card's 1.54 B); the shapes above must add up to it.
QWEN25_15B_PARAMETERS = 1_543_714_304


def qwen_shapes(scale: float = 1.0) -> dict[str, tuple[int, ...]]:
    """Parameter name -> shape of Qwen2.5-1.5B (``scale`` < 1 keeps that share of the layers)."""
    h, f, kv = QWEN25_15B["hidden"], QWEN25_15B["mlp"], QWEN25_15B["kv"]
    layers = QWEN25_15B["layers"] if scale >= 1 else max(1, round(QWEN25_15B["layers"] * scale))
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (QWEN25_15B["vocab"], h)}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes |= {
            p + "self_attn.q_proj.weight": (h, h),
            p + "self_attn.q_proj.bias": (h,),
            p + "self_attn.k_proj.weight": (kv, h),
            p + "self_attn.k_proj.bias": (kv,),
            p + "self_attn.v_proj.weight": (kv, h),
            p + "self_attn.v_proj.bias": (kv,),
            p + "self_attn.o_proj.weight": (h, h),
            p + "mlp.gate_proj.weight": (f, h),
            p + "mlp.up_proj.weight": (f, h),
            p + "mlp.down_proj.weight": (h, f),
            p + "input_layernorm.weight": (h,),
            p + "post_attention_layernorm.weight": (h,),
        }
    shapes["model.norm.weight"] = (h,)
    return shapes


def nbytes(state: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in state.values())


# --------------------------------------------------------------------------- environments
def alfworld_costs(games: int, steps: int) -> dict[str, float]:
    """Reset and step times of ``palaestra/ALFWorld-v0`` on ``games`` seeds."""
    env = gym.make("palaestra/ALFWorld-v0")
    seeds = list(range(games))
    first, load, again, step = [], [], [], []
    for seed in seeds:  # a game new to this process (generated first if not cached)
        start = time.perf_counter()
        env.reset(seed=seed)
        first.append(time.perf_counter() - start)
    for seed in seeds:  # a game played before, but not the one in the engine
        start = time.perf_counter()
        _, info = env.reset(seed=seed)
        load.append(time.perf_counter() - start)
        start = time.perf_counter()
        _, info = env.reset(seed=seed)
        again.append(time.perf_counter() - start)
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            actions = info["available_actions"]
            start = time.perf_counter()
            _, _, terminated, truncated, info = env.step(actions[rng.integers(len(actions))])
            step.append(time.perf_counter() - start)
            if terminated or truncated:
                break
    env.close()
    return {
        "alfworld_reset_new_game_s": statistics.mean(first),
        "alfworld_reset_new_game_max_s": max(first),
        "alfworld_reset_seen_game_s": statistics.mean(load),
        "alfworld_reset_loaded_game_s": statistics.mean(again),
        "alfworld_step_s": statistics.mean(step),
        "alfworld_step_p90_s": float(np.quantile(step, 0.9)),
        "alfworld_steps_timed": float(len(step)),
    }


def searchqa_step(episodes: int = 20) -> float:
    """Mean step time of ``palaestra/SearchQA-v0`` (a BM25 search per step)."""
    env = gym.make("palaestra/SearchQA-v0")
    times = []
    for seed in range(episodes):
        env.reset(seed=seed)
        for query in ("born in", "company founded", "answer[none]"):
            action = query if query.startswith("answer") else f"search[{query} {seed}]"
            start = time.perf_counter()
            _, _, terminated, truncated, _ = env.step(action)
            times.append(time.perf_counter() - start)
            if terminated or truncated:
                break
    env.close()
    return statistics.mean(times)


# --------------------------------------------------------------------------- Ray
def as_arrays(state: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """The bf16 tensors as int16 numpy views of the same memory (numpy has no bf16)."""
    return {k: t.view(torch.int16).numpy() for k, t in state.items()}


def weight_transfer(ray: Any, scale: float, rounds: int) -> dict[str, float]:
    """ray.put of the state dict, then an actor's ray.get and copy into its own tensors.

    Two ways to ship it: int16 numpy views of the tensors (Ray's zero-copy path: the actor
    maps the object store's memory and copies once, into its own tensors), and the torch
    tensors themselves (Ray pickles them, a copy each way). The numpy way is timed ``rounds``
    times and goes first, so the object store's memory is already mapped when the torch way
    is timed (once: it is slow). The best round is kept.
    """

    @ray.remote(num_cpus=1)
    class Receiver:
        def __init__(self, shapes: dict[str, tuple[int, ...]]) -> None:
            self.state = {k: torch.zeros(v, dtype=torch.bfloat16) for k, v in shapes.items()}

        def ping(self) -> None:
            return None

        def receive(self, boxed: list[Any]) -> tuple[float, float]:
            start = time.perf_counter()
            state = ray.get(boxed[0])
            got = time.perf_counter()
            with torch.no_grad():
                for name, value in state.items():
                    if isinstance(value, np.ndarray):
                        value = torch.from_numpy(value).view(torch.bfloat16)
                    self.state[name].copy_(value)
            return got - start, time.perf_counter() - got

    shapes = qwen_shapes(scale)
    state = {k: torch.full(v, 0.5, dtype=torch.bfloat16) for k, v in shapes.items()}
    receiver = Receiver.remote(shapes)  # type: ignore[attr-defined]
    ray.get(receiver.ping.remote())
    figures = {
        "weights_gb": nbytes(state) / 1e9,
        "weights_parameters": float(sum(t.numel() for t in state.values())),
    }
    for way, times in (("numpy", rounds), ("torch", 1)):
        best = dict.fromkeys(("put", "get", "copy", "call"), float("inf"))
        for _ in range(times):
            start = time.perf_counter()
            ref = ray.put(state if way == "torch" else as_arrays(state))
            put = time.perf_counter() - start
            start = time.perf_counter()
            # Boxed in a list so the actor's own ray.get is timed, not Ray's argument fetch.
            got, copied = ray.get(receiver.receive.remote([ref]))
            call = time.perf_counter() - start
            del ref
            for key, value in zip(best, (put, got, copied, call), strict=True):
                best[key] = min(best[key], value)
        figures |= {f"sync_{way}_{key}_s": value for key, value in best.items()}
    ray.kill(receiver)
    return figures


def generation_round_trip(ray: Any, rounds: int) -> float:
    """One turn's generation request payload to an actor and back (the actor only echoes)."""

    @ray.remote(num_cpus=0.25)
    class Echo:
        def generate(self, prompts: list[list[int]]) -> list[list[int]]:
            return [p[:200] for p in prompts]

    echo = Echo.remote()  # type: ignore[attr-defined]
    prompts = [list(range(1200)) for _ in range(32)]
    ray.get(echo.generate.remote(prompts))
    times = []
    for _ in range(rounds * 10):
        start = time.perf_counter()
        ray.get(echo.generate.remote(prompts))
        times.append(time.perf_counter() - start)
    ray.kill(echo)
    return statistics.median(times)


def env_actor_overhead(rounds: int) -> dict[str, float]:
    """distributed_rollout.py's bare rollout: 64 bandit episodes, in-process and on 2 actors."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from distributed_rollout import rollout_seconds

    from palaestra.distributed import RayEnvs

    episodes, turns = 64, 50  # palaestra/Bandit-v0: 50 rounds an episode
    seeds = list(range(episodes))
    serial = [gym.make("palaestra/Bandit-v0") for _ in seeds]
    pool = RayEnvs("palaestra/Bandit-v0", episodes, workers=2)
    best = {"serial": float("inf"), "ray": float("inf")}
    for _ in range(rounds):
        best["serial"] = min(best["serial"], rollout_seconds(serial, seeds, turns))
        best["ray"] = min(best["ray"], rollout_seconds(pool, seeds, turns))
    pool.close()
    extra = best["ray"] - best["serial"]
    return {
        "bandit_rollout_serial_s": best["serial"],
        "bandit_rollout_2_actors_s": best["ray"],
        "env_actor_overhead_per_turn_s": extra / turns,
        "env_actor_overhead_per_episode_s": extra / episodes,
    }


def report(f: dict[str, float], games: int, scale: float) -> None:
    """Print the figures, grouped as docs/scaling.md uses them."""

    def row(label: str, value: float, unit: str, note: str = "") -> None:
        print(f"  {label:<44} {value:9.3f} {unit}{note}")

    print(
        f"\nALFWorld (palaestra/ALFWorld-v0): {games} games, "
        f"{int(f['alfworld_steps_timed'])} random steps"
    )
    row(
        "reset, a game new to this process",
        f["alfworld_reset_new_game_s"],
        "s",
        f"  (max {f['alfworld_reset_new_game_max_s']:.2f} s)",
    )
    row("reset, a game this process played before", f["alfworld_reset_seen_game_s"], "s")
    row("reset, the game already loaded", f["alfworld_reset_loaded_game_s"], "s")
    row(
        "step",
        f["alfworld_step_s"] * 1000,
        "ms",
        f"  (p90 {f['alfworld_step_p90_s'] * 1000:.1f} ms)",
    )
    row("SearchQA step, for comparison", f["searchqa_step_s"] * 1000, "ms")
    scaled = "" if scale >= 1 else f", measured on {scale:.0%} of it and scaled up"
    gigabytes = 2 * QWEN25_15B_PARAMETERS / 1e9
    print(f"\nWeight sync: Qwen2.5-1.5B state dict in bf16, {gigabytes:.2f} GB{scaled}")
    for way, label in (("numpy", "int16 numpy views"), ("torch", "torch tensors (pickled)")):
        print(f"  as {label}:")
        row("  ray.put in the learner", f[f"sync_{way}_put_s"], "s")
        row("  ray.get in an actor (another process)", f[f"sync_{way}_get_s"], "s")
        row("  copy into the actor's own tensors", f[f"sync_{way}_copy_s"], "s")
        row("  whole call, on the learner's clock", f[f"sync_{way}_call_s"], "s")
    print("\nRay, per lockstep turn")
    row("generation request round trip (payload only)", f["generation_round_trip_s"] * 1000, "ms")
    print(
        f"  64 bandit episodes x 50 turns, random agent: {f['bandit_rollout_serial_s']:.2f} s "
        f"in-process, {f['bandit_rollout_2_actors_s']:.2f} s on 2 env actors"
    )
    row("env actors' overhead per turn", f["env_actor_overhead_per_turn_s"] * 1000, "ms")
    row("env actors' overhead per episode", f["env_actor_overhead_per_episode_s"] * 1000, "ms")
    print(f"\nbenchmark took {f['benchmark_s']:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--games", type=int, default=10, help="ALFWorld games (seeds)")
    parser.add_argument("--steps", type=int, default=20, help="random steps per game")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--weights-scale",
        type=float,
        default=1.0,
        help="share of Qwen2.5-1.5B's layers to send (< 1 where memory is short; the "
        "transfer times are then scaled up linearly to the whole model)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    assert sum(int(np.prod(s)) for s in qwen_shapes().values()) == QWEN25_15B_PARAMETERS

    import ray

    print(
        f"{len(os.sched_getaffinity(0))} cores usable, torch {torch.__version__}, "
        f"ray {ray.__version__}"
    )
    figures: dict[str, float] = {}
    start = time.perf_counter()
    figures |= alfworld_costs(args.games, args.steps)
    figures["searchqa_step_s"] = searchqa_step()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        sync = weight_transfer(ray, args.weights_scale, args.rounds)
        factor = QWEN25_15B_PARAMETERS / sync["weights_parameters"]
        for key in sync:
            if key.startswith("sync_"):
                sync[key] *= factor  # 1.0 unless --weights-scale < 1
        figures |= sync
        figures["generation_round_trip_s"] = generation_round_trip(ray, args.rounds)
        figures |= env_actor_overhead(args.rounds)
    finally:
        ray.shutdown()
    figures["benchmark_s"] = time.perf_counter() - start

    report(figures, args.games, args.weights_scale)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
