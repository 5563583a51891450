"""The rollout loop.

Every caller that plays episodes (the CLI, the trainer, the leaderboard harness, the demos)
plays them through :func:`play`; :func:`run_episode` and :func:`run_episodes` are its
one-episode and many-episode front ends.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

from palaestra.errors import InvalidArgumentError, PalaestraError
from palaestra.progress import track
from palaestra.rollout.agent import Agent, BatchAgent, ReplayingAgent, as_batch_agent
from palaestra.rollout.envs import EnvBatch, Envs
from palaestra.rollout.records import Episode, Turn

#: Step cap for environments without a time limit, so a looping agent cannot hang a run.
DEFAULT_MAX_STEPS = 10_000

#: ``factory(env, seed) -> Agent``: a fresh agent for one episode of ``env``.
AgentFactory = Callable[[gym.Env[Any, Any], int | None], Agent]


class AgentError(PalaestraError):
    """An agent failed during a rollout (a model server that stopped answering).

    Attributes:
        completed: The episodes that finished before the failure, in seed order.
    """

    def __init__(self, message: str, completed: Sequence[Episode] = ()) -> None:
        super().__init__(message)
        self.completed = list(completed)


def play(
    agent: Agent | BatchAgent | Sequence[Agent],
    envs: Envs,
    seeds: Sequence[int | None],
    *,
    groups: Sequence[int] | None = None,
    max_turns: int | None = None,
    prefixes: Sequence[Sequence[Turn]] | None = None,
    options: dict[str, Any] | None = None,
    clock: dict[str, float] | None = None,
    keys: Sequence[Sequence[int]] | None = None,
) -> list[Episode]:
    """Play one episode per seed, all at once, and return their records.

    Each round, the agent takes a turn in every episode still running (an LLM agent
    generates for all of them in one batch), then each of those environments steps.

    Args:
        agent: A :class:`BatchAgent`, one :class:`Agent` per episode, or one plain agent
            for a single episode.
        envs: One environment per seed (a list, or a vector env with as many copies).
        seeds: Reset seed of each episode.
        groups: Group id of each episode (default: its position).
        max_turns: Stop an episode after this many turns (it counts as truncated);
            :data:`DEFAULT_MAX_STEPS` when ``None``.
        prefixes: Turns each episode replays before the agent takes over (a branch of an
            earlier episode of the same seed: the same replies, sent as the same actions,
            on a deterministic environment); needs a :class:`ReplayingAgent`.
        options: Options for every ``reset``.
        clock: Where to add the seconds spent in the agent (``agent_s``) and in the
            environments (``env_s``).
        keys: The sampling key of each episode (tuples of integers), for an agent whose
            ``start`` takes them (:class:`~palaestra.llm.hf_agent.HFAgent`): an episode's
            replies then depend on its key, not on which episodes share its batch.

    Raises:
        AgentError: The agent failed; ``completed`` holds the episodes that had finished.
    """
    batch = EnvBatch(envs, len(seeds))
    player = as_batch_agent(agent, len(seeds))
    if len(seeds) > player.max_batch_size:
        raise InvalidArgumentError(
            f"{len(seeds)} episodes exceed max_batch_size={player.max_batch_size}; play them "
            "in waves (palaestra.rollout.run_episodes does)"
        )
    replayable = isinstance(player, ReplayingAgent) and batch.vector is None
    if prefixes is not None and (not replayable or len(prefixes) != len(seeds)):
        raise InvalidArgumentError(
            "prefixes need a list of environments (a vector env steps every copy), one prefix "
            "per seed, and an agent that can replay turns"
        )
    if keys is not None and (
        len(keys) != len(seeds) or "keys" not in inspect.signature(player.start).parameters
    ):
        raise InvalidArgumentError(
            "keys need one key per seed and an agent whose start takes them (HFAgent)"
        )
    seconds = clock if clock is not None else {}
    seconds.setdefault("agent_s", 0.0)
    seconds.setdefault("env_s", 0.0)
    limit = DEFAULT_MAX_STEPS if max_turns is None else max_turns
    start = time.perf_counter()
    observations, infos = batch.reset(seeds, options)
    seconds["env_s"] += time.perf_counter() - start
    episodes = [
        Episode(
            env_id=batch.env_id,
            seed=seed,
            instruction=str(info.get("instruction", "")),
            group=group,
            ground_truth=info.get("ground_truth"),
            answer_template=info.get("answer_template"),
        )
        for seed, group, info in zip(
            seeds, groups if groups is not None else range(len(seeds)), infos, strict=True
        )
    ]
    instructions = [e.instruction for e in episodes]
    if keys is None:
        player.start(instructions)
    else:
        player.start(instructions, keys=keys)  # type: ignore[call-arg]
    finished: set[int] = set()

    def advance(turns: dict[int, Turn]) -> list[int]:
        """Send each turn's action and record the result; the episodes that go on."""
        start = time.perf_counter()
        results = batch.step({k: turn.action for k, turn in turns.items()})
        seconds["env_s"] += time.perf_counter() - start
        going = []
        for k, turn in turns.items():
            observation, reward, terminated, truncated, info = results[k]
            turn.reward, turn.info = reward, info
            turn.invalid_action = bool(info.get("invalid_action", False))
            episode = episodes[k]
            episode.turns.append(turn)
            if terminated or truncated or len(episode.turns) >= limit:
                episode.terminated = terminated
                episode.success = bool(info.get("success", False))
                episode.metrics = {
                    key: float(value) for key, value in info.get("episode_metrics", {}).items()
                }
                finished.add(k)
            else:
                observations[k], infos[k] = observation, info
                going.append(k)
        return going

    active = list(range(len(seeds)))
    try:
        for k, prefix in enumerate(prefixes or []):
            assert isinstance(player, ReplayingAgent)  # checked above
            for earlier in prefix:
                if not advance({k: player.replay(k, observations[k], infos[k], earlier)}):
                    active.remove(k)
                    break
        while active:
            start = time.perf_counter()
            replies = player.respond(
                active, [observations[k] for k in active], [infos[k] for k in active]
            )
            seconds["agent_s"] += time.perf_counter() - start
            # An agent that cannot go on (an LLM whose context is full) ends the episode.
            finished.update(k for k, turn in zip(active, replies, strict=True) if turn is None)
            active = advance(
                {k: turn for k, turn in zip(active, replies, strict=True) if turn is not None}
            )
    except AgentError as exc:
        exc.completed = [episodes[k] for k in sorted(finished)]
        raise
    finally:
        player.finish()
    return episodes


def run_episode(
    env: gym.Env[Any, Any],
    agent: Agent | BatchAgent,
    *,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> Episode:
    """Play one episode of ``agent`` on ``env`` and return its record.

    Args:
        env: A palaestra (or any) environment, wrapped or not.
        agent: The agent; ``agent.reset`` gets ``info["instruction"]``.
        seed: Seed for ``env.reset``; the same seed replays the same episode.
        options: Options for ``env.reset``.
        max_steps: Stop (as truncated) after this many steps if the episode has not ended.
    """
    return play(agent, [env], [seed], options=options, max_turns=max_steps)[0]


def run_episodes(
    env: gym.Env[Any, Any] | str,
    agent: Agent | BatchAgent | AgentFactory,
    *,
    episodes: int | None = None,
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    batch_size: int = 1,
    progress: bool = False,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> list[Episode]:
    """Play many episodes, ``batch_size`` at a time, and return their records in seed order.

    Args:
        env: An environment, or a registered id (``batch_size`` copies are made here and
            closed afterwards).
        agent: A batch agent (an LLM agent, which plays ``batch_size`` episodes at once), a
            plain agent (reused from episode to episode; ``batch_size`` must be 1), or a
            factory ``(env, seed) -> Agent`` that makes a fresh agent for every episode.
        episodes: Number of episodes, with seeds ``seed, seed + 1, ...``.
        seed: Seed of the first episode.
        seeds: The seeds, instead of ``episodes`` and ``seed``.
        env_kwargs: Keyword arguments of ``gym.make`` when ``env`` is an id.
        batch_size: Episodes played at once (at most a batch agent's ``max_batch_size``).
        progress: Show a progress bar.
        max_steps: Per-episode step cap.

    Raises:
        AgentError: The agent failed; ``completed`` holds every episode that had finished.
    """
    todo = list(seeds) if seeds is not None else [seed + k for k in range(episodes or 0)]
    if isinstance(agent, BatchAgent):
        batch_size = min(batch_size, agent.max_batch_size)
    if batch_size < 1 or (batch_size > 1 and not isinstance(env, str)):
        raise InvalidArgumentError(
            f"batch_size={batch_size}: give an env id to play more than one episode at once"
        )
    if batch_size > 1 and isinstance(agent, Agent) and not isinstance(agent, BatchAgent):
        raise InvalidArgumentError(
            "a plain agent plays one episode at a time; give a factory for batch_size > 1"
        )
    owned = isinstance(env, str)
    envs = (
        [gym.make(env, **(env_kwargs or {})) for _ in range(min(batch_size, len(todo)))]
        if isinstance(env, str)
        else [env]
    )
    done: list[Episode] = []
    try:
        waves = range(0, len(todo), len(envs) or 1)
        for start in track(waves, description=f"episodes ({len(envs)} at a time)",
                           enabled=progress):  # fmt: skip
            wave = todo[start : start + len(envs)]
            player: Agent | BatchAgent | list[Agent] = (
                agent
                if isinstance(agent, Agent | BatchAgent)
                else [agent(e, s) for e, s in zip(envs, wave, strict=False)]
            )
            done += play(player, envs[: len(wave)], wave, max_turns=max_steps)
    except AgentError as exc:
        exc.completed = done + exc.completed
        raise
    finally:
        if owned:
            for environment in envs:
                environment.close()
    return done
