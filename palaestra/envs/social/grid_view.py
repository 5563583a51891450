"""The Gymnasium single-agent view of Gathering and Cleanup against scripted players."""

from __future__ import annotations

from collections import deque
from typing import Any

from palaestra.envs.social.grid import _DELTAS, _MOVES, ACTIONS, APPLE, GridGameParallelEnv
from palaestra.envs.social.versus import VersusScripted, check_opponent, split_arguments


def greedy_harvester(env: GridGameParallelEnv, agent: str) -> str:
    """Step toward the nearest apple (breadth-first search); stay when none is reachable."""
    start = env.position[agent]
    seen = {start}
    queue: deque[tuple[tuple[int, int], int | None]] = deque([(start, None)])
    while queue:
        cell, first = queue.popleft()
        if cell != start and env.cells[cell] == APPLE:
            assert first is not None
            # The move word for that absolute direction, relative to the heading.
            relative = (first - env.heading[agent]) % 4
            return next(word for word, turn in _MOVES.items() if turn == relative)
        for direction, (dr, dc) in enumerate(_DELTAS):
            nxt = (cell[0] + dr, cell[1] + dc)
            if nxt not in seen and env._free(nxt):
                seen.add(nxt)
                queue.append((nxt, direction if first is None else first))
    return "stay"


def random_player(env: GridGameParallelEnv, agent: str) -> str:
    """A uniformly random action."""
    words = [w for w in ACTIONS if w != "clean" or env.game == "cleanup"]
    return words[int(env.np_random.integers(len(words)))]


GRID_OPPONENTS = {"greedy": greedy_harvester, "random": random_player}


class GridGameEnv(VersusScripted):
    """Play ``player_0`` of Gathering or Cleanup; the other players are scripted.

    The rules, text and arguments are those of
    :class:`~palaestra.envs.social.GridGameParallelEnv`; ``opponent`` is ``greedy`` (walks to
    the nearest apple, never zaps or cleans) or ``random``. An invalid action counts as
    ``stay``. ``success``: the agent ate at least as many apples as the best other player.
    ``episode_metrics``: the social metrics, the agent's ``return`` and ``apples``.

    Args:
        opponent: The scripted players' strategy.
        game: ``gathering`` or ``cleanup``.
        **kwargs: Every other :class:`GridGameParallelEnv` argument (``max_cycles``, ``view``,
            ``regrow_steps``, ``beam_length``, ``waste_rate``, ``apple_rate``, ...) and the
            :class:`TextEnv` ones; an unknown name is an error naming the closest.

    Version History:
        * v0: Initial version.
    """

    free_text_actions = False
    game_class = GridGameParallelEnv

    def __init__(self, *, opponent: str = "greedy", game: str = "gathering", **kwargs: Any) -> None:
        game_kwargs, env_kwargs = split_arguments(self.game_class, kwargs)
        super().__init__(**env_kwargs)
        self.opponent = check_opponent(opponent, GRID_OPPONENTS)
        self.game: GridGameParallelEnv = GridGameParallelEnv(game, **game_kwargs)
        # Gathering against greedy players has no chance in it; Cleanup's river does.
        self.seeded = game == "cleanup" or opponent == "random"

    @property
    def default_move(self) -> str:
        """Invalid actions stay."""
        return "stay"

    def opponent_actions(self) -> dict[str, str]:
        """The scripted players' actions, from the current grid."""
        policy = GRID_OPPONENTS[self.opponent]
        return {a: policy(self.game, a) for a in self.game.agents if a != self.me}

    def _available_actions(self) -> list[str]:
        return self.game.action_names()

    def _success(self) -> bool:
        apples = self.game.apples
        return apples[self.me] >= max(v for a, v in apples.items() if a != self.me)

    def _metrics(self) -> dict[str, float]:
        metrics = dict(self._info.get("episode_metrics", {}))
        metrics["pollution"] = self.game.pollution
        return metrics
