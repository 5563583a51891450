"""Fast Downward's SAS task format (version 3), read into plain tuples.

Only the translator's own output is read here (:mod:`palaestra.envs.alfworld.translation`),
so a malformed text is a bug and fails with :class:`SasError`.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A condition or an assignment: (variable, value).
Fact = tuple[int, int]


class SasError(ValueError):
    """A SAS text this reader does not understand."""


@dataclass(frozen=True)
class Operator:
    """A ground action: ``name`` as Fast Downward writes it ("putobject agent1 loc_3 ...").

    ``preconditions`` hold the prevail conditions and the effects' required old values;
    ``effects`` are ``(conditions, variable, new value)`` in the file's order.
    """

    name: str
    preconditions: tuple[Fact, ...]
    effects: tuple[tuple[tuple[Fact, ...], int, int], ...]


@dataclass(frozen=True)
class Rule:
    """An axiom: ``variable`` takes ``value`` when every condition holds."""

    conditions: tuple[Fact, ...]
    variable: int
    value: int


@dataclass(frozen=True)
class SasTask:
    """A SAS task: variables (their value names and axiom layers), start, goal, operators."""

    values: tuple[tuple[str, ...], ...]
    layers: tuple[int, ...]
    start: tuple[int, ...]
    goal: tuple[Fact, ...]
    operators: tuple[Operator, ...]
    rules: tuple[Rule, ...]


class _Lines:
    def __init__(self, text: str) -> None:
        self._lines = text.split("\n")
        self._at = 0

    def next(self) -> str:
        if self._at >= len(self._lines):
            raise SasError("the SAS text ends early")
        line = self._lines[self._at]
        self._at += 1
        return line

    def number(self) -> int:
        line = self.next()
        try:
            return int(line)
        except ValueError:
            raise SasError(f"expected a number in the SAS text, got {line!r}") from None

    def numbers(self) -> list[int]:
        return [int(x) for x in self.next().split()]

    def expect(self, word: str) -> None:
        line = self.next()
        if line != word:
            raise SasError(f"expected {word!r} in the SAS text, got {line!r}")

    def facts(self) -> tuple[Fact, ...]:
        return tuple((f[0], f[1]) for f in (self.numbers() for _ in range(self.number())))


def parse_sas(text: str) -> SasTask:
    """Read a SAS text written by Fast Downward's translator.

    Raises:
        SasError: The text is not in the format.
    """
    try:
        return _parse(_Lines(text))
    except (ValueError, IndexError) as exc:
        if isinstance(exc, SasError):
            raise
        raise SasError(f"malformed SAS text: {exc}") from None


def _parse(lines: _Lines) -> SasTask:
    lines.expect("begin_version")
    if lines.number() != 3:
        raise SasError("only version 3 of the SAS format is read")
    lines.expect("end_version")
    lines.expect("begin_metric")
    lines.number()
    lines.expect("end_metric")
    values: list[tuple[str, ...]] = []
    layers: list[int] = []
    for _ in range(lines.number()):
        lines.expect("begin_variable")
        lines.next()  # its name ("var12")
        layers.append(lines.number())
        values.append(tuple(lines.next() for _ in range(lines.number())))
        lines.expect("end_variable")
    for _ in range(lines.number()):
        lines.expect("begin_mutex_group")
        lines.facts()
        lines.expect("end_mutex_group")
    lines.expect("begin_state")
    start = tuple(lines.number() for _ in values)
    lines.expect("end_state")
    lines.expect("begin_goal")
    goal = lines.facts()
    lines.expect("end_goal")
    operators = []
    for _ in range(lines.number()):
        lines.expect("begin_operator")
        name = lines.next()
        preconditions = list(lines.facts())
        effects = []
        for _ in range(lines.number()):
            numbers = lines.numbers()
            count = numbers[0]
            conditions = tuple((numbers[1 + 2 * i], numbers[2 + 2 * i]) for i in range(count))
            variable, old, new = numbers[1 + 2 * count :]
            if old != -1:
                preconditions.append((variable, old))
            effects.append((conditions, variable, new))
        lines.number()  # cost
        lines.expect("end_operator")
        operators.append(Operator(name, tuple(preconditions), tuple(effects)))
    rules = []
    for _ in range(lines.number()):
        lines.expect("begin_rule")
        conditions = lines.facts()
        variable, _old, new = lines.numbers()
        lines.expect("end_rule")
        rules.append(Rule(conditions, variable, new))
    return SasTask(tuple(values), tuple(layers), start, goal, tuple(operators), tuple(rules))
