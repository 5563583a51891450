"""TextWorld's context-sensitive grammar, compiled once per game and derived without copies.

TextWorld's PDDL backend writes every sentence by expanding grammar symbols on a stack,
deep-copying each symbol's context as it goes and re-parsing queries with a PEG parser;
that was about half of an ALFWorld step. The same expansion is done here on compiled
symbols (plain tuples) with the same rules:

* a nonterminal takes the first production whose condition has a match in the state;
* ``{expr | query}`` writes ``expr`` once per match of the conjunctive query, matches in
  TextWorld's order (depth first over the query's predicates, each predicate's facts sorted,
  distinct placeholders bound to distinct variables);
* ``[...]`` joins those with the grammar's ``list_separator`` / ``list_last_separator``, or
  writes ``list_empty``;
* ``{expr}`` evaluates a Python expression over the context's entities.

The templates themselves are parsed by TextWorld's own parser, so both read the same text.

Compiled symbols: ``("t", text)``, ``("n", name)``, ``("e", expression)``,
``("c", symbol, query | None)``, ``("l", conditional)``. A query is a tuple of predicates
``(name, placeholders, type signatures)``; a placeholder or a variable is ``(name, type)``.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Iterator
from typing import Any

Term = tuple[str, str]
Args = tuple[Term, ...]
Predicate = tuple[str, tuple[Term, ...], tuple[tuple[str, ...], ...]]
Query = tuple[Predicate, ...]
Symbol = tuple[Any, ...]
Mapping = dict[Term, Term]

_GLOBALS = {"__builtins__": builtins}
#: The productions a list writes besides its items.
_LIST_RULES = ("list_empty", "list_separator", "list_last_separator")


class GrammarError(ValueError):
    """A grammar the compiled derivation does not reproduce (the game needs the PDDL engine)."""


class FactStore:
    """A game's facts by signature, as TextWorld's ``State`` holds them for its queries.

    A fact is ``(predicate, ((name, type), ...))``; its signature is the predicate and the
    argument types. Sorted views are kept until the signature changes.
    """

    def __init__(self, facts: Any = ()) -> None:
        self._facts: dict[tuple[str, tuple[str, ...]], set[Args]] = {}
        self._sorted: dict[tuple[str, tuple[str, ...]], list[Args]] = {}
        for name, args in facts:
            self.add(name, args)

    def copy(self) -> FactStore:
        """An independent copy."""
        store = FactStore()
        store._facts = {key: set(value) for key, value in self._facts.items()}
        store._sorted = dict(self._sorted)
        return store

    def add(self, name: str, args: Args) -> None:
        """Add a fact."""
        key = (name, tuple(t for _, t in args))
        facts = self._facts.setdefault(key, set())
        if args not in facts:
            facts.add(args)
            self._sorted.pop(key, None)

    def remove(self, name: str, args: Args) -> None:
        """Remove a fact (nothing happens if it is not there)."""
        key = (name, tuple(t for _, t in args))
        facts = self._facts.get(key)
        if facts is not None and args in facts:
            facts.discard(args)
            self._sorted.pop(key, None)

    def sorted(self, name: str, types: tuple[str, ...]) -> list[Args]:
        """The facts with this signature in TextWorld's order (sorted by their arguments)."""
        key = (name, types)
        found = self._sorted.get(key)
        if found is None:
            found = self._sorted[key] = sorted(self._facts.get(key, ()))
        return found

    def __iter__(self) -> Iterator[tuple[str, Args]]:
        for (name, _), facts in self._facts.items():
            for args in facts:
                yield name, args


def assignments(query: Query, mapping: Mapping, facts: FactStore) -> Iterator[Mapping]:
    """Every match of a conjunctive ``query`` extending ``mapping``, in TextWorld's order.

    The order and the rules are those of ``textworld.logic.State.all_assignments``: depth
    first over the predicates, each predicate's facts sorted, and a placeholder never bound
    to a variable another placeholder (or the given mapping) already holds.
    """
    mapping = dict(mapping)
    used = set(mapping.values())
    seen = set(mapping)
    new_by_depth = []
    for _, params, _ in query:
        new = []
        for ph in params:
            if ph not in seen:
                new.append(ph)
                seen.add(ph)
        new_by_depth.append(new)
    return _search(query, 0, mapping, used, new_by_depth, facts)


def _search(
    query: Query,
    depth: int,
    mapping: Mapping,
    used: set[Term],
    new_by_depth: list[list[Term]],
    facts: FactStore,
) -> Iterator[Mapping]:
    if depth == len(query):
        yield dict(mapping)
        return
    name, params, signatures = query[depth]
    new = new_by_depth[depth]
    for types in signatures:
        for args in facts.sorted(name, types):
            matched = True
            for ph, var in zip(params, args, strict=False):
                existing = mapping.get(ph)
                if existing is None:
                    if var in used:
                        matched = False
                        break
                    mapping[ph] = var
                    used.add(var)
                elif existing != var:
                    matched = False
                    break
            if matched:
                yield from _search(query, depth + 1, mapping, used, new_by_depth, facts)
            for ph in new:
                bound = mapping.pop(ph, None)
                if bound is not None:
                    used.discard(bound)


def any_assignment(query: Query, mapping: Mapping, facts: FactStore) -> bool:
    """Whether ``query`` has a match extending ``mapping``."""
    return next(assignments(query, mapping, facts), None) is not None


@functools.cache
def _code(expression: str) -> Any:
    return compile(expression, "<grammar>", "eval")


class Grammar:
    """A compiled grammar: productions by name, each ``(condition, symbols)``."""

    def __init__(self, rules: dict[str, list[tuple[Query | None, list[Symbol]]]]) -> None:
        self.rules = rules

    def derive(
        self,
        symbols: list[Symbol],
        variables: dict[str, Any],
        mapping: Mapping,
        facts: FactStore,
        entities: dict[str, Any],
    ) -> str:
        """The text of ``symbols`` in a context (entities by placeholder name, mapping)."""
        out: list[str] = []
        for symbol in symbols:
            self._derive(symbol, variables, mapping, facts, entities, out)
        return "".join(out)

    def _derive(
        self,
        symbol: Symbol,
        variables: dict[str, Any],
        mapping: Mapping,
        facts: FactStore,
        entities: dict[str, Any],
        out: list[str],
    ) -> None:
        kind = symbol[0]
        if kind == "t":
            out.append(symbol[1])
        elif kind == "n":
            for child in self.production(symbol[1], mapping, facts):
                self._derive(child, variables, mapping, facts, entities, out)
        elif kind == "e":
            # The game's own grammar evaluates Python expressions, as TextWorld does.
            out.append(str(eval(_code(symbol[1]), _GLOBALS, variables)))
        elif kind == "c":
            for context in self._contexts(symbol, variables, mapping, facts, entities):
                self._derive(symbol[1], *context, facts, entities, out)
        else:  # "l": a list
            items = list(self._contexts(symbol[1], variables, mapping, facts, entities))
            if not items:
                self._derive(("n", _LIST_RULES[0]), variables, mapping, facts, entities, out)
            for index, context in enumerate(items):
                if index:
                    separator = _LIST_RULES[2] if index == len(items) - 1 else _LIST_RULES[1]
                    self._derive(("n", separator), variables, mapping, facts, entities, out)
                self._derive(symbol[1][1], *context, facts, entities, out)

    def production(self, name: str, mapping: Mapping, facts: FactStore) -> list[Symbol]:
        """The symbols of the first production of ``name`` whose condition holds."""
        rules = self.rules.get(name)
        if not rules:
            raise GrammarError(f"Can't find symbol '#{name}#' in the set of production rules.")
        for condition, symbols in rules:
            if condition is None or any_assignment(condition, mapping, facts):
                return symbols
        raise GrammarError(f"no production of '#{name}#' applies")

    @staticmethod
    def _contexts(
        symbol: Symbol,
        variables: dict[str, Any],
        mapping: Mapping,
        facts: FactStore,
        entities: dict[str, Any],
    ) -> Iterator[tuple[dict[str, Any], Mapping]]:
        query = symbol[2]
        if query is None:
            yield variables, mapping
            return
        for match in assignments(query, mapping, facts):
            bound = dict(variables)
            for ph, var in match.items():
                bound[ph[0]] = entities[var[0]]
            yield bound, match

    def dependencies(self, symbols: list[Symbol]) -> set[str]:
        """The predicates the text of ``symbols`` may depend on (through every production)."""
        found: set[str] = set()
        seen: set[str] = set()
        stack = list(symbols)
        while stack:
            symbol = stack.pop()
            if symbol[0] == "n" and symbol[1] not in seen:
                seen.add(symbol[1])
                for condition, children in self.rules.get(symbol[1], ()):
                    found.update(p[0] for p in condition or ())
                    stack.extend(children)
            elif symbol[0] == "c":
                found.update(p[0] for p in symbol[2] or ())
                stack.append(symbol[1])
            elif symbol[0] == "l":  # its separators and empty text are productions too
                stack.append(symbol[1])
                stack.extend(("n", name) for name in _LIST_RULES)
        return found


class Compiler:
    """Turns TextWorld's parsed grammar symbols and queries into compiled ones.

    Args:
        types: The game's ``textworld.logic.TypeHierarchy`` (queries match subtypes too).
    """

    def __init__(self, types: Any) -> None:
        self._types = types
        self._queries: dict[str, Query] = {}

    def query(self, text: str) -> Query:
        """A conjunctive query ("openable(r:receptacle) & opened(r:receptacle)")."""
        if text not in self._queries:
            self._queries[text] = self._query(text)
        return self._queries[text]

    def _query(self, text: str) -> Query:
        from textworld.logic import Rule

        rule = Rule.parse_conjunctive_query(text)
        bound = {ph for pred in rule.preconditions for ph in pred.parameters}
        if any(ph not in bound for ph in rule.placeholders):
            raise GrammarError(f"query {text!r} has free placeholders")
        predicates = []
        for pred in rule.preconditions:
            types = [self._types.get(t) for t in pred.signature.types]
            signatures = tuple(
                tuple(t.name for t in sub) for sub in self._types.multi_subtypes(types)
            )
            params = tuple((ph.name, ph.type) for ph in pred.parameters)
            predicates.append((pred.name, params, signatures))
        return tuple(predicates)

    def symbols(self, parsed: list[Any]) -> list[Symbol]:
        """Compiled symbols of TextWorld's parsed ones."""
        return [self.symbol(s) for s in parsed]

    def symbol(self, parsed: Any) -> Symbol:
        """One compiled symbol."""
        from textworld.envs.pddl import textgen

        if isinstance(parsed, textgen.TerminalSymbol):
            return ("t", str(parsed.symbol))
        if isinstance(parsed, textgen.NonterminalSymbol):
            return ("n", str(parsed.symbol))
        if isinstance(parsed, textgen.EvalSymbol):
            _code(parsed.expression)  # a syntax error shows here, not mid-episode
            return ("e", parsed.expression)
        if isinstance(parsed, textgen.ConditionalSymbol):
            query = self.query(parsed.given) if parsed.given else None
            return ("c", self.symbol(parsed.expression), query)
        if isinstance(parsed, textgen.ListSymbol):
            inner = self.symbol(parsed.symbol)
            if inner[0] != "c":
                raise GrammarError("a list holds something other than {...}")
            return ("l", inner)
        raise GrammarError(f"unknown grammar symbol {parsed!r}")

    def text(self, template: str) -> list[Symbol]:
        """Compiled symbols of a template ("take {o} from {r}", "#look.feedback#")."""
        from textworld.envs.pddl import textgen

        return self.symbols(textgen._parse_and_convert(template, rule_name="symbols"))

    def grammar(self, parsed: Any) -> Grammar:
        """A compiled grammar of TextWorld's ``ContextSensitiveGrammar``."""
        rules: dict[str, list[tuple[Query | None, list[Symbol]]]] = {}
        for name, productions in parsed._rules.items():
            rules[name] = [
                (self.query(p.condition) if p.condition else None, self.symbols(p.rhs))
                for p in productions
            ]
        return Grammar(rules)
