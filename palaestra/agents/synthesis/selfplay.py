"""Scoring a policy program in self-play: every player runs its own sandboxed copy."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from palaestra.envs.social.grid import GridGameParallelEnv
from palaestra.envs.social.matrix import MatrixGameParallelEnv
from palaestra.errors import InvalidArgumentError
from palaestra.sandbox.policy import PolicyLimits, PolicyWorker

#: The social metrics averaged over episodes.
SOCIAL_METRICS = ("efficiency", "equality", "sustainability", "peace")

#: Failure kinds, in the order feedback lists them.
FAILURE_KINDS = ("load", "error", "timeout", "memory", "invalid", "crashed")


@dataclass
class Evaluation:
    """A policy's self-play results.

    Attributes:
        reward: Mean return per player per episode.
        metrics: Mean social metrics per episode (efficiency, equality, sustainability,
            peace).
        failures: Failed calls by kind (each played the default action).
        errors: The first message of each failure kind.
        episodes: Episodes played.
        steps: Calls made (players x steps).
    """

    reward: float
    metrics: dict[str, float]
    failures: dict[str, int]
    errors: dict[str, str] = field(default_factory=dict)
    episodes: int = 0
    steps: int = 0


#: The multi-player games policies are synthesized for.
SocialGame = GridGameParallelEnv | MatrixGameParallelEnv


def social_game(env_id: str) -> SocialGame:
    """The multi-player game behind a registered social-dilemma id, with its settings."""
    env = gym.make(env_id)
    game = getattr(env.unwrapped, "game", None)
    env.close()
    if not isinstance(game, GridGameParallelEnv | MatrixGameParallelEnv):
        raise InvalidArgumentError(
            f"{env_id} is not a social dilemma; policy synthesis plays the social games "
            "(palaestra/Gathering-v0, palaestra/Cleanup-v0, palaestra/PrisonersDilemma-v0, ...)"
        )
    return game


def fallback_action(game: SocialGame) -> str:
    """What a failed call plays: ``stay`` on the grid, the default move of a matrix game."""
    return "stay" if isinstance(game, GridGameParallelEnv) else str(game.default)


def evaluate_policy(
    code: str,
    game: SocialGame,
    *,
    episodes: int = 3,
    seed: int = 0,
    limits: PolicyLimits | None = None,
    default_action: str | None = None,
    unsafe_sandbox: bool | None = None,
) -> Evaluation:
    """Play ``episodes`` self-play episodes of ``game`` with ``code`` for every player.

    Each player's copy runs in its own :class:`~palaestra.sandbox.policy.PolicyWorker`
    (a fresh process per episode): copies share no memory, and a policy that breaks (raises,
    times out, returns an unknown action, dies) plays ``default_action`` for that step
    (``stay`` on the grid, the game's default move in the matrix games). The same seed
    gives the same evaluation. ``unsafe_sandbox`` opts in to running the policy without
    the OS sandbox where this machine cannot build it (``None``:
    ``PALAESTRA_UNSAFE_SANDBOX``); without it, such a machine raises
    :class:`~palaestra.errors.SandboxUnavailableError`.
    """
    if episodes < 1:
        raise InvalidArgumentError("episodes must be >= 1")
    default_action = default_action or fallback_action(game)
    names = set(game.action_names())
    failures: Counter[str] = Counter()
    errors: dict[str, str] = {}
    returns: list[float] = []
    metrics: list[dict[str, float]] = []
    calls = 0
    # One sandbox per player for the whole evaluation; each forks a child per episode.
    players = {
        a: PolicyWorker(code, limits=limits, unsafe_sandbox=unsafe_sandbox)
        for a in game.possible_agents
    }
    try:
        for episode in range(episodes):
            game.reset(seed=seed + episode)
            for k, worker in enumerate(players.values()):
                worker.begin_episode((seed + episode) * 1009 + k)
            # A program that fails to load fails every call of the episode with that reason.
            for worker in players.values():
                worker.episode_ready()
            final: dict[str, dict[str, float]] = {}
            while game.agents:
                # Every player thinks at once (each in its own process), then all answer.
                for agent in game.agents:
                    players[agent].send(game.program_observation(agent))
                actions = {}
                for agent in game.agents:
                    outcome = players[agent].receive()
                    calls += 1
                    action = outcome.action
                    kind: str | None = outcome.failure
                    message = outcome.error
                    if kind is None and action not in names:
                        kind, message = "invalid", f"unknown action {action!r}"
                    if kind is not None:
                        failures[kind] += 1
                        errors.setdefault(kind, message)
                        action = default_action
                    actions[agent] = action
                *_, infos = game.step(actions)
                for agent, info in infos.items():
                    if "episode_metrics" in info:
                        final[agent] = info["episode_metrics"]
            for worker in players.values():
                worker.finish_episode()
            for worker in players.values():
                worker.episode_finished()
            returns.extend(final[a]["return"] for a in final)
            first = next(iter(final.values()))
            metrics.append({k: first[k] for k in SOCIAL_METRICS})
    finally:
        for worker in players.values():
            worker.close()
    return Evaluation(
        reward=float(np.mean(returns)),
        metrics={k: float(np.mean([m[k] for m in metrics])) for k in metrics[0]},
        failures={kind: failures.get(kind, 0) for kind in FAILURE_KINDS},
        errors=errors,
        episodes=episodes,
        steps=calls,
    )
