"""The ``palaestra`` command line.

Environments (:mod:`palaestra.cli.envs`):

- ``palaestra envs``: list the registered environments.
- ``palaestra play ENV_ID``: play one yourself in the terminal.
- ``palaestra run ENV_ID --agent SPEC``: run an agent and print a summary table.
- ``palaestra serve-env ENV_ID``: serve one to OpenEnv clients.
- ``palaestra serve-mcp ENV_ID``: serve a tool env's tools over MCP (stdio).

Training (:mod:`palaestra.cli.train`):

- ``palaestra train ALGO --env ID ...``: train an LLM agent with a multi-turn RL algorithm.
- ``palaestra compare --algos A,B --env ID ...``: train several algorithms with one budget.
- ``palaestra baseline ENV_ID --algo dqn|ppo``: train a tianshou reference agent.
- ``palaestra synthesize ENV_ID --agent SPEC``: have an LLM write a policy program.

The leaderboard (:mod:`palaestra.cli.leaderboard`):

- ``palaestra leaderboard evaluate``: score an agent on a suite (development seeds, hidden
  seeds from ``--server`` then submitted, or ``--live``).
- ``palaestra leaderboard verify RESULTS``: replay a results file and check its claims.
- ``palaestra leaderboard submit RESULTS``: submit a results file and wait for its verdict.
- ``palaestra leaderboard serve``: run a leaderboard server.
- ``palaestra leaderboard token create|revoke --name NAME``: manage submitters' tokens.

And ``palaestra demo`` (:mod:`palaestra.cli.demo`) runs what ``make demo`` shows.

``palaestra --unsafe-sandbox COMMAND ...`` lets the command run untrusted code (tool calls,
synthesized policies) without the OS sandbox on a machine that cannot build it (no
bubblewrap or user namespaces); it sets ``PALAESTRA_UNSAFE_SANDBOX=1`` for the command and
the processes it starts.

Every command is a frozen dataclass whose fields are its options, parsed by tyro and run by
its ``execute`` method from :func:`main`. Spellings of the previous release still work,
with a message on stderr: ``palaestra evaluate|verify|submit`` run ``palaestra leaderboard
evaluate|verify|submit`` (``evaluate`` with ``--no-submit``, as it did not submit), and
``palaestra train --algo NAME`` runs ``palaestra train NAME``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Annotated

import gymnasium as gym
import tyro
from rich.markup import escape

from palaestra.cli.command import Command, subcommands
from palaestra.cli.demo import Demo
from palaestra.cli.envs import Envs, Play, Run, ServeEnv, ServeMcp
from palaestra.cli.leaderboard import LEADERBOARD_COMMANDS, Leaderboard
from palaestra.cli.train import Baseline, Compare, Synthesize, Train
from palaestra.errors import PalaestraError, UnknownNameError, did_you_mean
from palaestra.reporting import console

#: The commands by name. (A cheap one comes first: tyro inspects the first type of a union
#: to tell it is one of subcommands, and ``train``'s types import torch.)
COMMANDS: dict[str, type[Command]] = {
    "envs": Envs,
    "play": Play,
    "run": Run,
    "serve-env": ServeEnv,
    "serve-mcp": ServeMcp,
    "train": Train,
    "compare": Compare,
    "baseline": Baseline,
    "synthesize": Synthesize,
    "leaderboard": Leaderboard,
    "demo": Demo,
}

#: Spellings of the previous release: the words each stands for now, and what to say.
DEPRECATED: dict[str, tuple[list[str], str]] = {
    "evaluate": (
        ["leaderboard", "evaluate", "--no-submit"],
        "`palaestra evaluate` is deprecated; use `palaestra leaderboard evaluate` (with "
        "--server it also submits the results file, unless --no-submit)",
    ),
    "verify": (
        ["leaderboard", "verify"],
        "`palaestra verify` is deprecated; use `palaestra leaderboard verify`",
    ),
    "submit": (
        ["leaderboard", "submit"],
        "`palaestra submit` is deprecated; use `palaestra leaderboard submit`",
    ),
}


def _commands() -> object:
    return subcommands(COMMANDS)


@dataclass(frozen=True)
class Palaestra:
    """palaestra: text environments for LLM agents, agents, RL training and a leaderboard.

    Attributes:
        command: The command.
        unsafe_sandbox: Run untrusted code (tool calls, synthesized policies) without the OS
            sandbox, on a machine that cannot build it; sets PALAESTRA_UNSAFE_SANDBOX=1.
    """

    command: Annotated[Command, tyro.conf.arg(name="", constructor_factory=_commands)]
    unsafe_sandbox: Annotated[bool, tyro.conf.FlagCreatePairsOff] = False


def parse(argv: Sequence[str]) -> Palaestra:
    """Parse a command line (without the program name).

    Deprecated spellings are rewritten first, with a message on stderr, and the command
    words are checked: a mistyped one is an error naming the closest (tyro would only list
    the choices).

    Raises:
        UnknownNameError: An unknown command, leaderboard command or algorithm.
        SystemExit: tyro's exit: 0 after ``--help``, 2 for options it cannot parse.
    """
    args = _upgrade(list(argv))
    _check_command_words(args)
    return tyro.cli(
        Palaestra,
        args=args,
        prog="palaestra",
        # A run's options may follow the algorithm's name, global flags any command.
        config=(tyro.conf.CascadeSubcommandArgs,),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``palaestra`` command; returns the exit status."""
    try:
        parsed = parse(sys.argv[1:] if argv is None else argv)
        if parsed.unsafe_sandbox:
            from palaestra.sandbox.isolation import UNSAFE_VARIABLE

            os.environ[UNSAFE_VARIABLE] = "1"
        parsed.command.execute()
    except (PalaestraError, gym.error.Error) as exc:
        # Escaped: messages hold brackets (pip install 'palaestra[extra]') that are not markup.
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 2
    return 0


def _command_index(args: list[str]) -> int | None:
    """Where the command word is: the first argument that is not a (global) flag."""
    return next((i for i, arg in enumerate(args) if not arg.startswith("-")), None)


def _upgrade(args: list[str]) -> list[str]:
    """``args`` in this release's spelling; each deprecated spelling is named on stderr."""
    index = _command_index(args)
    if index is None:
        return args
    word = args[index]
    if word in DEPRECATED:
        words, message = DEPRECATED[word]
        print(message, file=sys.stderr)
        return [*args[:index], *words, *args[index + 1 :]]
    if word == "train":
        return _upgrade_algo(args, index)
    return args


def _upgrade_algo(args: list[str], index: int) -> list[str]:
    """``train --algo NAME ...`` (or ``--algo=NAME``) as ``train NAME ...``."""
    for k in range(index + 1, len(args)):
        if args[k] == "--algo" and k + 1 < len(args):
            name, end = args[k + 1], k + 2
        elif args[k].startswith("--algo="):
            name, end = args[k].partition("=")[2], k + 1
        else:
            continue
        print(
            "`palaestra train --algo NAME` is deprecated; use `palaestra train NAME`",
            file=sys.stderr,
        )
        return [*args[: index + 1], name, *args[index + 1 : k], *args[end:]]
    return args


def _algorithm_names() -> Collection[str]:
    from palaestra.algorithms import ALGORITHMS

    return ALGORITHMS


#: The groups whose next word names a subcommand: what it is called, and the names.
_GROUPS: dict[str, tuple[str, Callable[[], Collection[str]]]] = {
    "leaderboard": ("leaderboard command", lambda: LEADERBOARD_COMMANDS),
    "train": ("algorithm", _algorithm_names),
}


def _check_command_words(args: list[str]) -> None:
    """Refuse an unknown command, leaderboard command or algorithm, naming the closest.

    tyro refuses them too, listing the choices; palaestra's errors for a wrong name say
    "did you mean", as for an env id or an agent. This reads the command words only: tyro
    parses the whole line afterwards.
    """
    index = _command_index(args)
    if index is None:
        return
    _check_name(args[index], COMMANDS, "command")
    following = args[index + 1 : index + 2]
    if args[index] in _GROUPS and following and not following[0].startswith("-"):
        what, names = _GROUPS[args[index]]
        _check_name(following[0], names(), what)


def _check_name(name: str, names: Collection[str], what: str) -> None:
    if name not in names:
        raise UnknownNameError(
            f"unknown {what} {name!r}{did_you_mean(name, names)} (choose from {', '.join(names)})"
        )


__all__ = ["COMMANDS", "Palaestra", "main", "parse"]
