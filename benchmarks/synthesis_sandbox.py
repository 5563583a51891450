"""The sandboxes' cost: snippet round trips, policy calls and self-play steps per second.

Run: ``python benchmarks/synthesis_sandbox.py``. First, ``MathTool-v0``'s snippet sandbox:
the round trip of a few snippets (a fresh child each, inside the OS boundary) against
running the same code in this process, and the worker's start. Then the policy sandbox:
the hand-written reference policy of each game (greedy harvester; Cleanup's
cleaner/harvester split; tit-for-tat in the prisoner's dilemma) is called (a) in this
process, on the same observations, and (b) inside its sandboxed
:class:`~palaestra.sandbox.policy.PolicyWorker` (one worker per player for the evaluation,
a forked child per episode, observations and actions as JSON over the episode's pipes).
Then self-play steps are timed both ways (the players' workers started beforehand, the
per-episode fork included; the start is reported apart), and whole evaluations by
:func:`palaestra.agents.synthesis.evaluate_policy`. Each side's best of several alternating
rounds is kept. The ratios are the sandbox's overhead; the target is at most 3x per step.
"""

from __future__ import annotations

import contextlib
import copy
import io
import time
from typing import Any

from palaestra.agents.synthesis import REFERENCE_POLICIES, evaluate_policy, social_game
from palaestra.agents.synthesis.selfplay import SocialGame
from palaestra.sandbox import Sandbox, isolation
from palaestra.sandbox.policy import PolicyWorker

TIT_FOR_TAT = """
def policy(obs):
    if not obs["others_moves"][0]:
        return "cooperate"
    return obs["others_moves"][0][-1]
"""
GAMES = {
    "palaestra/Gathering-v0": REFERENCE_POLICIES["greedy"],
    "palaestra/Cleanup-v0": REFERENCE_POLICIES["cleaner-harvester"],
    "palaestra/PrisonersDilemma-v0": TIT_FOR_TAT,
}


def load(code: str) -> Any:
    """The policy function of ``code``, in this process."""
    namespace: dict[str, Any] = {}
    exec(compile(code, "<policy>", "exec"), namespace)
    return namespace["policy"]


def observations(game: SocialGame, code: str) -> list[dict[str, Any]]:
    """Player 0's observations over one episode of in-process self-play."""
    policies = {a: load(code) for a in game.possible_agents}
    game.reset(seed=0)
    seen = []
    while game.agents:
        seen.append(game.program_observation("player_0"))
        game.step({a: policies[a](game.program_observation(a)) for a in game.agents})
    return seen


def in_process_episodes(game: SocialGame, code: str, episodes: int) -> float:
    """Seconds for ``episodes`` self-play episodes with in-process policy copies."""
    start = time.perf_counter()
    for episode in range(episodes):
        policies = {a: load(code) for a in game.possible_agents}
        game.reset(seed=episode)
        while game.agents:
            game.step(
                {a: policies[a](copy.deepcopy(game.program_observation(a))) for a in game.agents}
            )
    return time.perf_counter() - start


def sandboxed_episodes(game: SocialGame, code: str, episodes: int) -> tuple[float, float]:
    """Seconds to start the players' workers, and for ``episodes`` episodes after that."""
    start = time.perf_counter()
    workers = {a: PolicyWorker(code) for a in game.possible_agents}
    for worker in workers.values():
        worker.start_episode(0)
        worker.end_episode()
    started = time.perf_counter() - start
    start = time.perf_counter()
    for episode in range(episodes):
        game.reset(seed=episode)
        for worker in workers.values():
            worker.begin_episode(episode)
        for worker in workers.values():
            worker.episode_ready()
        while game.agents:
            for agent in game.agents:
                workers[agent].send(game.program_observation(agent))
            game.step({a: workers[a].receive().action for a in game.agents})
        for worker in workers.values():
            worker.finish_episode()
        for worker in workers.values():
            worker.episode_finished()
    played = time.perf_counter() - start
    for worker in workers.values():
        worker.close()
    return started, played


ROUNDS = 5
SNIPPETS = {
    "pass": "pass",
    "print a sum": "print(sum(range(1000)))",
    "sympy factorint": "import sympy\nprint(sympy.factorint(360))",
}


def snippets() -> None:
    """Print each snippet's sandboxed round trip against ``exec`` in this process."""
    boundary = "the OS boundary" if isolation.report().available else "NO OS boundary"
    start = time.perf_counter()
    with Sandbox() as box:
        box.run("pass")
        started = time.perf_counter() - start
        print(f"snippet sandbox ({boundary}); worker start {started * 1e3:.0f} ms")
        print(f"{'snippet':<18} {'in-process':>10} {'sandboxed':>10} {'ratio':>6}")
        for name, code in SNIPPETS.items():
            direct = boxed = float("inf")
            for _ in range(ROUNDS):
                start = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    for _ in range(20):
                        exec(compile(code, "<snippet>", "exec"), {})
                direct = min(direct, (time.perf_counter() - start) / 20)
                start = time.perf_counter()
                for _ in range(20):
                    box.run(code)
                boxed = min(boxed, (time.perf_counter() - start) / 20)
            print(f"{name:<18} {direct * 1e3:>8.3f}ms {boxed * 1e3:>8.2f}ms "
                  f"{boxed / direct:>6.0f}")  # fmt: skip
    print()


def main() -> None:
    """Print calls/s and episodes/s both ways, and the ratios."""
    snippets()
    print(f"{'game':<30} {'calls/s in':>10} {'sandboxed':>9} {'ratio':>5}  "
          f"{'steps/s in':>10} {'sandboxed':>9} {'ratio':>5}  {'start':>7}  "
          f"{'evaluate_policy':>15}")  # fmt: skip
    for env_id, code in GAMES.items():
        game = social_game(env_id)
        seen = observations(game, code) * 5
        policy = load(code)
        # Rounds alternate the two sides and keep each side's best: on a busy machine the
        # ratio of best to best holds where single runs swing by 2x.
        direct = boxed = plain = float("inf")
        runs = []
        episodes = 10
        steps = episodes * len(seen) // 5
        with PolicyWorker(code) as process:
            process.start_episode(0)
            for _ in range(ROUNDS):
                start = time.perf_counter()
                for obs in seen:
                    policy(copy.deepcopy(obs))
                direct = min(direct, time.perf_counter() - start)
                start = time.perf_counter()
                for obs in seen:
                    process.act(obs)
                boxed = min(boxed, time.perf_counter() - start)
        for _ in range(ROUNDS):
            plain = min(plain, in_process_episodes(game, code, episodes))
            runs.append(sandboxed_episodes(game, code, episodes))
        started, played = min(r[0] for r in runs), min(r[1] for r in runs)
        start = time.perf_counter()
        evaluate_policy(code, game, episodes=episodes)
        whole = time.perf_counter() - start
        print(f"{env_id:<30} {len(seen) / direct:>10.0f} {len(seen) / boxed:>9.0f} "
              f"{boxed / direct:>5.1f}  {steps / plain:>10.0f} {steps / played:>9.0f} "
              f"{played / plain:>5.1f}  {started * 1e3:>5.0f}ms  "
              f"{episodes / whole:>7.1f} ep/s")  # fmt: skip


if __name__ == "__main__":
    main()
