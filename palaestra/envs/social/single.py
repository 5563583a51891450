"""The Gymnasium single-agent view of an iterated dilemma: one player against scripted ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from palaestra.envs.core import TextEnv, Transition
from palaestra.envs.social.iterated import IteratedGameEnv
from palaestra.envs.social.opponents import OPPONENTS
from palaestra.envs.social.stage import MatrixGame
from palaestra.errors import InvalidArgumentError, did_you_mean


class DilemmaEnv(TextEnv):
    """Play ``player_0`` of an iterated dilemma against a named scripted opponent.

    The game, its rules and its text are those of
    :class:`~palaestra.envs.social.IteratedGameEnv` (every keyword argument of it is
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
        game: The stage game (see :class:`~palaestra.envs.social.IteratedGameEnv`).
        **kwargs: Other :class:`IteratedGameEnv` and :class:`TextEnv` arguments.

    Version History:
        * v0: Initial version.
    """

    free_text_actions = True

    def __init__(
        self,
        *,
        opponent: str = "tit_for_tat",
        game: str = "prisoners_dilemma",
        horizon: int = 10,
        stop_probability: float = 0.0,
        noise: float = 0.0,
        payoffs: list[float] | None = None,
        n_players: int = 4,
        endowment: int = 10,
        multiplier: float = 1.6,
        default_action: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if opponent not in OPPONENTS:
            raise InvalidArgumentError(
                f"unknown opponent {opponent!r}{did_you_mean(opponent, list(OPPONENTS))} "
                f"Choose one of {', '.join(OPPONENTS)}."
            )
        self.opponent = opponent
        self.game = IteratedGameEnv(
            game,
            horizon=horizon,
            stop_probability=stop_probability,
            noise=noise,
            payoffs=payoffs,
            n_players=n_players,
            endowment=endowment,
            multiplier=multiplier,
            default_action=default_action,
        )
        self.me = self.game.possible_agents[0]
        # Without noise, random stopping or a random opponent the game has no chance in it.
        self.seeded = bool(noise or stop_probability or opponent == "random")
        self._info: dict[str, Any] = {}

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

    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        seed = int(self.np_random.integers(2**31 - 1))
        observations, infos = self.game.reset(seed=seed)
        self._info = {}
        return observations[self.me], {"instruction": infos[self.me]["instruction"]}

    def _step(self, action: str) -> Transition:
        policy = OPPONENTS[self.opponent]
        actions = {
            agent: policy(agent, self.game.history, self.game.stage, self.np_random)
            for agent in self.game.agents[1:]
        }
        actions[self.me] = action
        observations, rewards, terminations, _, infos = self.game.step(actions)
        self._info = infos[self.me]
        info: dict[str, Any] = {}
        if self._info["invalid_action"]:
            info["invalid_action"] = True
            info["invalid_reason"] = f"not a move; it counted as {self.game.default}"
        return Transition(observations[self.me], rewards[self.me], terminations[self.me], info)

    def _parse_action(self, text: str) -> str:
        return text

    def _invalid_transition(self, reason: str) -> Transition:
        # A structurally bad action (empty, binary, too long) also plays the default move.
        transition = self._step("")
        transition.info["invalid_action"] = True
        transition.info["invalid_reason"] = reason
        return transition

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
