"""Shortest plans for ALFWorld's six task types: breadth-first search over ALFWorld's PDDL.

The search runs on the facts of ALFWorld's PDDL state (``alfred.pddl``: where the agent is,
which receptacle holds which object, which receptacles are open, what is clean, hot, cool or
toggled) with the domain's own action schemas, one command each, so the plan it returns has
the fewest commands of any plan that reaches the goal.

It searches only what the goal involves: the objects of the goal's type (and the lamps of a
look task), the receptacles that hold them, the receptacles of the goal's type, and the
appliance of the task. Nothing else can shorten a plan: moving to a place is one command
from anywhere, no action needs a receptacle closed or another object moved, and holding an
unrelated object only blocks taking one. ``look``, ``inventory``, ``examine``, ``help``,
``close`` and slicing change nothing the goals test. With that pruning a plan of ten
commands in a 40-receptacle kitchen takes milliseconds, where Fast Downward's search as
ALFWorld ships it (its ``policy_commands``) took from 0.3 s to over two minutes.

Plans are sequences of PDDL operators (``("pickupobject", agent, location, object,
receptacle)``); :func:`palaestra.envs.alfworld.engine.plan` turns them into the engine's
text commands and the generator replays them on the engine before storing them.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

#: The appliance type and the state predicate of each state-change task.
_CHANGE = {
    "pick_clean_then_place_in_recep": ("sinkbasintype", "isclean"),
    "pick_heat_then_place_in_recep": ("microwavetype", "ishot"),
    "pick_cool_then_place_in_recep": ("fridgetype", "iscool"),
}

#: The task types whose goals the search models (ALFWorld's six).
SEARCHED_TASK_TYPES = frozenset(
    {
        "pick_and_place_simple",
        "look_at_obj_in_light",
        *_CHANGE,
        "pick_two_obj_and_place",
    }
)

_HELD = "<held>"

#: A ground PDDL operator: the action's name, then its arguments in the domain's order.
Operator = tuple[str, ...]


@dataclass(frozen=True)
class Goal:
    """What a task asks, in ALFWorld's ``pddl_params`` terms.

    Attributes:
        task_type: One of ALFWorld's six task types.
        object_target: The object type to act on (``"Apple"``).
        parent_target: The receptacle type it must end in (empty for look tasks).
        toggle_target: The lamp type of a look task (empty otherwise).
    """

    task_type: str
    object_target: str
    parent_target: str = ""
    toggle_target: str = ""


class Fact(NamedTuple):
    """One ground fact: a predicate and its argument names, as in the PDDL state."""

    name: str
    args: tuple[str, ...]


class _State(NamedTuple):
    location: str
    held: str  # object name, or "" for empty hands
    places: tuple[str, ...]  # receptacle of each relevant object, or _HELD
    changed: frozenset[str]  # relevant objects cleaned / heated / cooled
    opened: frozenset[str]
    toggled: frozenset[str]


class _Household:
    """The relevant part of a PDDL state, read once."""

    def __init__(self, facts: Iterable[Fact], goal: Goal) -> None:
        by_name: dict[str, list[tuple[str, ...]]] = {}
        for fact in facts:
            by_name.setdefault(fact.name.lower(), []).append(fact.args)

        def pairs(predicate: str) -> dict[str, str]:
            return {args[0]: args[1] for args in by_name.get(predicate, [])}

        def names(predicate: str) -> set[str]:
            return {args[0] for args in by_name.get(predicate, [])}

        self.agent, self.start = by_name["atlocation"][0][:2]
        self.location = pairs("receptacleatlocation")
        rtype, otype = pairs("receptacletype"), pairs("objecttype")
        self.rtype, self.otype = rtype, otype
        self.openable = names("openable")
        self.can_contain = {(args[0], args[1]) for args in by_name.get("cancontain", [])}
        flags = {name: names(name) for name in _FLAGS}
        self.pickupable, self.toggleable = flags["pickupable"], flags["toggleable"]
        self.ability = {
            "isclean": flags["cleanable"],
            "ishot": flags["heatable"],
            "iscool": flags["coolable"],
        }
        start_in = pairs("inreceptacle")
        held = next((args[1] for args in by_name.get("holds", [])), "")

        self.goal = goal
        self.target = f"{goal.object_target}type".lower()
        self.parent = f"{goal.parent_target}type".lower()
        appliance, self.change = _CHANGE.get(goal.task_type, ("", ""))
        lamp_type = f"{goal.toggle_target}type".lower() if goal.toggle_target else ""
        # An unrelated object in hand (an episode gone astray) must be put down somewhere
        # that can hold it before anything else is taken: it and those places join in.
        self.objects = sorted(
            o for o, t in otype.items() if (t == self.target and o in start_in) or o == held
        )
        self.lamps = sorted(
            o for o, t in otype.items() if t == lamp_type and o in start_in and o in self.toggleable
        )
        self.lamp_place = {lamp: start_in[lamp] for lamp in self.lamps}
        relevant = {start_in[o] for o in self.objects if o in start_in}
        relevant |= set(self.lamp_place.values())
        relevant |= {r for r, t in rtype.items() if t == appliance}
        if held and otype.get(held) != self.target:
            held_type = otype.get(held, "")
            relevant |= {r for r, t in rtype.items() if (t, held_type) in self.can_contain}
        #: Receptacles of the goal's type; the search runs once per destination.
        self.destinations = sorted(r for r, t in rtype.items() if t == self.parent)
        self.goal_places = set(self.destinations)
        self.receptacles = sorted(r for r in relevant | self.goal_places if r in self.location)
        self.appliances = [r for r in self.receptacles if appliance and rtype[r] == appliance]
        changed = names(self.change) if self.change else set()
        able = self.ability.get(self.change, set())
        self._relevant = relevant
        self.start_state = _State(
            location=self.start,
            held=held,
            places=tuple(start_in.get(o, _HELD) for o in self.objects),
            changed=frozenset(o for o in self.objects if o in changed and o in able),
            opened=frozenset(names("opened") & (relevant | self.goal_places)),
            toggled=frozenset(names("istoggled") & set(self.lamps)),
        )

    def narrowed(self, destination: str) -> _Household:
        """The same search with ``destination`` the only receptacle the goal may use.

        A shortest plan ends with the goal's objects in one receptacle, and putting them
        down in another receptacle of that type on the way never helps, so the shortest
        plan overall is the shortest of the per-destination ones. Each of those searches
        has a small state (the other destinations' open or closed doors are not in it),
        where one search over every destination grew with their combinations.
        """
        home = copy.copy(self)
        places = self._relevant | {destination}
        home.goal_places = {destination}
        home.receptacles = sorted(r for r in places if r in self.location)
        home.start_state = self.start_state._replace(opened=self.start_state.opened & places)
        return home

    # ------------------------------------------------------------------ goal
    def done(self, state: _State) -> bool:
        kind = self.goal.task_type
        if kind == "look_at_obj_in_light":
            return self.otype.get(state.held) == self.target and any(
                lamp in state.toggled and self.location[self.lamp_place[lamp]] == state.location
                for lamp in self.lamps
            )
        placed: dict[str, int] = {}
        for obj, place in zip(self.objects, state.places, strict=True):
            if (
                place != _HELD and place in self.goal_places and self.otype[obj] == self.target
            ) and (not self.change or obj in state.changed):
                placed[place] = placed.get(place, 0) + 1
        needed = 2 if kind == "pick_two_obj_and_place" else 1
        return any(count >= needed for count in placed.values())

    # ------------------------------------------------------------------ actions
    def _reachable(self, state: _State, receptacle: str) -> bool:
        """At the receptacle's location with it open (or not openable)."""
        return self.location[receptacle] == state.location and (
            receptacle not in self.openable or receptacle in state.opened
        )

    def successors(self, state: _State) -> Iterator[tuple[Operator, _State]]:
        """Every useful operator applicable in ``state`` and the state it leads to."""
        agent, here = self.agent, state.location
        for receptacle in self.receptacles:
            there = self.location[receptacle]
            if there != here:
                operator: Operator = ("gotolocation", agent, here, there, receptacle)
                yield operator, state._replace(location=there)
        for receptacle in self.receptacles:
            if (
                receptacle in self.openable
                and receptacle not in state.opened
                and self.location[receptacle] == here
                and self._worth_opening(state, receptacle)
            ):
                operator = ("openobject", agent, here, receptacle)
                yield operator, state._replace(opened=state.opened | {receptacle})
        if not state.held:
            for index, (obj, place) in enumerate(zip(self.objects, state.places, strict=True)):
                if place != _HELD and obj in self.pickupable and self._reachable(state, place):
                    places = (*state.places[:index], _HELD, *state.places[index + 1 :])
                    operator = ("pickupobject", agent, here, obj, place)
                    yield operator, state._replace(held=obj, places=places)
        else:
            yield from self._with_held(state)
        for lamp in self.lamps:
            if self.location[self.lamp_place[lamp]] == here:
                operator = ("toggleobject", agent, here, lamp, self.lamp_place[lamp])
                yield operator, state._replace(toggled=state.toggled | {lamp})

    def _worth_opening(self, state: _State, receptacle: str) -> bool:
        """Whether the next command could use ``receptacle`` once open.

        Opening only enables taking from and putting into a receptacle, so in a shortest
        plan an ``open`` can always move to just before the first such command: only those
        opens are tried, which keeps open doors that nothing uses out of the search.
        """
        if state.held:
            return (self.rtype[receptacle], self.otype[state.held]) in self.can_contain
        return receptacle in state.places

    def _with_held(self, state: _State) -> Iterator[tuple[Operator, _State]]:
        agent, here, obj = self.agent, state.location, state.held
        index = self.objects.index(obj)
        for receptacle in self.receptacles:
            kinds = (self.rtype[receptacle], self.otype[obj])
            if self._reachable(state, receptacle) and kinds in self.can_contain:
                places = (*state.places[:index], receptacle, *state.places[index + 1 :])
                operator: Operator = ("putobject", agent, here, obj, receptacle, kinds[1], kinds[0])
                yield operator, state._replace(held="", places=places)
        if self.change and obj in self.ability[self.change] and self.otype[obj] == self.target:
            action = {"isclean": "cleanobject", "ishot": "heatobject", "iscool": "coolobject"}
            for appliance in self.appliances:
                if self.location[appliance] == here:
                    operator = (action[self.change], agent, here, appliance, obj)
                    yield operator, state._replace(changed=state.changed | {obj})


_FLAGS = ("pickupable", "toggleable", "cleanable", "heatable", "coolable")


def shortest_plan(facts: Iterable[Fact], goal: Goal, max_steps: int) -> list[Operator] | None:
    """The shortest operator sequence from ``facts`` to ``goal``, or ``None``.

    ``None`` when no plan of at most ``max_steps`` operators exists; ``[]`` when the goal
    already holds. Ties are broken by the order of :meth:`_Household.successors` (sorted
    names), so the same facts always give the same plan.
    """
    household = _Household(facts, goal)
    if household.done(household.start_state):
        return []
    searches = [household.narrowed(d) for d in household.destinations] or [household]
    best: list[Operator] | None = None
    for home in searches:
        # Only a plan shorter than the best so far can replace it.
        plan = _breadth_first(home, max_steps if best is None else len(best) - 1)
        if plan is not None:
            best = plan
    return best


def _breadth_first(home: _Household, max_steps: int) -> list[Operator] | None:
    start = home.start_state
    if home.done(start):
        return []
    parents: dict[_State, tuple[_State, Operator] | None] = {start: None}
    frontier = deque([(start, 0)])
    while frontier:
        state, depth = frontier.popleft()
        if depth >= max_steps:
            continue
        for operator, successor in home.successors(state):
            if successor in parents:
                continue
            parents[successor] = (state, operator)
            if home.done(successor):
                return _path(parents, successor)
            frontier.append((successor, depth + 1))
    return None


def _path(parents: dict[_State, tuple[_State, Operator] | None], end: _State) -> list[Operator]:
    operators: list[Operator] = []
    link = parents[end]
    while link is not None:
        state, operator = link
        operators.append(operator)
        link = parents[state]
    return _name_gotos(operators[::-1])


#: Position of the receptacle among each operator's arguments.
_RECEPTACLE_ARG = {
    "openobject": 3,
    "pickupobject": 4,
    "putobject": 4,
    "cleanobject": 3,
    "heatobject": 3,
    "coolobject": 3,
    "toggleobject": 4,
}


def _name_gotos(operators: list[Operator]) -> list[Operator]:
    """Name each move after the receptacle the next command uses there.

    Receptacles can share a location, so "go to cabinet 3" may reach shelf 1; the search
    keeps whichever it met first. Renaming changes no state, only the command's text.
    """
    named = list(operators)
    for index, operator in enumerate(named[:-1]):
        following = named[index + 1]
        if operator[0] == "gotolocation" and following[0] in _RECEPTACLE_ARG:
            named[index] = (*operator[:4], following[_RECEPTACLE_ARG[following[0]]])
    return named
