"""What the commands share: the protocol, and the tyro union a group of them is built from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Protocol, Union

import tyro


class Command(Protocol):
    """A parsed command: a frozen dataclass whose fields are its options."""

    def execute(self) -> None:
        """Do what the command says."""


#: An environment id as a positional argument.
EnvId = Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="ENV_ID")]


def subcommands(
    table: Mapping[str, type[Any]],
    defaults: Mapping[str, object] | None = None,
    implicit: str | None = None,
) -> Any:
    """The tyro union of ``table``'s types, each a subcommand under its name.

    Args:
        table: Subcommand name -> the dataclass that parses its options.
        defaults: Subcommand name -> the instance whose fields are its defaults (for
            several names that share one dataclass, such as an algorithm's presets).
        implicit: The subcommand used when none is named (default: one must be named).

    Returns:
        A ``Union`` of annotated types, for a field's ``constructor_factory``: tyro calls
        the factory when it builds the field's parser, so a group's types are imported only
        when the group is used.
    """
    given = defaults or {}
    options = tuple(
        Annotated[
            kind,
            tyro.conf.subcommand(
                name,
                default=given.get(name, tyro.MISSING_NONPROP),  # tyro's "no default"
                prefix_name=False,
                is_default=name == implicit,
            ),
        ]
        for name, kind in table.items()
    )
    return Union[options]  # noqa: UP007 - a union built at runtime has no `|` spelling
