"""Reading Fast Downward's SAS format."""

import pytest

from palaestra.envs.alfworld.sas import SasError, parse_sas

TASK = """begin_version
3
end_version
begin_metric
0
end_metric
2
begin_variable
var0
-1
2
Atom on(l)
NegatedAtom on(l)
end_variable
begin_variable
var1
0
2
Atom new-axiom@0()
NegatedAtom new-axiom@0()
end_variable
0
begin_state
1
1
end_state
begin_goal
1
1 0
end_goal
1
begin_operator
switch l
1
1 1
2
0 0 1 0
1 0 0 0 -1 1
1
end_operator
1
begin_rule
1
0 0
1 1 0
end_rule
"""


def test_variables_operators_and_rules() -> None:
    task = parse_sas(TASK)
    assert task.values == (
        ("Atom on(l)", "NegatedAtom on(l)"),
        ("Atom new-axiom@0()", "NegatedAtom new-axiom@0()"),
    )
    assert task.layers == (-1, 0) and task.start == (1, 1) and task.goal == ((1, 0),)
    (op,) = task.operators
    assert op.name == "switch l"
    assert op.preconditions == ((1, 1), (0, 1))  # prevail, then the effect's old value
    assert op.effects == (((), 0, 0), (((0, 0),), 0, 1))
    (rule,) = task.rules
    assert (rule.conditions, rule.variable, rule.value) == (((0, 0),), 1, 0)


@pytest.mark.parametrize(
    "text",
    ["", "begin_version\n2\nend_version\n", TASK.replace("end_goal", "goal_end"),
     TASK.replace("begin_state\n1", "begin_state\nx"), TASK[: len(TASK) // 2]],
)  # fmt: skip
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(SasError):
        parse_sas(text)
