"""Stage games of the iterated social dilemmas: 2-player matrix games and public goods."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from palaestra.errors import InvalidArgumentError

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")

#: Longest number a contribution is read from: no endowment needs more digits.
_MAX_NUMBER_CHARS = 20


@dataclass(frozen=True)
class MatrixGame:
    """A symmetric 2-player game given by the row player's payoffs.

    Attributes:
        name: Display name.
        actions: The two (or more) moves, as words.
        payoffs: ``payoffs[(mine, theirs)]`` is my payoff; the game is symmetric, so the
            other player's is ``payoffs[(theirs, mine)]``.
        default: The move an invalid action counts as.
        cooperative: The move that, played by both, is the efficient outcome.
    """

    name: str
    actions: tuple[str, ...]
    payoffs: Mapping[tuple[str, str], float]
    default: str
    cooperative: str
    n_players: int = field(default=2, init=False)

    def __post_init__(self) -> None:
        missing = [(a, b) for a in self.actions for b in self.actions if (a, b) not in self.payoffs]
        if missing:
            raise InvalidArgumentError(f"{self.name}: no payoff for moves {missing[0]}")
        if self.default not in self.actions or self.cooperative not in self.actions:
            raise InvalidArgumentError(f"{self.name}: default and cooperative must be moves")

    def parse(self, text: str) -> str | None:
        """The move named by ``text`` (a move word, case and punctuation ignored), or None."""
        word = text.strip().strip(".!\"'`*").lower()
        return word if word in self.actions else None

    def rewards(self, moves: Sequence[str]) -> list[float]:
        """Payoffs of both players for their moves."""
        a, b = moves
        return [float(self.payoffs[(a, b)]), float(self.payoffs[(b, a)])]

    def flip(self, move: str, draw: float) -> str:
        """The move an execution error turns ``move`` into (another move, by ``draw``)."""
        others = [a for a in self.actions if a != move]
        return others[min(int(draw * len(others)), len(others) - 1)]

    @property
    def efficient_reward(self) -> float:
        """Per-round payoff when both play the cooperative move."""
        return float(self.payoffs[(self.cooperative, self.cooperative)])

    def rules(self) -> str:
        """The payoff table, in words."""
        lines = [f"Moves: {', '.join(self.actions)}. Points per round (you, other):"]
        for a in self.actions:
            for b in self.actions:
                lines.append(
                    f"- you {a}, other {b}: {self.payoffs[(a, b)]:g}, {self.payoffs[(b, a)]:g}"
                )
        return "\n".join(lines)


def matrix_game(
    name: str,
    actions: tuple[str, str],
    table: tuple[float, float, float, float],
    default: str,
) -> MatrixGame:
    """A symmetric 2x2 game from its (R, S, T, P) payoffs.

    R: both play the first (cooperative) action; S: first against second; T: second against
    first; P: both play the second.
    """
    first, second = actions
    reward, sucker, temptation, punishment = table
    payoffs = {
        (first, first): reward,
        (first, second): sucker,
        (second, first): temptation,
        (second, second): punishment,
    }
    return MatrixGame(name, actions, payoffs, default, first)


@dataclass(frozen=True)
class PublicGoods:
    """N players each contribute part of an endowment; the pot is multiplied and shared.

    Attributes:
        n_players: Number of players.
        endowment: Points each player receives per round.
        multiplier: Factor applied to the pot before equal sharing (between 1 and N for a
            dilemma).
    """

    n_players: int = 4
    endowment: int = 10
    multiplier: float = 1.6
    name: str = "public goods"

    def __post_init__(self) -> None:
        if self.n_players < 2:
            raise InvalidArgumentError(f"public goods needs 2+ players, got {self.n_players}")
        if self.endowment < 1:
            raise InvalidArgumentError(f"endowment must be at least 1, got {self.endowment}")
        if not self.multiplier > 0:
            raise InvalidArgumentError(f"multiplier must be positive, got {self.multiplier}")

    @property
    def default(self) -> int:
        """An invalid action contributes nothing."""
        return 0

    def parse(self, text: str) -> int | None:
        """The contribution named by ``text`` (the only number in it, 0..endowment), or None."""
        numbers = _NUMBER.findall(text)
        if len(numbers) != 1 or len(numbers[0]) > _MAX_NUMBER_CHARS:
            return None  # a number of any length is an invalid action, never an overflow
        value = float(numbers[0])
        if value != int(value) or not 0 <= value <= self.endowment:
            return None
        return int(value)

    def rewards(self, moves: Sequence[int]) -> list[float]:
        """Each player's kept endowment plus an equal share of the multiplied pot."""
        share = self.multiplier * sum(moves) / self.n_players
        return [self.endowment - m + share for m in moves]

    def flip(self, move: int, draw: float) -> int:
        """An execution error: a uniformly random contribution."""
        return min(int(draw * (self.endowment + 1)), self.endowment)

    @property
    def efficient_reward(self) -> float:
        """Per-round payoff when everyone contributes everything."""
        return self.multiplier * self.endowment

    def rules(self) -> str:
        """The rules, in words."""
        return (
            f"There are {self.n_players} players. Each round every player gets "
            f"{self.endowment} points and chooses how many of them (a whole number from 0 to "
            f"{self.endowment}) to put in a shared pot; the pot is multiplied by "
            f"{self.multiplier:g} and split equally among all players, and each keeps what "
            "they did not put in."
        )


#: The standard games: prisoner's dilemma (T > R > P > S), stag hunt (R > T >= P > S)
#: and chicken (T > R > S > P).
GAMES: dict[str, MatrixGame] = {
    "prisoners_dilemma": matrix_game(
        "prisoner's dilemma", ("cooperate", "defect"), (3, 0, 5, 1), "defect"
    ),
    "stag_hunt": matrix_game("stag hunt", ("stag", "hare"), (4, 0, 3, 2), "hare"),
    "chicken": matrix_game("chicken", ("swerve", "straight"), (3, 1, 4, 0), "straight"),
}


def make_stage(
    game: str,
    *,
    payoffs: Sequence[float] | None = None,
    n_players: int = 4,
    endowment: int = 10,
    multiplier: float = 1.6,
) -> MatrixGame | PublicGoods:
    """The stage game named ``game``, with ``payoffs`` (R, S, T, P) overriding a 2x2 table."""
    if game == "public_goods":
        return PublicGoods(n_players, endowment, multiplier)
    if game not in GAMES:
        raise InvalidArgumentError(
            f"unknown game {game!r}; choose one of {', '.join([*GAMES, 'public_goods'])}"
        )
    base = GAMES[game]
    if payoffs is None:
        return base
    if len(payoffs) != 4 or not all(isinstance(p, int | float) for p in payoffs):
        raise InvalidArgumentError(f"payoffs must be four numbers (R, S, T, P), got {payoffs!r}")
    first, second = base.actions
    return matrix_game(
        base.name,
        (first, second),
        (float(payoffs[0]), float(payoffs[1]), float(payoffs[2]), float(payoffs[3])),
        base.default,
    )
