"""The shortest-plan search on hand-made households whose best plans are known by hand."""

import pytest

from palaestra.envs.alfworld.planner import Fact, Goal, shortest_plan

PICK = Goal("pick_and_place_simple", "Apple", "SideTable")


def household(*extra: Fact, objects: dict[str, str] | None = None) -> list[Fact]:
    """A room: a closed drawer and a countertop at one spot, a side table, a fridge, a sink."""
    receptacles = {
        "drawer1": ("DrawerType", "loc1"),
        "countertop1": ("CounterTopType", "loc1"),
        "sidetable1": ("SideTableType", "loc2"),
        "fridge1": ("FridgeType", "loc3"),
        "sinkbasin1": ("SinkBasinType", "loc4"),
        "desk1": ("DeskType", "loc5"),
    }
    facts = [Fact("atLocation", ("agent1", "start"))]
    for name, (kind, loc) in receptacles.items():
        facts += [
            Fact("receptacleType", (name, kind.lower())),
            Fact("receptacleAtLocation", (name, loc)),
        ]
    facts += [Fact("openable", ("drawer1",)), Fact("openable", ("fridge1",))]
    placed = objects if objects is not None else {"apple1": "drawer1", "apple2": "countertop1"}
    for obj, receptacle in placed.items():
        kind = "".join(c for c in obj if not c.isdigit())
        facts += [
            Fact("objectType", (obj, f"{kind}type")),
            Fact("inReceptacle", (obj, receptacle)),
            Fact("pickupable", (obj,)),
        ]
        if kind == "apple":
            facts += [Fact("coolable", (obj,)), Fact("cleanable", (obj,))]
    for rtype in ("drawertype", "countertoptype", "sidetabletype", "fridgetype", "sinkbasintype"):
        facts += [Fact("canContain", (rtype, "appletype")), Fact("canContain", (rtype, "booktype"))]
    return facts + list(extra)


def names(plan: list[tuple[str, ...]] | None) -> list[str]:
    assert plan is not None
    return [
        " ".join((op[0], *(a for a in op[2:] if not a.startswith(("loc", "start"))))) for op in plan
    ]


def test_pick_takes_the_apple_that_needs_no_opening() -> None:
    plan = shortest_plan(household(), PICK, max_steps=25)
    assert names(plan) == [
        "gotolocation countertop1",  # named after the receptacle used there, not drawer1
        "pickupobject apple2 countertop1",
        "gotolocation sidetable1",
        "putobject apple2 sidetable1 appletype sidetabletype",
    ]


def test_a_closed_receptacle_is_opened_once() -> None:
    facts = household(objects={"apple1": "drawer1"})
    plan = names(shortest_plan(facts, Goal("pick_cool_then_place_in_recep", "Apple", "Drawer"), 25))
    # The apple starts in the only drawer, so it must leave and come back cooled.
    assert plan == [
        "gotolocation drawer1",
        "openobject drawer1",
        "pickupobject apple1 drawer1",
        "gotolocation fridge1",
        "coolobject fridge1 apple1",
        "gotolocation drawer1",
        "putobject apple1 drawer1 appletype drawertype",
    ]


def test_pick_two_moves_both() -> None:
    plan = names(
        shortest_plan(household(), Goal("pick_two_obj_and_place", "Apple", "SideTable"), 25)
    )
    assert len(plan) == 9  # 4 per apple, and the drawer opened once
    assert plan.count("openobject drawer1") == 1
    assert sorted(p for p in plan if p.startswith("putobject")) == [
        "putobject apple1 sidetable1 appletype sidetabletype",
        "putobject apple2 sidetable1 appletype sidetabletype",
    ]


def test_look_holds_the_object_under_a_toggled_lamp() -> None:
    lamp = [
        Fact("objectType", ("desklamp1", "desklamptype")),
        Fact("inReceptacle", ("desklamp1", "desk1")),
        Fact("toggleable", ("desklamp1",)),
    ]
    goal = Goal("look_at_obj_in_light", "Apple", toggle_target="DeskLamp")
    plan = names(shortest_plan(household(*lamp), goal, 25))
    assert plan == [
        "gotolocation countertop1",
        "pickupobject apple2 countertop1",
        "gotolocation desk1",
        "toggleobject desklamp1 desk1",
    ]


def test_an_unrelated_object_in_hand_is_put_down_first() -> None:
    facts = list(household(objects={"apple1": "drawer1", "book1": "countertop1"}))
    facts = [f for f in facts if f != Fact("inReceptacle", ("book1", "countertop1"))]
    facts += [Fact("holds", ("agent1", "book1")), Fact("holdsAny", ("agent1",))]
    plan = names(shortest_plan(facts, PICK, 25))
    # The book goes onto the countertop beside the drawer while the drawer is open.
    assert plan == [
        "gotolocation drawer1",
        "openobject drawer1",
        "putobject book1 countertop1 booktype countertoptype",
        "pickupobject apple1 drawer1",
        "gotolocation sidetable1",
        "putobject apple1 sidetable1 appletype sidetabletype",
    ]


def test_goal_already_met_and_no_plan() -> None:
    done = household(objects={"apple1": "sidetable1"})
    assert shortest_plan(done, PICK, 25) == []
    assert shortest_plan(household(), Goal("pick_and_place_simple", "Apple", "Bathtub"), 25) is None
    assert shortest_plan(household(), PICK, max_steps=3) is None
    assert shortest_plan(household(), PICK, max_steps=4) is not None


@pytest.mark.parametrize("task", ["pick_heat_then_place_in_recep"])
def test_a_missing_appliance_leaves_no_plan(task: str) -> None:
    assert shortest_plan(household(), Goal(task, "Apple", "SideTable"), 25) is None


def test_many_closed_destinations_stay_cheap() -> None:
    # Thirty closed drawers could each be opened at any point; searching every destination
    # at once grew with their combinations (minutes), searching one at a time does not.
    facts = [Fact("atLocation", ("agent1", "start"))]
    places = {f"drawer{k}": "DrawerType" for k in range(30)}
    places |= {"cabinet1": "CabinetType", "cabinet2": "CabinetType"}
    for k, (name, kind) in enumerate(sorted(places.items())):
        facts += [
            Fact("receptacleType", (name, kind.lower())),
            Fact("receptacleAtLocation", (name, f"loc{k}")),
            Fact("openable", (name,)),
        ]
    for obj, receptacle in (("apple1", "cabinet1"), ("apple2", "cabinet2")):
        facts += [
            Fact("objectType", (obj, "appletype")),
            Fact("inReceptacle", (obj, receptacle)),
            Fact("pickupable", (obj,)),
        ]
    facts += [Fact("canContain", (t, "appletype")) for t in ("drawertype", "cabinettype")]
    plan = names(shortest_plan(facts, Goal("pick_two_obj_and_place", "Apple", "Drawer"), 25))
    # go, open, take; go, open, put; go, open, take; go, put
    assert len(plan) == 11
    assert plan[:3] == [
        "gotolocation cabinet1",
        "openobject cabinet1",
        "pickupobject apple1 cabinet1",
    ]
    assert plan[3] == "gotolocation drawer0" and plan[-1].startswith("putobject apple2 drawer0")
