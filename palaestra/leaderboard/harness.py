"""Scoring an agent on a suite, resumable, and verifying a results file by replaying it."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym

from palaestra.agents.factory import make_agent
from palaestra.errors import InvalidArgumentError, PalaestraError
from palaestra.leaderboard.schema import AgentInfo, EpisodeResult, LearningCurve, Results
from palaestra.leaderboard.scoring import score_results
from palaestra.leaderboard.suites import Suite, Task
from palaestra.progress import track
from palaestra.rollout import Agent, AgentError, BatchAgent, Episode, play, run_episode


@dataclasses.dataclass(frozen=True)
class HiddenSeeds:
    """Hidden seeds a leaderboard server handed out for one submission (its challenge).

    Attributes:
        id: The challenge id, written into the results file.
        seeds: The seeds of every task of the suite.
    """

    id: str
    seeds: dict[str, list[int]]


def _partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial.jsonl")


def interrupted_challenge(out: Path, agent_spec: str, suite: Suite) -> HiddenSeeds | None:
    """The hidden seeds an interrupted run of ``agent_spec`` into ``out`` was playing.

    Resuming must finish the same challenge, not ask the server for new seeds.
    """
    try:
        header = json.loads(_partial_path(out).read_text().split("\n", 1)[0])
        if header["agent"] == agent_spec and header["hash"] == suite.hash and header["challenge"]:
            return HiddenSeeds(**header["challenge"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _finished(partial: Path, header: str) -> dict[tuple[str, int], EpisodeResult]:
    """Episodes already played by an interrupted run of the same agent on the same suite.

    A torn last line (the episode being written when the run stopped) is ignored.
    """
    done: dict[tuple[str, int], EpisodeResult] = {}
    if not partial.is_file() or partial.stat().st_size == 0:
        partial.write_text(header + "\n")
        return done
    lines = partial.read_text().splitlines()
    if not lines or lines[0] != header:
        raise InvalidArgumentError(
            f"{partial} holds an interrupted run of another agent or suite; delete it or "
            "write the results elsewhere"
        )
    for line in lines[1:]:
        try:
            episode = EpisodeResult.model_validate_json(line)
        except ValueError:
            continue  # the line being written when the run was stopped
        done[(episode.task, episode.seed)] = episode
    return done


def evaluate(
    agent_spec: str,
    suite: Suite,
    out: Path,
    *,
    families: list[str] | None = None,
    name: str | None = None,
    workers: int = 1,
    episode_timeout: float = 3600.0,
    progress: bool = True,
    challenge: HiddenSeeds | None = None,
    learning_curve: LearningCurve | None = None,
    rollout_workers: int = 0,
    ray_address: str | None = None,
) -> Results:
    """Play ``agent_spec`` on the suite (development seeds, or a challenge's) and write ``out``.

    Each finished episode is appended to ``<out>.partial.jsonl`` at once (with Ray, as its
    wave ends), so a run that is interrupted and started again with the same arguments skips
    the episodes it finished.

    Args:
        agent_spec: An agent spec for :func:`palaestra.agents.factory.make_agent`.
        suite: The suite.
        out: The results file to write.
        families: Only these env families (all by default).
        name: The agent's display name (default: the spec).
        workers: Episodes played at once, each in its own process (for scripted agents and
            HTTP servers; a local model would be loaded by every worker).
        episode_timeout: Seconds an episode may take in a worker before the run fails.
        progress: Show a progress bar.
        challenge: Hidden seeds handed out by a leaderboard server, played instead of the
            development seeds (see :func:`palaestra.leaderboard.client.request_challenge`).
        learning_curve: How the agent was trained, shown on the leaderboard.
        rollout_workers: Ray actors holding each task's environments (the pool training
            uses, :class:`~palaestra.distributed.RayEnvs`); 0: none. Episodes are played in
            waves, each written to the partial file as it ends: a local model's
            ``max_batch_size`` at once (one batch of generation), an OpenAI-compatible
            agent's ``concurrency``, or :data:`WAVE_PER_WORKER` per actor for a scripted
            agent. Scripted agents and local models play the same episodes as without Ray.
            Needs ``palaestra[distributed]``.
        ray_address: The Ray cluster to join (default: ``RAY_ADDRESS``, else a local
            cluster started for the run); needs ``rollout_workers``.

    Raises:
        InvalidArgumentError: ``workers`` and ``rollout_workers`` together, ``ray_address``
            without ``rollout_workers``, or the oracle on Ray actors.
        DistributedError: The Ray cluster cannot be reached or its actors cannot start.
    """
    import palaestra

    _check_ray_arguments(agent_spec, workers, rollout_workers, ray_address)
    tasks = suite.select(families)
    partial = _partial_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    challenge_id = challenge.id if challenge else None
    header = json.dumps(
        {
            "agent": agent_spec,
            "suite": suite.id,
            "hash": suite.hash,
            "challenge": dataclasses.asdict(challenge) if challenge else None,
        }
    )
    done = _finished(partial, header)
    work = [
        (task, seed)
        for task in tasks
        for seed in (challenge.seeds[task.name] if challenge else suite.seeds(task))
    ]
    todo = [(task, seed) for task, seed in work if (task.name, seed) not in done]
    played = (
        _play_on_ray(agent_spec, todo, rollout_workers, ray_address, progress)
        if rollout_workers > 0
        else _play_all(agent_spec, todo, workers, episode_timeout, progress)
    )
    with partial.open("a") as log:
        for episode in played:
            log.write(episode.model_dump_json() + "\n")
            log.flush()
            done[(episode.task, episode.seed)] = episode
    results = Results(
        palaestra_version=palaestra.__version__,
        suite=suite.id,
        suite_hash=suite.hash,
        agent=AgentInfo(name=name or agent_spec, spec=agent_spec),
        privileged=sorted(
            {k for t in tasks for k in t.kwargs if k in PRIVILEGED_KWARGS}
            | ({"env state"} if agent_spec in PRIVILEGED_AGENTS else set())
        ),
        challenge=challenge_id,
        episodes=[done[(t.name, s)] for t, s in work],
        learning_curve=learning_curve,
    )
    results = score_results(results, {t.name: t.family for t in tasks})
    out.write_text(results.model_dump_json(indent=1))
    partial.unlink()
    return results


#: Keyword arguments that give an agent privileged information.
PRIVILEGED_KWARGS = {"expert", "expose_ground_truth"}
#: Agents that read the env's hidden state.
PRIVILEGED_AGENTS = {"oracle"}
#: Episodes of a wave per Ray actor for a scripted agent: each round trip steps several
#: environments on every actor, and the partial file is written at least this often.
WAVE_PER_WORKER = 8


def _check_ray_arguments(
    agent_spec: str, workers: int, rollout_workers: int, ray_address: str | None
) -> None:
    """Refuse Ray settings that cannot work, before anything is played or written."""
    if rollout_workers < 0:
        raise InvalidArgumentError(
            f"rollout_workers must be >= 0 (0: no Ray actors), got {rollout_workers}"
        )
    if rollout_workers > 0 and workers > 1:
        raise InvalidArgumentError(
            f"workers={workers} and rollout_workers={rollout_workers}: choose one; episodes "
            "are played either in worker processes or on Ray env actors"
        )
    if ray_address is not None and rollout_workers == 0:
        raise InvalidArgumentError("ray_address needs rollout_workers > 0 (actors to place)")
    if rollout_workers > 0 and agent_spec in PRIVILEGED_AGENTS:
        raise InvalidArgumentError(
            f"the {agent_spec} agent reads the state of the environment it plays, which a Ray "
            "actor holds; play it without rollout_workers"
        )


def _play_all(
    agent_spec: str,
    todo: list[tuple[Task, int]],
    workers: int,
    timeout: float,
    progress: bool,
) -> Iterator[EpisodeResult]:
    """Play ``todo`` here, or in ``workers`` processes a batch at a time, in order."""
    if workers <= 1:
        for task, seed in track(todo, description="episodes", enabled=progress):
            yield _play(agent_spec, task, seed)
        return
    from palaestra.processes import WorkerPool

    pool = WorkerPool("palaestra.leaderboard.harness:play_episode", workers=workers)
    try:
        batches = [todo[k : k + workers] for k in range(0, len(todo), workers)]
        for batch in track(batches, description="episode batches", enabled=progress):
            calls = [(agent_spec, dataclasses.asdict(task), seed) for task, seed in batch]
            for (task, seed), result in zip(batch, pool.map(calls, timeout), strict=True):
                if not result.ok:
                    raise PalaestraError(f"episode {task.name} seed {seed} failed: {result.error}")
                yield EpisodeResult.model_validate(result.value)
    finally:
        pool.close()


def _play_on_ray(
    agent_spec: str,
    todo: list[tuple[Task, int]],
    rollout_workers: int,
    address: str | None,
    progress: bool,
) -> Iterator[EpisodeResult]:
    """Play ``todo`` on Ray env actors, task by task and a wave at a time, in order.

    Each task's environments live in one :class:`~palaestra.distributed.RayEnvs` of
    ``rollout_workers`` actors, started for the task and closed after it; each wave of
    episodes is one :func:`~palaestra.rollout.play` on it. A wave holds as many episodes as
    the agent plays at once: a local model's ``max_batch_size`` (its replies generated in
    one batch), an OpenAI-compatible agent's ``concurrency``, or :data:`WAVE_PER_WORKER`
    per actor for a scripted agent (a fresh one per episode, seeded with the episode's
    seed, as :func:`agent_for` makes it). A local model samples episode ``seed`` under the
    key ``(seed, 0)``, the key the serial path's model reseeded with ``seed`` begins with,
    so local and scripted agents play the very episodes of the serial path.
    """
    if not todo:
        return
    from palaestra.distributed import RayEnvs, connect

    connect(address)  # an unreachable cluster fails before a model is loaded
    kind, _, rest = agent_spec.partition(":")
    batch: BatchAgent | None = None
    if kind == "hf" and rest:
        batch = local_model(rest)
    elif kind == "openai" and rest:
        made = make_agent(agent_spec, None)
        assert isinstance(made, BatchAgent)  # an LLM agent plays batches
        batch = made
    size = batch.max_batch_size if batch is not None else WAVE_PER_WORKER * rollout_workers
    tasks = {task.name: task for task, _ in todo}
    seeds = {name: [seed for task, seed in todo if task.name == name] for name in tasks}
    waves = [
        (tasks[name], task_seeds[start : start + size])
        for name, task_seeds in seeds.items()
        for start in range(0, len(task_seeds), size)
    ]
    pool: RayEnvs | None = None
    env: gym.Env[Any, Any] | None = None  # only to build scripted agents, never stepped
    current: str | None = None

    def close() -> None:
        if pool is not None:
            pool.close()
        if env is not None:
            env.close()

    try:
        for task, wave in track(waves, description="episode waves", enabled=progress):
            if task.name != current:
                close()
                pool, env, current = None, None, task.name
                if batch is None:
                    env = gym.make(task.env, **task.kwargs)
            # Agents first: a misspelt agent fails before any actor is started.
            agents = [] if env is None else [_scripted_agent(agent_spec, env, s) for s in wave]
            if pool is None:
                pool = RayEnvs(
                    task.env,
                    min(size, len(seeds[task.name])),
                    workers=rollout_workers,
                    env_kwargs=task.kwargs,
                    address=address,
                )
            try:
                if batch is None:
                    episodes = play(agents, pool, wave)
                elif kind == "hf":
                    episodes = play(batch, pool, wave, keys=[(seed, 0) for seed in wave])
                else:
                    episodes = play(batch, pool, wave)
            except AgentError as exc:  # a model server failed: keep what the wave finished
                yield from _results(task, exc.completed)
                raise
            yield from _results(task, episodes)
    finally:
        close()


def _results(task: Task, episodes: list[Episode]) -> Iterator[EpisodeResult]:
    for episode in episodes:
        episode.env_id = task.env  # the id the task names, whatever the spec's own id
        yield EpisodeResult.from_episode(task.name, episode)


def _scripted_agent(agent_spec: str, env: gym.Env[Any, Any], seed: int) -> Agent:
    agent = make_agent(agent_spec, env, seed=seed)
    assert isinstance(agent, Agent)  # scripted agents play one episode each
    return agent


def play_episode(agent_spec: str, task: dict[str, Any], seed: int) -> dict[str, Any]:
    """One episode in a worker process (JSON in, JSON out)."""
    return _play(agent_spec, Task(**task), seed).model_dump()


@functools.lru_cache(maxsize=1)
def local_model(spec: str) -> Any:
    """A local model's agent, loaded once per process rather than once per episode."""
    from palaestra.llm.hf_agent import HFAgent

    return HFAgent.from_spec(spec)


def agent_for(agent_spec: str, env: gym.Env[Any, Any], seed: int) -> Any:
    """The agent of ``agent_spec`` for one episode of ``env`` (a local model loaded once)."""
    kind, _, rest = agent_spec.partition(":")
    if kind == "hf" and rest:
        agent = local_model(rest)
        agent.reseed(seed)  # the episode samples as a freshly made agent with this seed would
        return agent
    return make_agent(agent_spec, env, seed=seed)


def _play(agent_spec: str, task: Task, seed: int) -> EpisodeResult:
    env = gym.make(task.env, **task.kwargs)
    try:
        agent = agent_for(agent_spec, env, seed)
        episode = run_episode(env, agent, seed=seed)
    finally:
        env.close()
    episode.env_id = task.env  # the id the task names, whatever the spec's own id
    return EpisodeResult.from_episode(task.name, episode)


class Mismatch(PalaestraError):  # noqa: N818 - a verdict, reported to the submitter
    """A replayed episode does not give the claimed result.

    Attributes:
        task: The task of the first mismatching episode.
        seed: Its seed.
        reason: What differs.
    """

    def __init__(self, task: str, seed: int, reason: str) -> None:
        super().__init__(f"episode {task} seed {seed}: {reason}")
        self.task, self.seed, self.reason = task, seed, reason


def replay(episode: EpisodeResult, task: Task) -> None:
    """Replay ``episode``'s actions from its seed; raise :class:`Mismatch` on any difference."""
    env = gym.make(task.env, **task.kwargs)
    try:
        env.reset(seed=episode.seed)
        info: dict[str, Any] = {}
        ended = False
        for step, action in enumerate(episode.actions):
            if ended:
                raise Mismatch(task.name, episode.seed, f"actions go on after the end at {step}")
            _, reward, terminated, truncated, info = env.step(action)
            claimed = episode.rewards[step] if step < len(episode.rewards) else None
            if claimed is None or not math.isclose(reward, claimed, rel_tol=1e-9, abs_tol=1e-9):
                raise Mismatch(
                    task.name, episode.seed, f"step {step} gives reward {reward}, claimed {claimed}"
                )
            ended = terminated or truncated
        if len(episode.rewards) != len(episode.actions):
            raise Mismatch(task.name, episode.seed, "as many rewards as actions are needed")
        if not ended:
            # A scored episode is a whole one: a cut-off prefix would pick its own ending.
            raise Mismatch(
                task.name,
                episode.seed,
                f"the episode does not end: after its {len(episode.actions)} actions the env "
                "has neither terminated nor truncated",
            )
        if bool(info.get("success", False)) != episode.success:
            raise Mismatch(task.name, episode.seed, f"success is {info.get('success', False)}")
    finally:
        env.close()


def check_claims(results: Results, suite: Suite, seeds: dict[str, list[int]] | None = None) -> None:
    """The cheap checks of :func:`verify`: suite hash and episode set, no replay.

    Whole tasks may be left out (a results file for part of a suite), but a task that is
    there must have every one of its seeds, each once, and no others.

    Raises:
        Mismatch: The first problem found (``task`` is ``"*"`` for file-level ones).
    """
    if results.suite != suite.id or results.suite_hash != suite.hash:
        raise Mismatch("*", -1, f"results are for suite {results.suite} {results.suite_hash[:12]}")
    expected = {
        (task.name, seed)
        for task in suite.tasks
        for seed in (seeds or {}).get(task.name, suite.seeds(task))
    }
    claimed = [(e.task, e.seed) for e in results.episodes]
    if not claimed:
        raise Mismatch("*", -1, "the file holds no episodes")
    if len(set(claimed)) != len(claimed):
        raise Mismatch("*", -1, "an episode appears twice")
    for episode in results.episodes:
        if (episode.task, episode.seed) not in expected:
            raise Mismatch(episode.task, episode.seed, "not an episode of the suite")
        if episode.env != suite.task(episode.task).env:
            raise Mismatch(episode.task, episode.seed, f"env {episode.env} is not the task's")
    played = {t for t, _ in claimed}
    missing = sorted((t, s) for t, s in expected - set(claimed) if t in played)
    if missing:
        raise Mismatch(missing[0][0], missing[0][1], "episode missing")


def verify(results: Results, suite: Suite, seeds: dict[str, list[int]] | None = None) -> None:
    """Check a results file against ``suite``: hash, episode set, then every replay.

    Args:
        results: The submitted results.
        suite: The suite they claim.
        seeds: The seeds each task must have been played on (the suite's development seeds
            by default; a server passes the hidden ones of the file's challenge).

    Raises:
        Mismatch: The first problem found (``task`` is ``"*"`` for file-level ones).
    """
    check_claims(results, suite, seeds)
    for episode in results.episodes:
        replay(episode, suite.task(episode.task))


def load_results(path: Path) -> Results:
    """Read and validate a results file; a clear error naming it when it is not one."""
    try:
        return Results.model_validate_json(path.read_bytes())
    except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise InvalidArgumentError(f"{path} is not a palaestra results file: {exc}") from exc
