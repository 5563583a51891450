"""ALFWorld's text engine, compiled: the PDDL engine's text and rules at a fraction of its cost.

ALFWorld plays its games on TextWorld's PDDL backend: Fast Downward's C++ search library
holds the state, and each step builds a Python action object for every applicable operator,
writes every admissible command and the feedback with TextWorld's grammar (deep-copying
contexts and parsing as it goes) and mirrors the operator's effects into a Python fact set.
:class:`FastEngine` plays the same games on a compiled form of the same task:

* **Rules.** Fast Downward's own translation of the game (the SAS task the library loads,
  from the shared :mod:`~palaestra.envs.alfworld.translation` cache) gives the ground
  operators, their preconditions and effects (conditional ones included), the axioms and
  the goal. Applicable operators are tracked incrementally: each operator counts its unmet
  preconditions, and an effect updates only the operators that watch the changed variable.
* **Facts.** The Python fact set TextWorld's grammar reads is mirrored exactly as
  ``PddlState`` keeps it, quirks included: static facts from the problem, and every effect
  atom of an applied operator added (with its negation removed) whether or not its
  condition held, so negative facts such as ``not_inreceptacle`` appear once an effect
  writes them.
* **Text.** Command templates of ALFWorld's grammar read only facts no operator changes,
  so each operator's command is written once, when the game is compiled; feedback and
  the intro go through :mod:`~palaestra.envs.alfworld.textgen`.

A game is compiled once (one translation, which the PDDL engine shares) and kept in
memory and on disk (``$PALAESTRA_CACHE_DIR/alfworld/fast/``), keyed by a hash of the game
file, the packages, Python and this code. A game whose command templates read facts that
change raises :class:`UnsupportedGameError` when it is loaded, and a step whose command two
applicable operators write with different outcomes raises :class:`AmbiguousCommandError`
(nothing changed): the env then plays the game, or the rest of the episode, on the PDDL
engine.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import marshal
import os
import sys
import threading
import zlib
from collections import OrderedDict, defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

from palaestra.envs.alfworld import translation
from palaestra.envs.alfworld.sas import SasTask, parse_sas
from palaestra.envs.alfworld.textgen import Compiler, FactStore, Grammar, GrammarError

#: Bumped whenever the compiled form or its semantics change.
ENGINE_VERSION = 1

#: Compiled games kept in memory per process.
GAMES_KEPT = 64

NOTHING_HAPPENS = "Nothing happens."

Fact = tuple[str, tuple[tuple[str, str], ...]]


class UnsupportedGameError(ValueError):
    """A game the fast engine cannot prove it plays exactly as the PDDL engine."""


class AmbiguousCommandError(UnsupportedGameError):
    """A command two applicable operators write, with different outcomes.

    The PDDL engine carries out the first of them in the order of Fast Downward's successor
    generator, which the fast engine does not reproduce; it refuses the step instead (and
    leaves its state as it was).
    """


def _code_hash() -> str:
    code = hashlib.sha256()
    for module in ("fast_engine", "textgen", "sas", "translation", "engine"):
        code.update((Path(__file__).parent / f"{module}.py").read_bytes())
    return code.hexdigest()


#: The code that compiles games, as imported (its hash is part of every cache key).
_CODE = _code_hash()


@functools.cache
def _versions() -> str:
    """What a compiled game depends on besides its file: packages, Python, this code."""
    packages = ("textworld", "alfworld", "fast-downward-textworld", "tatsu")
    found = [f"{p}={metadata.version(p)}" for p in packages]
    return f"{ENGINE_VERSION}/{sys.version_info[:2]}/{'/'.join(found)}/{_CODE}"


# ---------------------------------------------------------------------------- compiling
def compile_game(data: dict[str, Any]) -> dict[str, Any]:
    """The compiled form of a game file's content (plain containers, for ``marshal``).

    Raises:
        UnsupportedGameError: The game's text or rules are not reproduced exactly.
    """
    from textworld.envs.pddl import logic as pddl_logic

    from palaestra.envs.alfworld.engine import demangled_names, install_text_templates

    install_text_templates()
    try:
        domain, problem, grammar_text = data["pddl_domain"], data["pddl_problem"], data["grammar"]
        task, sas_text = translation.translate(domain, problem)
        logic = pddl_logic.GameLogic(domain=domain, grammar=grammar_text)
    except UnsupportedGameError:
        raise
    except Exception as exc:
        raise UnsupportedGameError(f"cannot translate the game: {exc}") from exc
    sas = parse_sas(sas_text)
    name2type = {o.name: o.type_name for o in task.objects}
    atoms = [[_atom_fact(value, name2type) for value in values] for values in sas.values]
    start = _with_axioms(sas, list(sas.start))
    init = _init_facts(task, name2type)
    state_facts = [
        fact
        for var, value in enumerate(start)
        if (fact := atoms[var][value]) is not None and not fact[0].startswith("not_")
    ]
    entity_types: dict[str, str] = {}
    for _, args in [*init, *state_facts]:
        for name, type_ in args:
            entity_types[name] = type_
    names = demangled_names(entity_types)
    types = _type_hierarchy(task)
    compiler = Compiler(types)
    try:
        grammar = compiler.grammar(logic.grammar)
        intro = compiler.text("#intro#")
        templates = {n: compiler.text(a.template) for n, a in logic.actions.items()}
        feedback = {n: compiler.text(a.feedback_rule) for n, a in logic.actions.items()}
    except (GrammarError, Exception) as exc:
        raise UnsupportedGameError(f"cannot compile the game's grammar: {exc}") from exc
    changing = {fact[0] for values in atoms for fact in values if fact is not None}
    for name, symbols in templates.items():
        read = grammar.dependencies(symbols) & changing
        if read:
            raise UnsupportedGameError(f"the command template of {name} reads {sorted(read)}")

    entities = _entities(entity_types, names)
    store = FactStore([*init, *state_facts])
    parameters = {a.name: a.parameters for a in task.actions}  # as PddlState: the last wins
    # Equal values share one object: marshal then writes each once, and memory holds it once.
    shared: dict[Any, Any] = {}

    def share(value: Any) -> Any:
        return shared.setdefault(value, value)

    commands: dict[str, int] = {}
    outcomes: dict[Any, int] = {}
    columns: dict[str, list[Any]] = {
        k: [] for k in ("pre", "effects", "command", "action", "mapping", "outcome")
    }
    for op in sas.operators:
        action, *arguments = op.name.split()
        if action not in logic.actions or action not in parameters:
            raise UnsupportedGameError(f"operator {op.name!r} has no action in the grammar")
        mapping = share(
            tuple(
                share((share((p.name.strip("?"), p.type_name)), share((arg, p.type_name))))
                for p, arg in zip(parameters[action], arguments, strict=False)
            )
        )
        try:
            variables = {ph[0]: entities[var[0]] for ph, var in mapping}
            text = grammar.derive(templates[action], variables, dict(mapping), store, entities)
            if "{" in text or "}" in text:
                text = text.format(**names)
        except (GrammarError, KeyError, ValueError, IndexError) as exc:
            raise UnsupportedGameError(f"cannot write the command of {op.name!r}: {exc}") from exc
        effects = share(tuple(share((share(c), v, x)) for c, v, x in op.effects))
        columns["pre"].append(share(op.preconditions))
        columns["effects"].append(effects)
        columns["command"].append(commands.setdefault(text, len(commands)))
        columns["action"].append(share(action))
        columns["mapping"].append(mapping)
        # Operators with one command and one outcome (action, parameters, effects).
        columns["outcome"].append(outcomes.setdefault((action, mapping, effects), len(outcomes)))
    sizes = [len(v) for v in sas.values]
    base = [sum(sizes[:var]) for var in range(len(sizes))]
    watchers: list[list[int]] = [[] for _ in range(sum(sizes))]
    unmet = []
    for index, conditions in enumerate(columns["pre"]):
        for var, value in conditions:
            watchers[base[var] + value].append(index)
        unmet.append(sum(1 for var, value in conditions if start[var] != value))
    by_command: list[list[int]] = [[] for _ in commands]
    for index, command in enumerate(columns["command"]):
        by_command[command].append(index)

    def shared_fact(value: Fact | None) -> Fact | None:
        if value is None:
            return None
        found: Fact = share(
            (share(value[0]), share(tuple(share((share(n), share(t))) for n, t in value[1])))
        )
        return found

    return {
        "sizes": sizes,
        "atoms": [shared_fact(f) for values in atoms for f in values],
        "layers": list(sas.layers),
        "start": start,
        "default": list(sas.start),
        "goal": list(sas.goal),
        "rules": [(r.conditions, r.variable, r.value) for r in sas.rules],
        **columns,
        "watchers": watchers,
        "unmet": unmet,
        "by_command": by_command,
        "commands": sorted(commands, key=commands.__getitem__),
        "facts": [shared_fact(f) for f in [*init, *state_facts]],
        "init_count": len(init),
        "entities": [(i, t, names[i]) for i, t in entity_types.items()],
        "grammar": grammar.rules,
        "intro": intro,
        "feedback": feedback,
        "templates": {n: a.template for n, a in logic.actions.items()},
        "parameters": {n: [p.name.strip("?") for p in ps] for n, ps in parameters.items()},
    }


def _atom_fact(value: str, name2type: dict[str, str]) -> Fact | None:
    """A SAS value as ``PddlState`` turns it into a fact ("NegatedAtom x(a)" → not_x)."""
    if value == "<none of those>":
        return None
    try:
        kind, rest = value.split(" ", 1)
        name, args = rest.split("(", 1)
        terms = tuple((_var_name(a), name2type[a]) for a in args[:-1].split(", ") if a)
    except (ValueError, KeyError) as exc:
        raise UnsupportedGameError(f"cannot read the SAS value {value!r}") from exc
    return ("not_" + name if kind == "NegatedAtom" else name), terms


def _var_name(name: str) -> str:
    # fast_downward.Atom's own quirk, kept so the facts are the same.
    return name.upper() if name.lower() in ("i", "p") else name


def _init_facts(task: Any, name2type: dict[str, str]) -> list[Fact]:
    """The problem's initial facts as ``PddlState`` reads them (static ones included)."""
    from fast_downward.translate.pddl import conditions, f_expression

    facts: list[Fact] = []
    for atom in task.init:
        if isinstance(atom, conditions.Atom):
            if atom.predicate != "=":
                facts.append((atom.predicate, tuple((a, name2type[a]) for a in atom.args)))
        elif isinstance(atom, f_expression.Assign) and atom.fluent.symbol != "total-cost":
            name = f"{atom.expression.value}"
            if not name.isdigit():
                facts.append((name, tuple((a, name2type[a]) for a in atom.fluent.args)))
    return facts


def _type_hierarchy(task: Any) -> Any:
    import textworld.logic

    types = textworld.logic.TypeHierarchy()
    for type_ in task.types:
        # A type declared twice ("object") is skipped, as PddlState does.
        with contextlib.suppress(ValueError):
            types.add(textworld.logic.Type(type_.name, type_.supertype_names))
    return types


def _entities(types: dict[str, str], names: dict[str, str]) -> dict[str, Any]:
    from textworld.generator.game import EntityInfo

    entities = {}
    for id_, type_ in types.items():
        info = EntityInfo(id_, type_)
        info.name, info.definite, info.indefinite = names[id_], "the", "a"
        entities[id_] = info
    return entities


def _with_axioms(sas: SasTask, values: list[int]) -> list[int]:
    """``values`` with the derived variables evaluated (Fast Downward's layered axioms)."""
    rules = [(r.conditions, r.variable, r.value) for r in sas.rules]
    return _evaluate(_axiom_layers(sas.layers, rules), sas.start, values)


def _axiom_layers(layers: Any, rules: Any) -> list[tuple[list[int], list[Any]]]:
    by_layer: dict[int, tuple[list[int], list[Any]]] = {}
    for var, layer in enumerate(layers):
        if layer >= 0:
            by_layer.setdefault(layer, ([], []))[0].append(var)
    for rule in rules:
        by_layer.setdefault(layers[rule[1]], ([], []))[1].append(rule)
    return [by_layer[k] for k in sorted(by_layer)]


def _evaluate(
    layers: list[tuple[list[int], list[Any]]], default: Any, values: list[int]
) -> list[int]:
    """Derived variables reset to their defaults, then each layer's rules to a fixpoint."""
    work = list(values)
    for variables, rules in layers:
        for var in variables:
            work[var] = default[var]
        changed = True
        while changed:  # to the fixpoint: rules of a layer only make more of it true
            changed = False
            for conditions, var, value in rules:
                if work[var] != value and all(work[v] == x for v, x in conditions):
                    work[var] = value
                    changed = True
    return work


# ---------------------------------------------------------------------------- the cache
class _Game:
    """A compiled game made ready to play (once per process and game)."""

    def __init__(self, compiled: dict[str, Any]) -> None:
        self.compiled = compiled
        sizes = compiled["sizes"]
        self.base = [0] * len(sizes)
        for var in range(1, len(sizes)):
            self.base[var] = self.base[var - 1] + sizes[var - 1]
        self.facts: list[Fact | None] = compiled["atoms"]
        entities = compiled["entities"]
        self.entities = _entities({i: t for i, t, _ in entities}, {i: n for i, _, n in entities})
        self.grammar = Grammar(compiled["grammar"])
        self.commands: list[str] = compiled["commands"]
        self.effects = compiled["effects"]
        self.command_of = compiled["command"]
        self.action_of = compiled["action"]
        self.mapping_of = compiled["mapping"]
        self.outcome_of = compiled["outcome"]
        self.watchers: list[list[int]] = compiled["watchers"]
        self.by_command = {self.commands[i]: ops for i, ops in enumerate(compiled["by_command"])}
        self.layers = _axiom_layers(compiled["layers"], compiled["rules"])
        self.derived = {v for variables, _ in self.layers for v in variables}
        self.unmet: list[int] = compiled["unmet"]
        self.applicable = {i for i, n in enumerate(self.unmet) if n == 0}
        self.start_facts = FactStore(compiled["facts"])


_games: OrderedDict[str, _Game] = OrderedDict()
#: Games refused (by digest), so that a refused game is not compiled again at every reset.
_refused: OrderedDict[str, str] = OrderedDict()
_games_lock = threading.Lock()
_compile_lock = threading.Lock()


def _new_locks() -> None:
    # A child forked while another thread held one would wait for it forever.
    global _games_lock, _compile_lock
    _games_lock, _compile_lock = threading.Lock(), threading.Lock()


os.register_at_fork(after_in_child=_new_locks)


def _digest(content: bytes) -> str:
    return hashlib.sha256(_versions().encode() + b"\0" + content).hexdigest()


def forget(game_file: str | Path) -> None:
    """Drop a game's compiled form and translations from memory and disk (a one-off game)."""
    import json

    try:
        content = Path(game_file).read_bytes()
        data = json.loads(content)
    except (OSError, ValueError):
        return
    digest = _digest(content)
    with _games_lock:
        _games.pop(digest, None)
        _refused.pop(digest, None)
    _cache_path(digest).unlink(missing_ok=True)
    if isinstance(data, dict) and isinstance(data.get("pddl_domain"), str):
        translation.forget(data["pddl_domain"], str(data.get("pddl_problem", "")))


def load_game_file(game_file: str | Path, content: bytes | None = None) -> _Game:
    """The compiled game of a ``game.tw-pddl`` file: from memory, disk, or compiled now.

    Args:
        game_file: The file.
        content: Its bytes, if already read.

    Raises:
        UnsupportedGameError: The game is not played exactly (remembered for the process).
    """
    content = Path(game_file).read_bytes() if content is None else content
    digest = _digest(content)
    with _games_lock:
        if digest in _games:
            _games.move_to_end(digest)
            return _games[digest]
        if digest in _refused:
            raise UnsupportedGameError(_refused[digest])
    try:
        return _load(game_file, content, digest)
    except UnsupportedGameError as exc:
        with _games_lock:
            _refused[digest] = str(exc)
            while len(_refused) > GAMES_KEPT:
                _refused.popitem(last=False)
        raise


def _load(game_file: str | Path, content: bytes, digest: str) -> _Game:
    import json

    path = _cache_path(digest)
    compiled = _read(path)
    if compiled is None:
        try:
            data = json.loads(content)
        except ValueError as exc:
            raise UnsupportedGameError(f"{game_file} is not a game file: {exc}") from exc
        compiled = _compile(data)
        _write(path, compiled)
    try:
        game = _Game(compiled)
    except (KeyError, TypeError, ValueError, IndexError):  # damaged in a way zlib missed
        compiled = _compile(json.loads(content))
        _write(path, compiled)
        game = _Game(compiled)
    with _games_lock:
        _games[digest] = game
        while len(_games) > GAMES_KEPT:
            _games.popitem(last=False)
    return game


def _compile(data: Any) -> dict[str, Any]:
    # TextWorld's parsers are shared objects that one thread at a time may use.
    with _compile_lock:
        try:
            return compile_game(data)
        except UnsupportedGameError:
            raise
        except Exception as exc:  # a file that holds no game, or one the engines cannot read
            raise UnsupportedGameError(f"cannot compile the game: {exc!r}") from exc


def _cache_path(digest: str) -> Path:
    from palaestra.paths import cache_dir

    return cache_dir("alfworld", "fast") / f"{digest}.marshal.z"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = zlib.decompress(path.read_bytes())
    except (OSError, zlib.error):
        return None  # missing or damaged: compiled again and rewritten
    # marshal builds plain containers only: reading never runs code from the file. It makes
    # tens of thousands of tuples, each of which could set off the cyclic collector (which
    # then scans them all again): 5-10x the time. None of them can be in a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        compiled = marshal.loads(data)
    except (ValueError, EOFError, TypeError):
        return None
    finally:
        if collecting:
            gc.enable()
    return compiled if isinstance(compiled, dict) else None


def _write(path: Path, compiled: dict[str, Any]) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        partial.write_bytes(zlib.compress(marshal.dumps(compiled), 6))
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- playing
class FastEngine:
    """A TextWorld-style environment playing ALFWorld games on their compiled form.

    ``load``, ``reset`` and ``step`` behave as ALFWorld's stack (``PddlEnv`` with
    ``AlfredDemangler`` and ``AlfredInfos``): the same feedback, admissible commands (sorted),
    ``won``, ``score`` and ``done``, and ``facts`` when requested (ALFWorld's hand-coded
    expert reads them, in the order ``PddlState`` holds them). It can be wrapped in
    ALFWorld's ``AlfredExpert``.

    Args:
        infos: What the states carry, as TextWorld's ``EnvInfos``.
    """

    def __init__(self, infos: Any = None) -> None:
        import textworld

        self.request_infos = infos or textworld.EnvInfos(won=True, admissible_commands=True)
        self._game: _Game | None = None
        self._file: str | None = None
        self._content = b""
        self._mirror_facts: list[Fact] | None = None
        self._moves = 0
        self.state: Any = None

    def load(self, path: str | Path) -> None:
        """Load a ``game.tw-pddl`` (the next :meth:`reset` starts it)."""
        content = Path(path).read_bytes()
        self._game = load_game_file(path, content)
        self._file, self._content, self._mirror_facts = str(path), content, None

    def reset(self) -> Any:
        """Start the loaded game."""
        game = self._require()
        compiled = game.compiled
        self._values = list(compiled["start"])
        self._unmet = list(game.unmet)
        self._applicable = set(game.applicable)
        self._facts = game.start_facts.copy()
        self._mirror = None
        if self.request_infos.facts:
            if self._mirror_facts is None:  # once per load
                self._mirror_facts = self._mirror_start(game)
            self._mirror = _Mirror(self._mirror_facts)
        self._moves = 0
        text = game.grammar.derive(compiled["intro"], {}, {}, self._facts, game.entities)
        self.state = self._gather(text)
        self.state["extra.gamefile"] = self._file
        return self.state

    def step(self, command: str) -> tuple[Any, int, bool]:
        """Play ``command`` (an admissible command; anything else: "Nothing happens.")."""
        game = self._require()
        command = command.strip()
        candidates = [op for op in game.by_command.get(command, ()) if op in self._applicable]
        if len({game.outcome_of[op] for op in candidates}) > 1:
            raise AmbiguousCommandError(
                f"{command!r} is written by operators with different outcomes"
            )
        operator = candidates[0] if candidates else None
        if operator is None:
            text = NOTHING_HAPPENS
        else:
            self._apply(operator)
            mapping = dict(game.mapping_of[operator])
            variables = {ph[0]: game.entities[var[0]] for ph, var in mapping.items()}
            symbols = game.compiled["feedback"][game.action_of[operator]]
            text = game.grammar.derive(symbols, variables, mapping, self._facts, game.entities)
            self._moves += 1
        self.state = self._gather(text)
        self.state.last_command = command
        self.state["score"] = 1 if self.state["won"] else 0
        self.state["done"] = self.state["won"] or self.state["lost"]
        return self.state, self.state["score"], self.state["done"]

    def _apply(self, operator: int) -> None:
        game = self._game
        assert game is not None
        values = self._values
        changes = {}
        for conditions, var, value in game.effects[operator]:
            # Fast Downward: a conditional effect fires on the state before the operator.
            if all(values[v] == x for v, x in conditions):
                changes[var] = value
            # PddlState: every effect atom goes into the facts, its condition or not.
            fact = game.facts[game.base[var] + value]
            if fact is not None:
                self._facts.remove(_negation(fact[0]), fact[1])
                self._facts.add(*fact)
                if self._mirror is not None:
                    self._mirror.apply(fact)
        for var, value in changes.items():
            self._set(var, value)
        if game.layers:
            derived = _evaluate(game.layers, game.compiled["default"], self._values)
            for var in game.derived:
                self._set(var, derived[var])

    def _set(self, var: int, value: int) -> None:
        game = self._game
        assert game is not None
        old = self._values[var]
        if old == value:
            return
        self._values[var] = value
        unmet, applicable = self._unmet, self._applicable
        for op in game.watchers[game.base[var] + old]:
            unmet[op] += 1
            if unmet[op] == 1:
                applicable.discard(op)
        for op in game.watchers[game.base[var] + value]:
            unmet[op] -= 1
            if unmet[op] == 0:
                applicable.add(op)

    def _gather(self, feedback: str) -> Any:
        from textworld.core import GameState

        game = self._game
        assert game is not None
        state = GameState()
        state.feedback = state.raw = feedback
        state["won"] = all(self._values[v] == x for v, x in game.compiled["goal"])
        state["lost"] = False
        commands = game.commands
        state["admissible_commands"] = sorted(
            {commands[game.command_of[op]] for op in self._applicable}
        )
        if self.request_infos.moves:
            state["moves"] = self._moves
        if self._mirror is not None:
            state["facts"] = self._mirror.readable(game.entities)
        return state

    def _mirror_start(self, game: _Game) -> list[Fact]:
        """The start facts in the order a ``PddlState`` of this process adds them.

        Fast Downward's parser keeps the problem's initial facts in a set of objects hashed
        by identity, so their order differs from process to process: it is taken from this
        process's parse (the one the PDDL engine would get from the translation cache).
        """
        import json

        data = json.loads(self._content)  # as loaded, whatever became of the file since
        task, _ = translation.translate(data["pddl_domain"], data["pddl_problem"])
        init = _init_facts(task, {o.name: o.type_name for o in task.objects})
        return [*init, *game.compiled["facts"][game.compiled["init_count"] :]]

    def _require(self) -> _Game:
        if self._game is None:
            raise RuntimeError("no game loaded: call load(game_file) first")
        return self._game

    # ------------------------------------------------------------------ planning
    def planner_facts(self) -> list[tuple[str, tuple[str, ...]]]:
        """The state's facts as ``(predicate, argument names)`` (for the planner)."""
        return [(name, tuple(a for a, _ in args)) for name, args in self._facts]

    def templated(self, operators: list[str]) -> list[str]:
        """Commands of planner operators ("gotolocation agent1 loc_1 loc_2 cabinet_1")."""
        game = self._require()
        compiled = game.compiled
        commands = []
        for step in operators:
            action, *args = step.split()
            values = {
                p: game.entities[a].name
                for p, a in zip(compiled["parameters"][action], args, strict=False)
            }
            template = "go to {r}" if action == "gotolocation" else compiled["templates"][action]
            commands.append(template.format(**values))
        return commands

    def close(self) -> None:
        """Forget the loaded game."""
        self._game = None
        self.state = None


def _negation(name: str) -> str:
    return name[4:] if name.startswith("not_") else "not_" + name


class _Mirror:
    """The facts as ``PddlState`` holds them, in its order (what ALFWorld's expert reads).

    Built from the same propositions in the same sequence of adds and removes as a
    ``PddlState`` of this process, so the sets iterate in the same order.
    """

    def __init__(self, facts: list[Fact]) -> None:
        self._facts: defaultdict[Any, set[Any]] = defaultdict(set)
        for fact in facts:
            prop = _proposition(fact)
            self._facts[prop.signature].add(prop)

    def apply(self, fact: Fact) -> None:
        prop = _proposition(fact)
        negated = prop.negate()
        self._facts[negated.signature].discard(negated)
        self._facts[prop.signature].add(prop)

    def readable(self, entities: dict[str, Any]) -> list[Any]:
        from textworld.logic import Proposition, Variable

        return [
            Proposition(
                p.name, [Variable(entities[v.name].name or v.name, v.type) for v in p.arguments]
            )
            for facts in self._facts.values()
            for p in facts
        ]


def _proposition(fact: Fact) -> Any:
    from textworld.logic import Proposition, Variable

    return Proposition(fact[0], [Variable(n, t) for n, t in fact[1]])
