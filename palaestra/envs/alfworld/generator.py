"""Offline ALFWorld tasks: seeded households and goals written as ALFWorld game folders.

ALFWorld's games normally come from a download (``json_2.1.1``). This generator builds them
from what the ``alfworld`` wheel ships: the AI2-THOR floor plans' receptacle lists
(``gen/layouts``), the object and receptacle constants (which receptacle can hold which
object, which objects can be cleaned, heated, cooled or toggled) and the goal library (goal
PDDL and task templates). Each task is written as an ALFWorld game folder, a
``traj_data.json`` with the task parameters and a ``game.tw-pddl`` with ALFWorld's PDDL
domain, its grammar with the task added and the problem, so it plays exactly as the
official games do. Every task is solved once, at generation time, by a breadth-first search
over ALFWorld's PDDL actions (:mod:`palaestra.envs.alfworld.planner`), so the walkthrough is
a shortest plan; it is replayed on the engine, must win, and is stored. A
draw with no plan of at most :data:`MAX_PLAN_STEPS` commands (half the env's 50-step limit)
is rejected and the next draw of the same seeded stream is taken, so the same seed always
gives the same task. ALFWorld's hand-coded expert is not used: it searches the household for
objects instead of knowing where they are, and its play ran past 50 steps on large
households; Fast Downward's search as ALFWorld ships it took over two minutes on some.

Splits follow ALFWorld's: ``train`` uses the floor plans ALFWorld trains on (7-30 of each
room type), ``unseen`` the held-out ones (1-6), so unseen households never appear in train.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from palaestra.errors import InvalidArgumentError, PalaestraError

#: ALFWorld's six task types, in its numbering.
TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)

#: Short names accepted wherever a task type is (``task="heat"``).
TASK_ALIASES = {
    "pick": "pick_and_place_simple",
    "look": "look_at_obj_in_light",
    "clean": "pick_clean_then_place_in_recep",
    "heat": "pick_heat_then_place_in_recep",
    "cool": "pick_cool_then_place_in_recep",
    "pick_two": "pick_two_obj_and_place",
}

SPLITS = ("train", "unseen")

#: Longest walkthrough a generated task may have: half of the env's 50-step limit, so an
#: agent has as many steps to spare as the plan needs.
MAX_PLAN_STEPS = 25

#: Draws of household and targets tried for one task before generation gives up.
MAX_DRAWS = 50


class GenerationError(PalaestraError, RuntimeError):
    """No draw of a seed's stream gave a task that fits (never seen with the shipped data)."""


#: The appliance each state-change task needs in the household.
_APPLIANCE = {
    "pick_clean_then_place_in_recep": ("SinkBasin", "Cleanable"),
    "pick_heat_then_place_in_recep": ("Microwave", "Heatable"),
    "pick_cool_then_place_in_recep": ("Fridge", "Coolable"),
}

#: Receptacles a lamp stands on.
_LAMP_STANDS = ("Desk", "SideTable", "Dresser", "Shelf", "CoffeeTable", "DiningTable", "Cabinet")

#: Sub-objects that the floor-plan lists name by their parent.
_BASINS = {"Sink": "SinkBasin", "Bathtub": "BathtubBasin"}


@dataclass(frozen=True)
class Task:
    """One generated ALFWorld task.

    Attributes:
        folder: The game folder (``traj_data.json`` and ``game.tw-pddl``).
        task_type: One of :data:`TASK_TYPES`.
        scene: The AI2-THOR floor plan number the household comes from.
        goal: The task sentence shown to the agent.
        walkthrough: The planner's winning commands, verified by replay.
    """

    folder: Path
    task_type: str
    scene: int
    goal: str
    walkthrough: tuple[str, ...]

    @property
    def game_file(self) -> Path:
        """The ``game.tw-pddl`` file."""
        return self.folder / "game.tw-pddl"


def task_type_name(name: str) -> str:
    """The full ALFWorld task type for a name or alias; a clear error otherwise."""
    full = TASK_ALIASES.get(name, name)
    if full not in TASK_TYPES:
        choices = ", ".join(list(TASK_ALIASES) + list(TASK_TYPES))
        raise InvalidArgumentError(f"unknown ALFWorld task type {name!r}; choose one of {choices}")
    return full


def scenes(split: str) -> list[int]:
    """Floor plans of a split that the wheel ships layouts for."""
    from alfworld.gen import constants

    if split not in SPLITS:
        raise InvalidArgumentError(f"unknown ALFWorld split {split!r}; choose one of {SPLITS}")
    numbers = constants.TRAIN_SCENE_NUMBERS if split == "train" else constants.TEST_SCENE_NUMBERS
    folder = _layouts()
    return [n for n in numbers if (folder / f"FloorPlan{n}-openable.json").is_file()]


def _layouts() -> Path:
    import alfworld.gen

    return Path(alfworld.gen.__file__).parent / "layouts"


def _mangle(name: str) -> str:
    """ALFWorld's PDDL spelling of an AI2-THOR id (``|`` is ``_bar_``, ``+`` is ``_plus_``...)."""
    table = {"-": "_minus_", "|": "_bar_", "+": "_plus_", ".": "_dot_", ",": "_comma_"}
    return "".join(table.get(ch, ch) for ch in name)


class _Household:
    """Receptacles and objects of one floor plan, with seeded placement."""

    def __init__(self, scene: int, rng: np.random.Generator) -> None:
        from alfworld.gen import constants

        folder = _layouts()
        points: dict[str, list[float]] = json.loads(
            (folder / f"FloorPlan{scene}-openable.json").read_text()
        )
        present = set(json.loads((folder / f"FloorPlan{scene}-objects.json").read_text()))
        self.receptacles: dict[str, str] = {}  # id -> type
        self.location: dict[str, str] = {}  # receptacle id -> location
        for key, point in sorted(points.items()):
            kind = key.split("|")[0]
            ident = key
            if kind in _BASINS:
                kind = _BASINS[kind]
                ident = f"{key}|{kind}"
            if kind not in constants.RECEPTACLES or kind in constants.MOVABLE_RECEPTACLES_SET:
                continue
            x, z, rotation, horizon = point
            self.receptacles[ident] = kind
            self.location[ident] = (
                f"loc|{round(x * 4)}|{round(z * 4)}|{int(rotation) // 90}|{int(horizon)}"
            )
        self.types = set(self.receptacles.values())
        holders: dict[str, list[str]] = {}
        for ident, kind in self.receptacles.items():
            for obj in constants.VAL_RECEPTACLE_OBJECTS.get(kind, ()):
                holders.setdefault(obj, []).append(ident)
        self.holders = holders
        # Objects the household can hold somewhere (lamps are placed separately).
        self.object_types = sorted(
            t
            for t in present
            if t in constants.OBJECTS
            and t not in constants.RECEPTACLES
            and t in holders
            and "Sliced" not in t
        )
        self.lamps = sorted(t for t in present if t in constants.VAL_ACTION_OBJECTS["Toggleable"])
        self.rng = rng


def _choose_targets(
    task_type: str, home: _Household, rng: np.random.Generator
) -> dict[str, str] | None:
    """Task parameters (``object_target``, ``parent_target``, ...) the household allows."""
    from alfworld.gen import constants

    params = {"object_target": "", "parent_target": "", "toggle_target": "", "mrecep_target": ""}
    candidates = list(home.object_types)
    if task_type in _APPLIANCE:
        appliance, ability = _APPLIANCE[task_type]
        if appliance not in home.types:
            return None
        candidates = [t for t in candidates if t in constants.VAL_ACTION_OBJECTS[ability]]
    if task_type == "look_at_obj_in_light":
        stands = [r for r, k in home.receptacles.items() if k in _LAMP_STANDS]
        if not home.lamps or not stands:
            return None
        params["toggle_target"] = str(rng.choice(home.lamps))
    rng.shuffle(candidates)
    for obj in candidates:
        if task_type == "look_at_obj_in_light":
            params["object_target"] = obj
            return params
        # A destination type that can hold the object, is not the appliance itself, and
        # leaves another receptacle type for the object to start in.
        holder_types = {home.receptacles[r] for r in home.holders[obj]}
        parents = sorted(holder_types - {_APPLIANCE.get(task_type, ("",))[0]})
        parents = [p for p in parents if holder_types - {p}]
        if parents:
            params["object_target"] = obj
            params["parent_target"] = str(rng.choice(parents))
            return params
    return None


def _problem(
    task_type: str, params: dict[str, str], home: _Household, rng: np.random.Generator
) -> str:
    """The PDDL problem: the household's facts and the goal from ALFWorld's goal library."""
    from alfworld.gen import constants
    from alfworld.gen import goal_library as glib

    objects: dict[str, str] = {}  # id -> type
    placement: dict[str, str] = {}  # object id -> receptacle id
    target, parent = params["object_target"], params["parent_target"]
    counts = {t: int(rng.integers(1, 3)) for t in home.object_types}
    counts[target] = max(counts.get(target, 1), 2 if task_type == "pick_two_obj_and_place" else 1)
    for obj_type, count in sorted(counts.items()):
        # The target never starts in a destination of the goal's type.
        places = [
            r
            for r in home.holders[obj_type]
            if not (obj_type == target and home.receptacles[r] == parent)
        ]
        for _ in range(count):
            receptacle = places[int(rng.integers(len(places)))]
            x, y, z = rng.uniform(-3, 3, size=3)
            ident = f"{obj_type}|{x:+06.2f}|{y:+06.2f}|{z:+06.2f}"
            objects[ident], placement[ident] = obj_type, receptacle
    if params["toggle_target"]:
        stands = sorted(r for r, k in home.receptacles.items() if k in _LAMP_STANDS)
        ident = f"{params['toggle_target']}|+00.00|+01.00|+00.00"
        objects[ident] = params["toggle_target"]
        placement[ident] = stands[int(rng.integers(len(stands)))]

    otypes = sorted(set(objects.values()) | {target})
    rtypes = sorted(home.types)
    start = "loc|start|0|0|0"
    locations = sorted(set(home.location.values()) | {start})
    lines = ["(define (problem plan_palaestra)", "(:domain alfred)", "(:objects", "agent1 - agent"]
    lines += [f"{t}Type - otype" for t in otypes] + [f"{t}Type - rtype" for t in rtypes]
    lines += [f"{_mangle(o)} - object" for o in sorted(objects)]
    lines += [f"{_mangle(r)} - receptacle" for r in sorted(home.receptacles)]
    lines += [f"{_mangle(loc)} - location" for loc in locations]
    lines += [")", "(:init", f"(atLocation agent1 {_mangle(start)})"]
    for ident, kind in sorted(home.receptacles.items()):
        name = _mangle(ident)
        lines.append(f"(receptacleType {name} {kind}Type)")
        lines.append(f"(receptacleAtLocation {name} {_mangle(home.location[ident])})")
        if kind in constants.OPENABLE_CLASS_SET:
            lines.append(f"(openable {name})")
    abilities = {
        "Cleanable": "cleanable",
        "Heatable": "heatable",
        "Coolable": "coolable",
        "Toggleable": "toggleable",
        "Sliceable": "sliceable",
    }
    for ident, kind in sorted(objects.items()):
        name, receptacle = _mangle(ident), placement[ident]
        lines.append(f"(objectType {name} {kind}Type)")
        lines.append(f"(inReceptacle {name} {_mangle(receptacle)})")
        lines.append(f"(objectAtLocation {name} {_mangle(home.location[receptacle])})")
        if kind not in constants.VAL_ACTION_OBJECTS["Toggleable"]:
            lines.append(f"(pickupable {name})")
        for ability, predicate in abilities.items():
            if kind in constants.VAL_ACTION_OBJECTS[ability]:
                lines.append(f"({predicate} {name})")
    for rtype in rtypes:
        for otype in sorted(constants.VAL_RECEPTACLE_OBJECTS.get(rtype, ())):
            if otype in otypes:
                lines.append(f"(canContain {rtype}Type {otype}Type)")
    lines.append(")")
    goal = glib.gdict[task_type]["pddl"].format(
        obj=target, recep=parent, toggle=params["toggle_target"], mrecep=""
    )
    lines.append(goal.replace("#", "-"))
    return "\n".join(lines) + "\n"


def _task_sentence(task_type: str, params: dict[str, str], rng: np.random.Generator) -> str:
    from alfworld.gen import goal_library as glib

    templates = glib.gdict[task_type]["templates"]
    template = templates[int(rng.integers(len(templates)))]
    return str(
        template.format(
            obj=params["object_target"].lower(),
            recep=params["parent_target"].lower(),
            toggle=params["toggle_target"].lower(),
            mrecep="",
        )
    )


def generate_task(task_type: str, split: str, seed: int, folder: Path) -> Task:
    """Generate, verify and write one task into ``folder`` (created; replaced atomically).

    Raises:
        GenerationError: None of :data:`MAX_DRAWS` draws gave a household that allows the
            task with a plan of at most :data:`MAX_PLAN_STEPS` commands.
    """
    import alfworld

    task_type = task_type_name(task_type)
    candidates = scenes(split)
    rng = np.random.default_rng([seed, TASK_TYPES.index(task_type), SPLITS.index(split)])
    data = Path(alfworld.__file__).parent / "data"
    domain = (data / "alfred.pddl").read_text()
    grammar = (data / "alfred.twl2").read_text()
    for _ in range(MAX_DRAWS):
        scene = int(rng.choice(candidates))
        home = _Household(scene, rng)
        params = _choose_targets(task_type, home, rng)
        if params is None:
            continue
        problem = _problem(task_type, params, home, rng)
        sentence = _task_sentence(task_type, params, rng)
        traj_data = {
            "task_type": task_type,
            "scene": {"floor_plan": f"FloorPlan{scene}", "scene_num": scene},
            "pddl_params": {**params, "object_sliced": False},
            "turk_annotations": {"anns": [{"task_desc": sentence[0].upper() + sentence[1:]}]},
            "generator": "palaestra",
        }
        game = {
            "pddl_domain": domain,
            "grammar": grammar.replace("UNKNOWN GOAL", sentence),
            "pddl_problem": problem,
            "solvable": None,
            "walkthrough": None,
        }
        walkthrough = _write_verified(folder, traj_data, game)
        if walkthrough is not None:
            return Task(folder, task_type, scene, sentence, tuple(walkthrough))
    raise GenerationError(
        f"no {task_type} task in split {split!r} for seed {seed}: none of {MAX_DRAWS} draws "
        f"had a plan of at most {MAX_PLAN_STEPS} commands"
    )


def _write_verified(
    folder: Path, traj_data: dict[str, Any], game: dict[str, Any]
) -> list[str] | None:
    """Solve the game in a scratch folder; move it into place if solved within the limit."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".generating-") as scratch:
        root = Path(scratch) / "task"
        root.mkdir()
        (root / "traj_data.json").write_text(json.dumps(traj_data, indent=1))
        (root / "game.tw-pddl").write_text(json.dumps(game))
        walkthrough = solve(root / "game.tw-pddl")
        if walkthrough is None:
            return None
        game.update(solvable=True, walkthrough=walkthrough)
        (root / "game.tw-pddl").write_text(json.dumps(game))
        if folder.exists():  # another process finished first: keep theirs
            return walkthrough
        os.replace(root, folder)
    return walkthrough


def solve(game_file: Path, max_steps: int | None = None) -> list[str] | None:
    """The shortest plan of a game, replayed to a win on the engine, or ``None``.

    The game folder's ``traj_data.json`` names the goal. ``None`` when no plan of at most
    ``max_steps`` commands (default :data:`MAX_PLAN_STEPS`) exists.

    Raises:
        GenerationError: The plan does not win on the engine (the planner's model of the
            domain and the engine disagree: a bug, never a property of the task).
    """
    from palaestra.envs.alfworld.engine import goal_of, plan

    goal = goal_of(json.loads((game_file.parent / "traj_data.json").read_text()))
    with _SOLVER_LOCK:
        engine = _solver_engine(game_file)
        state = engine.reset()
        limit = MAX_PLAN_STEPS if max_steps is None else max_steps
        commands = plan(engine, goal, limit)  # reads the state, changes nothing
        if commands is None:
            return None
        for command in commands:
            if command not in state.admissible_commands:
                raise GenerationError(f"{game_file}: planned {command!r} is not admissible")
            state, _, _ = engine.step(command)
        if not state["won"]:
            raise GenerationError(f"{game_file}: the plan {commands} does not win")
        return commands


_SOLVER_LOCK = threading.Lock()
_solver: list[Any] = []  # the process's one solving engine (see start_engine)


def _solver_engine(game_file: Path) -> Any:
    """The process's solving engine with ``game_file`` loaded."""
    from palaestra.envs.alfworld.engine import load_game, start_engine

    if not _solver:
        _solver.append(start_engine(game_file))
    else:
        load_game(_solver[0], game_file)
    return _solver[0]
