"""The Gymnasium single-agent view of an iterated dilemma: one player against scripted ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from palaestra.envs.social.matrix import MatrixGameParallelEnv
from palaestra.envs.social.opponents import OPPONENTS
from palaestra.envs.social.stage import MatrixGame
from palaestra.envs.social.versus import VersusScripted, check_opponent, split_arguments


class MatrixGameEnv(VersusScripted):
    """Play ``player_0`` of an iterated dilemma against a named scripted opponent.

    The game, its rules and its text are those of
    :class:`~palaestra.envs.social.MatrixGameParallelEnv` (every keyword argument of it is
    accepted); the other players are ``opponent`` (``always_cooperate``,
    ``always_defect``, ``tit_for_tat``, ``grim_trigger`` or ``random``). An invalid action
    counts as the game's default move, is marked ``invalid_action`` and adds
    :data:`~palaestra.envs.core.INVALID_ACTION_PENALTY`.

    ``success``: the agent earned at least the mutual-cooperation payoff per round on
    average (it was not exploited and did not waste the efficient outcome).
    ``episode_metrics``: the game's social metrics, the agent's ``return`` and
    ``cooperation`` (the share of its rounds played cooperatively).

    Args:
        opponent: The scripted strategy of the other players.
        game: The stage game (see :class:`~palaestra.envs.social.MatrixGameParallelEnv`).
        **kwargs: Every other :class:`MatrixGameParallelEnv` argument (``horizon``, ``noise``,
            ``payoffs``, ...) and the :class:`TextEnv` ones; an unknown name is an error
            naming the closest.

    Version History:
        * v0: Initial version.
    """

    free_text_actions = True
    game_class = MatrixGameParallelEnv

    def __init__(
        self, *, opponent: str = "tit_for_tat", game: str = "prisoners_dilemma", **kwargs: Any
    ) -> None:
        game_kwargs, env_kwargs = split_arguments(self.game_class, kwargs)
        super().__init__(**env_kwargs)
        self.opponent = check_opponent(opponent, OPPONENTS)
        self.game: MatrixGameParallelEnv = MatrixGameParallelEnv(game, **game_kwargs)
        # Without noise, random stopping or a random opponent the game has no chance in it.
        self.seeded = bool(self.game.noise or self.game.stop_probability or opponent == "random")

    # ------------------------------------------------------------------ numeric view
    def numeric_actions(self) -> list[str]:
        """The action text of each discrete action of the numeric view."""
        stage = self.game.stage
        if isinstance(stage, MatrixGame):
            return list(stage.actions)
        return [str(k) for k in range(stage.endowment + 1)]

    def numeric_observation(self) -> np.ndarray:
        """The state for non-LLM baselines.

        Every player's last move (one-hot, or the contribution's fraction of the endowment),
        a flag for the first round, and the fraction of the horizon played.
        """
        stage = self.game.stage
        last = self.game.history[-1] if self.game.history else None
        features: list[float] = []
        for agent in self.game.possible_agents:
            if isinstance(stage, MatrixGame):
                features += [float(last is not None and last[agent] == a) for a in stage.actions]
            else:
                features.append(last[agent] / stage.endowment if last is not None else 0.0)
        features += [float(last is None), self.game.round / self.game.horizon]
        return np.array(features, dtype=np.float32)

    @property
    def default_move(self) -> str:
        """What an invalid action counts as."""
        return str(self.game.default)

    def opponent_actions(self) -> dict[str, str]:
        """The scripted strategy's moves, from the moves played so far."""
        policy = OPPONENTS[self.opponent]
        game = self.game
        return {a: policy(a, game.history, game.stage, self.np_random) for a in game.agents[1:]}

    def _success(self) -> bool:
        return bool(self._info.get("success", False))

    def _metrics(self) -> dict[str, float]:
        metrics = dict(self._info.get("episode_metrics", {}))
        metrics.pop("invalid_actions", None)  # the base class counts them
        stage = self.game.stage
        cooperative = getattr(stage, "cooperative", getattr(stage, "endowment", None))
        rounds = self.game.history
        if rounds:
            metrics["cooperation"] = sum(r[self.me] == cooperative for r in rounds) / len(rounds)
        return metrics
