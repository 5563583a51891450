"""Sequential social dilemmas on a small grid: Gathering and Cleanup, with text views.

Gathering (Leibo et al., 2017): players collect apples (+1) that regrow a fixed number of
steps after being eaten; a tag beam fired forward removes the first player it hits from the
game for ``tag_steps`` steps. Cleanup (Hughes et al., 2018): apples grow in an orchard only
while the river is clean: waste accumulates in the river every step, the orchard's regrowth
probability falls linearly to zero as the river's waste share reaches ``waste_limit``, and a
cleaning beam removes waste in front of the player at ``clean_cost`` to it. The tag beam
works the same in both.

Each player sees a text rendering of the square window of radius ``view`` around it (walls,
apples, river, waste, players by letter, ``^>v<`` for its own facing) and its own state.
Actions are words: ``forward``, ``backward``, ``left``, ``right`` (moves relative to the
facing), ``turn left``, ``turn right``, ``zap``, ``clean`` (Cleanup), ``stay``; anything else
counts as ``stay`` with ``invalid_action`` set for that player only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.utils import seeding

from palaestra.envs.core import TextObservation
from palaestra.envs.social.metrics import social_metrics
from palaestra.envs.social.parallel import ParallelStep, TextParallelEnv
from palaestra.errors import InvalidArgumentError

WALL, EMPTY, APPLE, RIVER, WASTE = "#", ".", "@", "~", "*"

#: The default maps. Gathering: an apple patch between two players' starts. Cleanup: a
#: river (left), a sand strip and an orchard (right).
MAPS = {
    "gathering": (
        "###########",
        "#P.......P#",
        "#...@@@...#",
        "#..@@@@@..#",
        "#...@@@...#",
        "#.........#",
        "###########",
    ),
    "cleanup": (
        "############",
        "#~~~.P..@@@#",
        "#~~~....@@@#",
        "#~~~.P..@@@#",
        "#~~~....@@@#",
        "############",
    ),
}

_HEADINGS = ("north", "east", "south", "west")
_DELTAS = ((-1, 0), (0, 1), (1, 0), (0, -1))
_ARROWS = "^>v<"
_MOVES = {"forward": 0, "right": 1, "backward": 2, "left": 3}
ACTIONS = (
    "forward",
    "backward",
    "left",
    "right",
    "turn left",
    "turn right",
    "zap",
    "clean",
    "stay",
)


class GridGameParallelEnv(TextParallelEnv):
    """Gathering or Cleanup as a PettingZoo parallel environment with text per player.

    Args:
        game: ``gathering`` or ``cleanup``.
        grid: The map as rows of text (``#`` wall, ``.`` empty, ``@`` apple, ``~`` river,
            ``*`` waste, ``P`` a player start); the game's default map if omitted.
        max_cycles: Steps per episode.
        view: Radius of each player's square window.
        regrow_steps: Gathering: steps until an eaten apple grows back.
        tag_steps: Steps a tagged player is out of the game.
        beam_length: Reach of the tag and cleaning beams.
        waste_rate: Cleanup: chance per step that a clean river cell becomes waste.
        waste_limit: Cleanup: river waste share at which apples stop growing.
        apple_rate: Cleanup: chance per step that an empty orchard cell grows an apple when
            the river is clean.
        clean_cost: Cleanup: reward cost to the player of firing the cleaning beam.
        render_mode: ``None`` or ``"ansi"``.

    Version History:
        * v0: Initial version.
    """

    metadata = {  # noqa: RUF012 - PettingZoo's name
        "name": "palaestra_grid_v0",
        "render_modes": ["ansi"],
        "is_parallelizable": True,
    }

    def __init__(
        self,
        game: str = "gathering",
        *,
        grid: list[str] | tuple[str, ...] | None = None,
        max_cycles: int = 100,
        view: int = 2,
        regrow_steps: int = 10,
        tag_steps: int = 10,
        beam_length: int = 3,
        waste_rate: float = 0.05,
        waste_limit: float = 0.4,
        apple_rate: float = 0.05,
        clean_cost: float = 0.1,
        render_mode: str | None = None,
    ) -> None:
        if game not in MAPS:
            raise InvalidArgumentError(f"unknown grid game {game!r}; choose one of {tuple(MAPS)}")
        rows = tuple(grid) if grid is not None else MAPS[game]
        if not rows or len({len(r) for r in rows}) != 1:
            raise InvalidArgumentError("grid must be non-empty rows of equal length")
        bad = set("".join(rows)) - {WALL, EMPTY, APPLE, RIVER, WASTE, "P"}
        if bad:
            raise InvalidArgumentError(f"grid has unknown cells {sorted(bad)}")
        starts = [(r, c) for r, row in enumerate(rows) for c, ch in enumerate(row) if ch == "P"]
        if not 1 <= len(starts) <= 26:
            raise InvalidArgumentError("grid needs between 1 and 26 player starts 'P'")
        if max_cycles < 1 or view < 0 or tag_steps < 0 or beam_length < 1 or regrow_steps < 0:
            raise InvalidArgumentError("max_cycles, beam_length >= 1; view, steps >= 0")
        self.check_render_mode(render_mode)
        self.game = game
        self.layout = np.array([list(r.replace("P", EMPTY)) for r in rows])
        self.starts = starts
        self.max_cycles = max_cycles
        self.view = view
        self.regrow_steps = regrow_steps
        self.tag_steps = tag_steps
        self.beam_length = beam_length
        self.waste_rate = waste_rate
        self.waste_limit = waste_limit
        self.apple_rate = apple_rate
        self.clean_cost = clean_cost
        self.render_mode = render_mode
        self.possible_agents = [f"player_{i}" for i in range(len(starts))]
        self.letters = {a: chr(ord("A") + i) for i, a in enumerate(self.possible_agents)}
        self.agents: list[str] = []
        self.np_random, _ = seeding.np_random(None)
        self._river = self.layout == RIVER
        self._orchard = self.layout == APPLE
        self._reset_state()

    def _reset_state(self) -> None:
        self.cells = self.layout.copy()
        self.position = dict(zip(self.possible_agents, self.starts, strict=True))
        self.heading = dict.fromkeys(self.possible_agents, 0)
        self.out = dict.fromkeys(self.possible_agents, 0)  # steps left tagged out
        self.eaten: dict[tuple[int, int], int] = {}  # Gathering: cell -> step eaten
        self.cycle = 0
        self._rewards: list[dict[str, float]] = []
        self._tagged = dict.fromkeys(self.possible_agents, 0)
        self.apples = dict.fromkeys(self.possible_agents, 0)

    # ------------------------------------------------------------------ API
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        """Start a new episode; the same seed gives the same episode."""
        if seed is not None:
            self.np_random, _ = seeding.np_random(seed)
        self._reset_state()
        self.agents = list(self.possible_agents)
        instruction = self.instruction()
        observations: dict[str, str] = {a: self._observe(a) for a in self.agents}
        return observations, {a: {"instruction": instruction, "turn": 0} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> ParallelStep:
        """Every player acts at once (in a random order for conflicts over cells)."""
        self.check_step(actions)
        rewards = dict.fromkeys(self.agents, 0.0)
        invalid = {}
        order = list(self.agents)
        self.np_random.shuffle(order)
        parsed = {}
        for agent in self.agents:
            text = actions.get(agent)
            word = " ".join(text.lower().split()).strip(".") if isinstance(text, str) else ""
            valid = word in ACTIONS and (word != "clean" or self.game == "cleanup")
            invalid[agent] = not valid
            parsed[agent] = word if valid else "stay"
        for agent in order:
            if self.out[agent]:
                continue
            self._act(agent, parsed[agent], rewards)
        for agent in self.agents:
            if self.out[agent]:
                self._tagged[agent] += 1
                self.out[agent] -= 1
                if self.out[agent] == 0:
                    self._respawn(agent)
        self._grow()
        self.cycle += 1
        self._rewards.append(rewards)
        over = self.cycle >= self.max_cycles
        observations: dict[str, str] = {a: self._observe(a) for a in self.agents}
        infos: dict[str, dict[str, Any]] = {
            a: {"invalid_action": invalid[a], "turn": self.cycle} for a in self.agents
        }
        if over:
            metrics = social_metrics(self._rewards, self.agents, self._tagged)
            for agent in self.agents:
                own = sum(r[agent] for r in self._rewards)
                infos[agent]["episode_metrics"] = {
                    **metrics,
                    "return": own,
                    "apples": float(self.apples[agent]),
                }
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, over)
        if over:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def render(self) -> str | None:
        """The whole map with players by letter (``ansi``)."""
        if self.render_mode is None:
            return None
        grid = self.cells.copy()
        for agent, (r, c) in self.position.items():
            if not self.out[agent]:
                grid[r, c] = self.letters[agent]
        return "\n".join("".join(row) for row in grid)

    # ------------------------------------------------------------------ rules
    def _act(self, agent: str, word: str, rewards: dict[str, float]) -> None:
        heading = self.heading[agent]
        if word == "turn left":
            self.heading[agent] = (heading + 3) % 4
        elif word == "turn right":
            self.heading[agent] = (heading + 1) % 4
        elif word in _MOVES:
            dr, dc = _DELTAS[(heading + _MOVES[word]) % 4]
            r, c = self.position[agent]
            target = (r + dr, c + dc)
            if self._free(target):
                self.position[agent] = target
                if self.cells[target] == APPLE:
                    self.cells[target] = EMPTY
                    self.eaten[target] = self.cycle
                    rewards[agent] += 1.0
                    self.apples[agent] += 1
        elif word == "zap":
            for cell in self._beam(agent):
                hit = [a for a in self.agents if not self.out[a] and self.position[a] == cell]
                if hit:
                    self.out[hit[0]] = self.tag_steps
                    if self.tag_steps == 0:
                        self._respawn(hit[0])
                    break
        elif word == "clean":
            rewards[agent] -= self.clean_cost
            for cell in self._beam(agent):
                if self.cells[cell] == WASTE:
                    self.cells[cell] = RIVER

    def _beam(self, agent: str) -> list[tuple[int, int]]:
        """Cells in front of ``agent`` up to the beam's reach, stopping at walls."""
        dr, dc = _DELTAS[self.heading[agent]]
        r, c = self.position[agent]
        cells = []
        for k in range(1, self.beam_length + 1):
            cell = (r + k * dr, c + k * dc)
            if not self._inside(cell) or self.cells[cell] == WALL:
                break
            cells.append(cell)
        return cells

    def _inside(self, cell: tuple[int, int]) -> bool:
        rows, cols = self.cells.shape
        return bool(0 <= cell[0] < rows and 0 <= cell[1] < cols)

    def _free(self, cell: tuple[int, int]) -> bool:
        if not self._inside(cell) or str(self.cells[cell]) in (WALL, RIVER, WASTE):
            return False
        return not any(self.position[a] == cell and not self.out[a] for a in self.agents)

    def _respawn(self, agent: str) -> None:
        free = [s for s in self.starts if self._free(s)]
        self.position[agent] = free[0] if free else self.starts[0]

    def _grow(self) -> None:
        if self.game == "gathering":
            for cell, when in list(self.eaten.items()):
                if self.cycle - when >= self.regrow_steps and self._free(cell):
                    self.cells[cell] = APPLE
                    del self.eaten[cell]
            return
        river = self._river
        clean = river & (self.cells == RIVER)
        self.cells[clean & (self.np_random.random(self.cells.shape) < self.waste_rate)] = WASTE
        share = float((self.cells[river] == WASTE).mean()) if river.any() else 0.0
        rate = self.apple_rate * max(0.0, 1.0 - share / self.waste_limit)
        grow = (
            self._orchard & (self.cells == EMPTY) & (self.np_random.random(self.cells.shape) < rate)
        )
        for cell in zip(*np.nonzero(grow), strict=True):
            spot = (int(cell[0]), int(cell[1]))
            if self._free(spot):
                self.cells[spot] = APPLE

    @property
    def pollution(self) -> float:
        """Share of the river covered in waste (Cleanup)."""
        return float((self.cells[self._river] == WASTE).mean()) if self._river.any() else 0.0

    # ------------------------------------------------------------------ text
    def instruction(self) -> str:
        """Rules and actions, as a player needs them."""
        rules = (
            "You are a player in a grid world with other players. Walk onto an apple (@) to "
            "eat it for 1 point. "
        )
        if self.game == "gathering":
            rules += f"Eaten apples grow back after {self.regrow_steps} steps. "
        else:
            rules += (
                "Apples grow in the orchard only while the river (~) is clean; waste (*) "
                f"builds up in it over time. 'clean' fires a beam that removes waste in front "
                f"of you (costs {self.clean_cost:g} points). "
            )
        words = self.action_names()
        return (
            f"{rules}'zap' fires a beam in front of you (reach {self.beam_length}) that puts "
            f"the first player hit out of the game for {self.tag_steps} steps. The episode lasts "
            f"{self.max_cycles} steps. Each step reply with one action: {', '.join(words)}."
        )

    def _observe(self, agent: str) -> TextObservation:
        return TextObservation(self._view(agent))

    def _window(self, agent: str) -> list[str]:
        """The rows of ``agent``'s square view (outside the map reads as wall)."""
        r, c = self.position[agent]
        grid = self.cells.copy()
        for other, (orow, ocol) in self.position.items():
            if not self.out[other] and other in self.agents:
                grid[orow, ocol] = self.letters[other]
        grid[r, c] = _ARROWS[self.heading[agent]]
        return [
            "".join(
                str(grid[row, col]) if self._inside((row, col)) else WALL
                for col in range(c - self.view, c + self.view + 1)
            )
            for row in range(r - self.view, r + self.view + 1)
        ]

    def _view(self, agent: str) -> str:
        state = f"Step {self.cycle}/{self.max_cycles}. You are {self.letters[agent]}"
        if self.out[agent]:
            return f"{state}; you were tagged and are out for {self.out[agent]} more steps."
        return (
            f"{state}, facing {_HEADINGS[self.heading[agent]]}, apples eaten "
            f"{self.apples[agent]}. Your view (you are {_ARROWS[self.heading[agent]]}):\n"
            + "\n".join(self._window(agent))
        )

    #: The program interface, as the policy-synthesis prompt states it.
    PROGRAM_API = """\
`obs` is a dict:
  view        list of rows (lists of 1-character strings), the square window of radius
              `radius` around you; view[radius][radius] is you, shown as ^ > v < by facing;
              rows go south, columns east. Cells: '#' wall (also outside the map),
              '.' empty, '@' apple, '~' river, '*' waste, 'A'-'Z' other players.
  radius      int, the window's radius
  position    [row, col] on the map
  orientation 'north', 'east', 'south' or 'west'
  letter      your letter on the other players' views
  apples      apples you ate so far
  tagged_out  steps you are still out of the game (0 when playing)
  step, max_steps
  actions     the action names
Moves are relative to your facing: 'forward', 'backward', 'left', 'right'; 'turn left' and
'turn right' change the facing.
"""

    def program_observation(self, agent: str) -> dict[str, Any]:
        """What a policy program sees: the text view's content as plain data (JSON types).

        Keys:
            ``view``: the square window of radius ``view`` centred on the player, a list of
                rows, each a list of one-character cells: ``#`` wall (also outside the map),
                ``.`` empty, ``@`` apple, ``~`` river, ``*`` waste, ``A``-``Z`` other
                players, and the player itself as ``^ > v <`` by facing. ``view[r][c]`` with
                ``r`` growing southwards and ``c`` eastwards; the player is at
                ``[radius][radius]``.
            ``radius``: the window's radius.
            ``position``: ``[row, col]`` of the player on the map.
            ``orientation``: ``north``, ``east``, ``south`` or ``west``.
            ``letter``: the player's letter on other players' views.
            ``apples``: apples eaten so far this episode.
            ``tagged_out``: steps left out of the game (0 when playing; the view is then
                all wall).
            ``step`` and ``max_steps``: the current step and the episode's length.
            ``actions``: the action names this game accepts.
        """
        out = self.out[agent]
        side = 2 * self.view + 1
        rows = (
            [[WALL] * side for _ in range(side)]
            if out
            else [list(row) for row in self._window(agent)]
        )
        return {
            "view": rows,
            "radius": self.view,
            "position": [int(v) for v in self.position[agent]],
            "orientation": _HEADINGS[self.heading[agent]],
            "letter": self.letters[agent],
            "apples": int(self.apples[agent]),
            "tagged_out": int(out),
            "step": self.cycle,
            "max_steps": self.max_cycles,
            "actions": self.action_names(),
        }

    def action_names(self) -> list[str]:
        """The actions of this game (``clean`` only in Cleanup)."""
        return [w for w in ACTIONS if w != "clean" or self.game == "cleanup"]
