"""Hand-written reference policies, in the same ``policy(obs)`` form a writer must produce.

They are scored by the same sandboxed self-play harness, so a synthesized policy has a bar to
beat: a greedy harvester for both games, and for Cleanup a role split in which every other
player (by letter) cleans the river while the rest harvest.
"""

from __future__ import annotations

#: Walk to the nearest apple in view (breadth-first over the window); explore when none.
GREEDY_HARVESTER = """
from collections import deque

MOVES = {(-1, 0): "north", (0, 1): "east", (1, 0): "south", (0, -1): "west"}
HEADINGS = ["north", "east", "south", "west"]
RELATIVE = ["forward", "right", "backward", "left"]
MOVES_BY_NAME = {name: delta for delta, name in MOVES.items()}


def step_towards(obs, direction):
    turn = (HEADINGS.index(direction) - HEADINGS.index(obs["orientation"])) % 4
    return RELATIVE[turn]


def first_step(obs, targets):
    view, r = obs["view"], obs["radius"]
    start = (r, r)
    seen = {start: None}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell != start and view[cell[0]][cell[1]] in targets:
            while seen[cell] != start:
                cell = seen[cell]
            return (cell[0] - r, cell[1] - r)
        for dr, dc in MOVES:
            nxt = (cell[0] + dr, cell[1] + dc)
            if 0 <= nxt[0] < len(view) and 0 <= nxt[1] < len(view) and nxt not in seen:
                if view[nxt[0]][nxt[1]] in ".@" or view[nxt[0]][nxt[1]] in targets:
                    seen[nxt] = cell
                    queue.append(nxt)
    return None


def harvest(obs):
    delta = first_step(obs, "@")
    if delta is None:
        return "turn right" if obs["step"] % 4 == 0 else "forward"
    return step_towards(obs, MOVES[delta])


def policy(obs):
    if obs["tagged_out"]:
        return "stay"
    return harvest(obs)
"""

#: Cleanup: players A, C, E, ... clean the river (walk to waste, face it, fire the
#: cleaning beam); B, D, F, ... harvest greedily. Gathering has no river: all harvest.
CLEANER_HARVESTER = GREEDY_HARVESTER.replace(
    """def policy(obs):
    if obs["tagged_out"]:
        return "stay"
    return harvest(obs)
""",
    """def clean(obs):
    view, r = obs["view"], obs["radius"]
    dr, dc = MOVES_BY_NAME[obs["orientation"]]
    for k in range(1, r + 1):
        cell = view[r + k * dr][r + k * dc]
        if cell == "*":
            return "clean"
        if cell == "#":
            break
    for direction, (dr, dc) in MOVES_BY_NAME.items():
        if view[r + dr][r + dc] in "~*":
            if direction != obs["orientation"]:
                turn = (HEADINGS.index(direction) - HEADINGS.index(obs["orientation"])) % 4
                return "turn left" if turn == 3 else "turn right"
            # On the bank, facing the river: walk along it to the nearest waste.
            wastes = [(i - r, j - r) for i, row in enumerate(view)
                      for j, cell in enumerate(row) if cell == "*"]
            if not wastes:
                return "stay"
            di, dj = min(wastes, key=lambda w: abs(w[0]) + abs(w[1]))
            along = di if direction in ("west", "east") else dj
            if along == 0:
                return "clean"
            if direction in ("west", "east"):
                return step_towards(obs, "north" if along < 0 else "south")
            return step_towards(obs, "west" if along < 0 else "east")
    delta = first_step(obs, "~*")
    if delta is None:
        return "backward" if obs["step"] % 3 else "turn left"
    return step_towards(obs, MOVES[delta])


def policy(obs):
    if obs["tagged_out"]:
        return "stay"
    if "clean" in obs["actions"] and (ord(obs["letter"]) - ord("A")) % 2 == 0:
        return clean(obs)
    return harvest(obs)
""",
)

#: Uniformly random actions: the floor.
RANDOM_POLICY = """
import random


def policy(obs):
    return random.choice(obs["actions"])
"""

REFERENCE_POLICIES = {
    "greedy": GREEDY_HARVESTER,
    "cleaner-harvester": CLEANER_HARVESTER,
    "random": RANDOM_POLICY,
}
