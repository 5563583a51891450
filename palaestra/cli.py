"""The ``palaestra`` command line.

``palaestra envs`` lists the environments, ``palaestra play ENV_ID`` lets a person play one,
``palaestra run ENV_ID --agent NAME`` runs an agent and prints a summary table,
``palaestra serve-env ENV_ID`` serves one to OpenEnv clients, and ``palaestra demo`` runs the
demo that ``make demo`` shows.

``palaestra --unsafe-sandbox COMMAND ...`` lets the command run untrusted code (tool calls,
synthesized policies) without the OS sandbox on a machine that cannot build it (no
bubblewrap or user namespaces); it sets ``PALAESTRA_UNSAFE_SANDBOX=1`` for the command and
the processes it starts.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import gymnasium as gym
import tyro
from rich.console import Console
from rich.table import Table
from tyro.extras import SubcommandApp

from palaestra.agents.factory import play_agent
from palaestra.envs.registration import ENTRIES
from palaestra.errors import PalaestraError
from palaestra.rollout import AgentError, Episode, summarize_episodes

app = SubcommandApp()
# Piped output (logs, CI) gets a wide console so the tables are not squeezed to 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=140)
EnvId = Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="ENV_ID")]


@app.command
def envs() -> None:
    """List the registered palaestra environments."""
    table = Table(title="palaestra environments")
    table.add_column("id", style="bold")
    table.add_column("description")
    table.add_column("step limit", justify="right")
    for entry in ENTRIES:
        limit = "" if entry.max_episode_steps is None else str(entry.max_episode_steps)
        table.add_row(entry.id, entry.description, limit)
    console.print(table)


@app.command
def play(env_id: EnvId, seed: int | None = None) -> None:
    """Play an environment yourself: type an action, or the number of a listed action.

    Args:
        env_id: The environment, e.g. palaestra/Bandit-v0.
        seed: Episode seed (random when omitted).
    """
    env = gym.make(env_id)
    observation, info = env.reset(seed=seed)
    console.print(f"[bold]{info.get('instruction', '')}[/]")
    total, done = 0.0, False
    while not done:
        console.print(f"\n{observation}")
        actions = info.get("available_actions") or []
        for number, action in enumerate(actions, start=1):
            console.print(f"  [cyan]{number}[/] {action}")
        try:
            typed = input("> ").strip()
        except EOFError:
            break
        if typed in {"quit", "exit"}:
            break
        if typed.isdigit() and 1 <= int(typed) <= len(actions):
            typed = actions[int(typed) - 1]
        observation, reward, terminated, truncated, info = env.step(typed)
        total += float(reward)
        done = terminated or truncated
        note = " (invalid action)" if info.get("invalid_action") else ""
        console.print(f"[dim]reward {reward:+g}, total {total:+g}{note}[/]")
    if done:
        console.print(f"\n{observation}")
        console.print(f"[bold]Episode over: success={info.get('success')}, return={total:g}[/]")
        if info.get("episode_metrics"):
            console.print(info["episode_metrics"])
    env.close()


@app.command
def run(
    env_id: EnvId,
    agent: str = "random",
    episodes: int = 10,
    seed: int = 0,
    out: Path | None = None,
    progress: bool = True,
) -> None:
    """Run an agent on an environment and print a summary table.

    Args:
        env_id: The environment, e.g. palaestra/Bandit-v0.
        agent: Agent spec: random, oracle, ucb, thompson, epsilon-greedy, hf:MODEL (tiny,
            smollm2, a folder, a .gguf file or a hub id) or openai:MODEL@URL.
        episodes: Number of episodes (seeds seed, seed+1, ...).
        seed: Seed of the first episode; the agent's own seed too.
        out: Write the per-episode records to this JSON file.
        progress: Show a progress bar.
    """
    failure: AgentError | None = None
    try:
        records = play_agent(agent, env_id, [seed + k for k in range(episodes)], progress=progress)
    except AgentError as exc:
        records, failure = exc.completed, exc
    print_summary(f"{agent} on {env_id}", {agent: records})
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([r.to_dict() for r in records], indent=1))
        console.print(f"records written to {out}")
    if failure is not None:
        raise failure


@app.command
def baseline(
    env_id: EnvId,
    algo: Literal["dqn", "ppo"] = "dqn",
    env_kwargs: str = "{}",
    epochs: int = 10,
    steps_per_epoch: int = 1000,
    seed: int = 0,
    out: Path = Path("runs/baseline"),
) -> None:
    """Train a tianshou DQN or PPO reference agent on an environment's numeric view.

    Args:
        env_id: A bandit or social dilemma id, e.g. palaestra/Bandit-v0.
        algo: dqn or ppo.
        env_kwargs: JSON object of gym.make keyword arguments.
        epochs: Training epochs; the greedy policy is evaluated after each.
        steps_per_epoch: Environment steps per epoch.
        seed: Seed of the networks, exploration and evaluation episodes.
        out: Folder for curve.json and curve.png.
    """
    from palaestra.baselines.training import BaselineConfig, save_curve, train_baseline

    config = BaselineConfig(
        env=env_id,
        algo=algo,
        env_kwargs=env_kwargs,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        seed=seed,
    )
    result = train_baseline(config)
    for steps, value in result.curve:
        console.print(f"{steps:>8} env steps: mean return {value:.3f}")
    console.print(f"random policy: {result.random_return:.3f}")
    for path in save_curve(result, config, out):
        console.print(f"written: {path}")


@app.command
def evaluate(
    agent: str = "random",
    suite: str = "palaestra-v1",
    out: Path = Path("results.json"),
    tasks: str | None = None,
    name: str | None = None,
    workers: int = 1,
    server: str | None = None,
    token: str | None = None,
    curve: Path | None = None,
    curve_metric: str = "return",
    progress: bool = True,
) -> None:
    """Score an agent on a benchmark suite; resumable.

    Plays the suite's public development seeds, or, with --server, hidden seeds that the
    leaderboard server hands out for one submission.

    Args:
        agent: Agent spec (as for `palaestra run`).
        suite: Suite id, or a suite file (.json).
        out: Results file (JSON); an interrupted run started again skips finished episodes.
        tasks: Comma-separated env families to run (all by default), e.g. bandits,social.
        name: Display name of the agent (default: the spec).
        workers: Episodes played at once in separate processes (scripted and HTTP agents).
        server: Leaderboard server to get hidden seeds from (needs --token).
        token: Submitter token (default: $PALAESTRA_TOKEN).
        curve: A training run's metrics.jsonl, shown as the learning curve.
        curve_metric: The metrics.jsonl column of the learning curve.
        progress: Show a progress bar.
    """
    from palaestra.leaderboard import evaluate as run_suite
    from palaestra.leaderboard import load_suite
    from palaestra.leaderboard.client import request_challenge
    from palaestra.leaderboard.harness import interrupted_challenge
    from palaestra.leaderboard.schema import read_learning_curve

    families = [f.strip() for f in tasks.split(",") if f.strip()] if tasks else None
    loaded = load_suite(suite)
    challenge = None
    if server:
        challenge = interrupted_challenge(out, agent, loaded)
        if challenge is None:
            challenge = request_challenge(server, _token(token), loaded.id)
        console.print(f"playing hidden seeds of challenge {challenge.id} from {server}")
    results = run_suite(
        agent,
        loaded,
        out,
        families=families,
        name=name,
        workers=workers,
        progress=progress,
        challenge=challenge,
        learning_curve=read_learning_curve(curve, curve_metric) if curve else None,
    )
    table = Table(title=f"{results.agent.name} on {suite}")
    for column in ("task", "family", "return (95% CI)", "success (95% CI)"):
        table.add_column(column)
    for task, summary in results.tasks.items():
        reward, success = summary.reward, summary.success
        table.add_row(
            task,
            summary.family,
            f"{reward.mean:.2f} [{reward.low:.2f}, {reward.high:.2f}]",
            f"{success.mean:.2f} [{success.low:.2f}, {success.high:.2f}]",
        )
    console.print(table)
    console.print(f"results written to {out}")


@app.command
def verify(
    results: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="RESULTS")],
    suite: str | None = None,
) -> None:
    """Replay every episode of a results file and check its claims (as the server does).

    Args:
        results: A results file from `palaestra evaluate`.
        suite: Suite id (default: the one the file names).
    """
    from palaestra.leaderboard import load_results, load_suite
    from palaestra.leaderboard import verify as check

    loaded = load_results(results)
    check(loaded, load_suite(suite or loaded.suite))
    console.print(f"verified: {len(loaded.episodes)} episodes replay as claimed")


@app.command
def submit(
    results: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="RESULTS")],
    server: str = "http://127.0.0.1:8000",
    token: str | None = None,
    wait: bool = True,
) -> None:
    """Submit a results file to a leaderboard server and wait for its replay verdict.

    Args:
        results: A results file from `palaestra evaluate`.
        server: The server's URL.
        token: Submitter token (default: $PALAESTRA_TOKEN).
        wait: Wait until the server has replayed every episode.
    """
    from palaestra.leaderboard.client import submit as send

    status = send(results, server, _token(token), wait=wait)
    console.print(f"submission {status['id']} {status['status']}: {status['url']}")


@app.command
def synthesize(
    env_id: EnvId,
    agent: str = "reference:greedy",
    iterations: int = 5,
    feedback: Literal["sparse", "dense"] = "dense",
    episodes: int = 3,
    seed: int = 0,
    out: Path = Path("runs/synthesis"),
    progress: bool = True,
) -> None:
    """Have an LLM write a policy program for a social dilemma, refined over self-play.

    Args:
        env_id: A social dilemma: palaestra/Gathering-v0, palaestra/Cleanup-v0, a matrix game.
        agent: The code writer: hf:MODEL, openai:MODEL@URL, or reference:NAME (greedy,
            cleaner-harvester, random) for a hand-written baseline.
        iterations: Candidates written.
        feedback: sparse (mean reward) or dense (also efficiency, equality,
            sustainability and peace).
        episodes: Self-play episodes per candidate.
        seed: First episode seed.
        out: Folder for candidates.json, best_policy.py and synthesis.png.
        progress: Show a progress bar.
    """
    from palaestra.agents.synthesis.loop import make_writer
    from palaestra.agents.synthesis.loop import synthesize as run_loop

    result = run_loop(
        make_writer(agent, seed=seed),
        env_id,
        iterations=iterations,
        feedback=feedback,
        episodes=episodes,
        seed=seed,
        progress=progress,
    )
    table = Table(title=f"policy synthesis on {env_id} ({feedback} feedback)")
    for column in ("iteration", "reward", "efficiency", "equality", "sustainability", "peace",
                   "failed calls", "note"):  # fmt: skip
        table.add_column(column)
    for candidate in result.candidates:
        e = candidate.evaluation
        if e is None:
            table.add_row(str(candidate.iteration), "–", "", "", "", "", "",
                          candidate.feedback[:60])  # fmt: skip
            continue
        table.add_row(
            str(candidate.iteration),
            f"{e.reward:.3f}",
            *(f"{e.metrics[m]:.3f}" for m in ("efficiency", "equality", "sustainability")),
            f"{e.metrics['peace']:.0f}",
            str(sum(e.failures.values())),
            "",
        )
    console.print(table)
    for path in result.save(out):
        console.print(f"written: {path}")


@app.command
def serve_env(
    env_id: EnvId,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_sessions: int = 8,
    env_kwargs: str = "{}",
    session_idle_seconds: float = 600.0,
) -> None:
    """Serve an environment to OpenEnv clients (openenv-core's HTTP and WebSocket server).

    Args:
        env_id: The environment, e.g. palaestra/Bandit-v0.
        host: Interface to listen on (0.0.0.0 for every interface).
        port: TCP port.
        max_sessions: WebSocket sessions served at once, each with its own environment.
        env_kwargs: JSON object of gym.make keyword arguments.
        session_idle_seconds: A session with no message for this long is closed.
    """
    from palaestra.errors import InvalidArgumentError
    from palaestra.optional import require

    try:
        kwargs = json.loads(env_kwargs)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"env_kwargs is not JSON: {exc}") from exc
    if not isinstance(kwargs, dict):
        raise InvalidArgumentError(f"env_kwargs must be a JSON object, got {env_kwargs!r}")
    gym.spec(env_id)  # an unknown id fails here, before openenv's import of several seconds
    require("openenv", "openenv", "palaestra serve-env")
    from palaestra.integrations.openenv_server import serve_env as serve

    serve(env_id, host=host, port=port, max_sessions=max_sessions, env_kwargs=kwargs,
          idle_seconds=session_idle_seconds)  # fmt: skip


def _token(token: str | None) -> str:
    from palaestra.errors import InvalidArgumentError

    token = token or os.environ.get("PALAESTRA_TOKEN")
    if not token:
        raise InvalidArgumentError("give a submitter token: --token T or $PALAESTRA_TOKEN")
    return token


@app.command
def demo(
    out: Path = Path("runs/demo"), episodes: int = 100, train_steps: int = 40, progress: bool = True
) -> None:
    """Run the demo: bandit baselines, GRPO training runs, then a local leaderboard.

    Args:
        out: Folder for plots, tables, the training runs and the leaderboard database.
        episodes: Episodes per agent and environment for the baselines.
        train_steps: GRPO iterations of the reference training run (0 skips it).
        progress: Show progress bars.
    """
    from palaestra.demo import bandit_demo, reference_entries, training_demo
    from palaestra.leaderboard.demo import BASELINES, leaderboard_demo

    bandit_demo(out, episodes=episodes, progress=progress, console=console)
    runs = (
        training_demo(out, steps=train_steps, progress=progress, console=console)
        if train_steps > 0
        else []
    )
    leaderboard_demo(
        out, [*reference_entries(runs), *BASELINES], progress=progress, console=console
    )


def print_summary(title: str, results: dict[str, list[Episode]]) -> None:
    """Print one row of summary figures per agent (return as mean ± std over episodes)."""
    summaries = {name: summarize_episodes(records) for name, records in results.items()}
    fixed = ("episodes", "return", "return_std", "success_rate", "length", "invalid_rate")
    metrics = sorted({k for s in summaries.values() for k in s} - set(fixed))
    table = Table(title=title)
    for header in ("agent", "episodes", "return", "success", "steps", "invalid", *metrics):
        table.add_column(header, justify="left" if header == "agent" else "right")
    for name, s in summaries.items():
        if not s["episodes"]:
            continue
        table.add_row(
            name,
            f"{s['episodes']:.0f}",
            f"{s['return']:.2f} ± {s['return_std']:.2f}",
            f"{s['success_rate']:.2f}",
            f"{s['length']:.1f}",
            f"{s['invalid_rate']:.2f}",
            *(f"{s[k]:.2f}" if k in s else "" for k in metrics),
        )
    console.print(table)


@app.command(name="train")
def train_help() -> None:
    """Train an agent: palaestra train --algo NAME --env ID --model SPEC --steps N --out DIR.

    Every field of the run (TrainConfig) is an option; the algorithm's own fields are
    --algo.FIELD options. `palaestra train --algo grpo --help` lists them all.
    """
    train(["--help"])


def train(argv: Sequence[str]) -> None:
    """Parse ``--algo NAME`` and the frozen configs of the run and the algorithm, then train."""
    from palaestra.algorithms import ALGORITHMS, default_config
    from palaestra.algorithms.trainer import TrainConfig, Trainer

    args = list(argv)
    name = "grpo"
    for index, arg in enumerate(args):
        if arg == "--algo" and index + 1 < len(args):
            name = args[index + 1]
            del args[index : index + 2]
            break
        if arg.startswith("--algo="):
            name = arg.split("=", 1)[1]
            del args[index]
            break
    defaults = default_config(name)
    config_type = type(defaults)

    def command(run: TrainConfig, algo: object = defaults) -> tuple[TrainConfig, object]:
        """Train with the shared multi-turn RL trainer."""
        return run, algo

    # Real objects, not the strings postponed annotations would leave, for tyro to read.
    command.__annotations__ = {
        "run": Annotated[TrainConfig, tyro.conf.OmitArgPrefixes],
        "algo": Annotated[config_type, tyro.conf.arg(name="algo")],
        "return": tuple,
    }

    run, algo_config = tyro.cli(command, args=args, prog=f"palaestra train --algo {name}")
    algorithm = ALGORITHMS[name][0](algo_config)  # type: ignore[arg-type]
    out = Trainer(run, algorithm).run()
    console.print(
        f"run folder: {out}\nmetrics: {out / 'metrics.jsonl'}\ncurves: {out / 'curves.png'}"
    )


@app.command(name="compare")
def compare_help() -> None:
    """Train algorithms with one budget: palaestra compare --algos grpo,epo --env ID --seeds N.

    Every run option of `palaestra train` applies to all of them; writes comparison.png,
    results.csv and results.md to --out. `palaestra compare --help` lists the options.
    """
    compare(["--help"])


def compare(argv: Sequence[str]) -> None:
    """Parse the shared run options, ``--algos`` and ``--seeds``, then compare."""
    from palaestra.algorithms.compare import compare as run_comparison
    from palaestra.algorithms.trainer import TrainConfig

    def command(
        run: TrainConfig, algos: str = "grpo,epo", seeds: int = 2
    ) -> tuple[TrainConfig, str, int]:
        """Train several algorithms with the same budget and seeds.

        Args:
            run: Run options shared by every algorithm.
            algos: Comma-separated algorithm names.
            seeds: Seeds per algorithm.
        """
        return run, algos, seeds

    command.__annotations__ = {
        "run": Annotated[TrainConfig, tyro.conf.OmitArgPrefixes],
        "algos": str,
        "seeds": int,
        "return": tuple,
    }
    run, algos, seeds = tyro.cli(command, args=list(argv), prog="palaestra compare")
    names = [a.strip() for a in algos.split(",") if a.strip()]
    rows = run_comparison(names, run, seeds=seeds, out=run.out, progress=run.progress)
    table = Table(title=f"{run.env}: {seeds} seed(s), {run.steps} iterations")
    for header in rows[0]:
        table.add_column(header)
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()))
    console.print(table)
    console.print(f"figure: {run.out / 'comparison.png'}\ntable: {run.out / 'results.md'}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``palaestra`` command; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--unsafe-sandbox"]:
        from palaestra.sandbox.isolation import UNSAFE_VARIABLE

        os.environ[UNSAFE_VARIABLE] = "1"
        args = args[1:]
    try:
        if args[:1] == ["train"] and args[1:2] != ["--help"]:
            train(args[1:])
        elif args[:1] == ["compare"] and args[1:2] != ["--help"]:
            compare(args[1:])
        elif args[:1] == ["leaderboard"]:
            from palaestra.leaderboard.cli import main as leaderboard_main

            leaderboard_main(args[1:])
        else:
            app.cli(prog="palaestra", args=args, sort_subcommands=False)
    except (PalaestraError, gym.error.Error) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
