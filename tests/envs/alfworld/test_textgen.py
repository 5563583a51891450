"""Compiled grammar queries match TextWorld's own, in TextWorld's order, on any facts."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from textworld.logic import GameLogic, Placeholder, Proposition, Rule, State, Type, Variable

from palaestra.envs.alfworld.textgen import Compiler, FactStore, any_assignment, assignments

TYPES = (("object", []), ("receptacle", ["object"]), ("agent", ["object"]), ("thing", ["object"]))
VARIABLES = [Variable(f"{t}_{i}", t) for t in ("receptacle", "agent", "thing") for i in range(3)]
QUERIES = (
    "in(o:object, r:receptacle)",
    "in(o:object, r:receptacle) & hot(o:object)",
    "at(a:agent, r:receptacle) & in(o:object, r:receptacle) & not_hot(o:object)",
    "in(o:object, r:receptacle) & in(o2:object, r:receptacle)",
    "hot(o:object) & hot(o2:object)",
    "in(o:thing, r:receptacle)",
)


def logic() -> GameLogic:
    game_logic = GameLogic()
    for name, parents in TYPES:
        game_logic.types.add(Type(name, parents))
    return game_logic


_FACTS = st.lists(
    st.one_of(
        st.builds(
            lambda a, b: Proposition("in", [a, b]),
            st.sampled_from(VARIABLES),
            st.sampled_from(VARIABLES),
        ),
        st.builds(lambda a: Proposition("hot", [a]), st.sampled_from(VARIABLES)),
        st.builds(lambda a: Proposition("not_hot", [a]), st.sampled_from(VARIABLES)),
        st.builds(
            lambda a, b: Proposition("at", [a, b]),
            st.sampled_from(VARIABLES),
            st.sampled_from(VARIABLES),
        ),
    ),
    max_size=25,
)


def term(value: Any) -> tuple[str, str]:
    return (value.name, value.type)


@settings(max_examples=150, deadline=None)
@given(facts=_FACTS, query=st.sampled_from(QUERIES), bound=st.sampled_from([None, *VARIABLES]))
def test_matches_in_textworlds_order(
    facts: list[Proposition], query: str, bound: Variable | None
) -> None:
    game_logic = logic()
    state = State(game_logic, facts)
    mapping = {} if bound is None else {Placeholder("r", "receptacle"): bound}
    theirs = [
        {term(ph): term(var) for ph, var in found.items()}
        for found in state.all_assignments(Rule.parse_conjunctive_query(query), mapping)
    ]
    store = FactStore([(p.name, tuple(term(v) for v in p.arguments)) for p in facts])
    compiled = Compiler(game_logic.types).query(query)
    start = {term(ph): term(var) for ph, var in mapping.items()}
    assert list(assignments(compiled, start, store)) == theirs
    assert any_assignment(compiled, start, store) == bool(theirs)


def test_removed_facts_leave_the_sorted_views() -> None:
    store = FactStore([("hot", (("b", "thing"),)), ("hot", (("a", "thing"),))])
    assert store.sorted("hot", ("thing",)) == [(("a", "thing"),), (("b", "thing"),)]
    store.remove("hot", (("a", "thing"),))
    store.remove("hot", (("zz", "thing"),))  # not there: nothing happens
    assert store.sorted("hot", ("thing",)) == [(("b", "thing"),)]
    copy = store.copy()
    copy.add("hot", (("c", "thing"),))
    assert len(store.sorted("hot", ("thing",))) == 1 and len(copy.sorted("hot", ("thing",))) == 2
