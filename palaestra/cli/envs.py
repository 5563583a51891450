"""Commands on one environment: list them, play one, run an agent on one, serve one or its tools."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym

from palaestra.cli.command import EnvId
from palaestra.envs.registration import parse_env_kwargs
from palaestra.errors import PalaestraError
from palaestra.reporting import console, envs_table, summary_table
from palaestra.rollout import AgentError


@dataclass(frozen=True)
class Envs:
    """List the registered palaestra environments."""

    def execute(self) -> None:
        """Print the registry's table."""
        from palaestra.envs.registration import ENTRIES

        console.print(envs_table(ENTRIES))


@dataclass(frozen=True)
class Play:
    """Play an environment yourself: type an action, or the number of a listed action.

    Attributes:
        env_id: The environment, e.g. palaestra/Bandit-v0.
        seed: Episode seed (random when omitted).
    """

    env_id: EnvId
    seed: int | None = None

    def execute(self) -> None:
        """Play one episode from the terminal; ``quit``, ``exit`` or end of input stop it."""
        env = gym.make(self.env_id)
        observation, info = env.reset(seed=self.seed)
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


@dataclass(frozen=True)
class Run:
    """Run an agent on an environment and print a summary table.

    Attributes:
        env_id: The environment, e.g. palaestra/Bandit-v0.
        agent: Agent spec: random, oracle, ucb, thompson, epsilon-greedy, hf:MODEL (tiny,
            smollm2, a folder, a .gguf file or a hub id) or openai:MODEL@URL.
        episodes: Number of episodes (seeds seed, seed+1, ...).
        seed: Seed of the first episode; a scripted agent is seeded with each episode's
            seed, an LLM agent with the first.
        out: Write the per-episode records to this JSON file.
        progress: Show a progress bar.
    """

    env_id: EnvId
    agent: str = "random"
    episodes: int = 10
    seed: int = 0
    out: Path | None = None
    progress: bool = True

    def execute(self) -> None:
        """Play, print the summary and write the records.

        A model server's failure is raised after the episodes finished before it are shown
        and written.
        """
        from palaestra.agents.factory import play_agent

        failure: AgentError | None = None
        seeds = [self.seed + k for k in range(self.episodes)]
        try:
            records = play_agent(self.agent, self.env_id, seeds, progress=self.progress)
        except AgentError as exc:
            records, failure = exc.completed, exc
        console.print(summary_table(f"{self.agent} on {self.env_id}", {self.agent: records}))
        if self.out is not None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.out.write_text(json.dumps([r.to_dict() for r in records], indent=1))
            console.print(f"records written to {self.out}")
        if failure is not None:
            raise failure


@dataclass(frozen=True)
class ServeEnv:
    """Serve an environment to OpenEnv clients (openenv-core's HTTP and WebSocket server).

    Attributes:
        env_id: The environment, e.g. palaestra/Bandit-v0.
        host: Interface to listen on (0.0.0.0 for every interface).
        port: TCP port.
        max_sessions: WebSocket sessions served at once, each with its own environment.
        env_kwargs: JSON object of gym.make keyword arguments.
        session_idle_seconds: A session with no message for this long is closed.
    """

    env_id: EnvId
    host: str = "127.0.0.1"
    port: int = 8000
    max_sessions: int = 8
    env_kwargs: str = "{}"
    session_idle_seconds: float = 600.0

    def execute(self) -> None:
        """Check the id and the arguments, then serve until interrupted."""
        from palaestra.optional import require

        kwargs = parse_env_kwargs(self.env_kwargs)
        gym.spec(self.env_id)  # an unknown id fails here, before openenv's import of seconds
        require("openenv", "openenv", "palaestra serve-env")
        from palaestra.integrations.openenv_server import serve_env

        serve_env(
            self.env_id,
            host=self.host,
            port=self.port,
            max_sessions=self.max_sessions,
            env_kwargs=kwargs,
            idle_seconds=self.session_idle_seconds,
        )


@dataclass(frozen=True)
class ServeMcp:
    """Serve a tool environment's tools over MCP on stdin and stdout (mcp's MCPServer).

    SearchQA ids serve search, MathTool ids serve python (in the same sandbox, under the
    same limits). An MCP client starts it as a stdio server, e.g. with the command
    ``palaestra serve-mcp palaestra/SearchQA-v0``.

    Attributes:
        env_id: The environment, e.g. palaestra/SearchQA-v0 or palaestra/MathTool-v0.
        env_kwargs: JSON object of gym.make keyword arguments (corpus, limits).
    """

    env_id: EnvId
    env_kwargs: str = "{}"

    def execute(self) -> None:
        """Check the id and the arguments, then serve until stdin ends.

        Errors go to stderr with exit status 2, as from ``python -m
        palaestra.integrations.mcp_server``: stdout is the MCP wire, where the client would
        read an error as a broken message.

        Raises:
            SystemExit: With status 2 on a bad id or argument, or without the mcp extra.
        """
        from palaestra.optional import require

        try:
            kwargs = parse_env_kwargs(self.env_kwargs)
            gym.spec(self.env_id)  # an unknown id fails here, before mcp's import
            require("mcp", "mcp", "palaestra serve-mcp")
            from palaestra.integrations.mcp_server import serve_mcp

            serve_mcp(self.env_id, kwargs)
        except (PalaestraError, gym.error.Error) as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
