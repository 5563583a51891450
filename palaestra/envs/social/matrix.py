"""Iterated social dilemmas as PettingZoo parallel environments with text per agent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gymnasium.utils import seeding

from palaestra.envs.core import TextObservation, shorten
from palaestra.envs.social.metrics import social_metrics
from palaestra.envs.social.parallel import ParallelStep, TextParallelEnv
from palaestra.envs.social.stage import MatrixGame, PublicGoods, make_stage
from palaestra.errors import InvalidArgumentError


class MatrixGameParallelEnv(TextParallelEnv):
    """A stage game played repeatedly by several agents at once; text in, text out.

    **Games.** ``prisoners_dilemma``, ``stag_hunt``, ``chicken`` (2 players, payoffs
    configurable as (R, S, T, P)) and ``public_goods`` (N players with a configurable
    multiplier). The rules and payoffs are in each agent's ``infos[agent]["instruction"]``.

    **Length.** ``horizon`` rounds, announced; or, with ``stop_probability`` p, the game
    ends after each round with probability p (announced as such; the horizon then caps it).

    **Noise.** With ``noise`` p each intended move is replaced by another one (the other
    move; a random contribution) with probability p; observations report the moves played.

    **Actions.** A move word ("cooperate", "defect", ...) or, in public goods, one whole
    number. Anything else counts as the game's default move (``default_action``: defect,
    hare, straight, contribute 0) with ``infos[agent]["invalid_action"] = True``; it never
    affects the other agents' validity.

    **Rewards.** The stage game's payoffs each round. At the end every agent's info has
    ``episode_metrics``: efficiency, equality, sustainability and peace
    (:mod:`palaestra.envs.social.metrics`), plus its own ``return``.

    Args:
        game: The stage game.
        horizon: Rounds (the cap, with ``stop_probability``).
        stop_probability: Chance the game ends after each round (0: a known horizon).
        noise: Chance each intended move is changed.
        payoffs: (R, S, T, P) for a 2x2 game.
        n_players: Players of public goods.
        endowment: Points per player per round in public goods.
        multiplier: Public goods' pot multiplier.
        default_action: The move invalid actions count as (the game's own by default).
        render_mode: ``None`` or ``"ansi"``.

    Version History:
        * v0: Initial version.
    """

    metadata = {  # noqa: RUF012 - PettingZoo's name
        "name": "palaestra_iterated_v0",
        "render_modes": ["ansi"],
        "is_parallelizable": True,
    }

    def __init__(
        self,
        game: str = "prisoners_dilemma",
        *,
        horizon: int = 10,
        stop_probability: float = 0.0,
        noise: float = 0.0,
        payoffs: Sequence[float] | None = None,
        n_players: int = 4,
        endowment: int = 10,
        multiplier: float = 1.6,
        default_action: str | None = None,
        render_mode: str | None = None,
    ) -> None:
        if horizon < 1:
            raise InvalidArgumentError(f"horizon must be at least 1, got {horizon}")
        if not 0 <= stop_probability < 1:
            raise InvalidArgumentError(
                f"stop_probability must be in [0, 1), got {stop_probability}"
            )
        if not 0 <= noise <= 1:
            raise InvalidArgumentError(f"noise must be in [0, 1], got {noise}")
        self.check_render_mode(render_mode)
        self.stage: MatrixGame | PublicGoods = make_stage(
            game, payoffs=payoffs, n_players=n_players, endowment=endowment, multiplier=multiplier
        )
        self.game = game
        self.horizon = horizon
        self.stop_probability = stop_probability
        self.noise = noise
        self.render_mode = render_mode
        self.default: Any = self.stage.default
        if default_action is not None:
            parsed = self.stage.parse(default_action)
            if parsed is None:
                raise InvalidArgumentError(f"default_action {default_action!r} is not a move")
            self.default = parsed
        self.possible_agents = [f"player_{i}" for i in range(self.stage.n_players)]
        self.agents: list[str] = []
        self.np_random, _ = seeding.np_random(None)
        self.round = 0
        self.history: list[dict[str, Any]] = []  # moves played per round
        self._rewards: list[dict[str, float]] = []
        self._invalid: list[dict[str, bool]] = []

    # ------------------------------------------------------------------ API
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        """Start a new game; the same seed gives the same game."""
        if seed is not None:
            self.np_random, _ = seeding.np_random(seed)
        self.agents = list(self.possible_agents)
        self.round = 0
        self.history = []
        self._rewards = []
        self._invalid = []
        instruction = self.instruction()
        first = TextObservation(f"Round 1. {self._ask()}")
        observations: dict[str, str] = dict.fromkeys(self.agents, first)
        infos: dict[str, dict[str, Any]] = {
            a: {"instruction": instruction, "turn": 0} for a in self.agents
        }
        return observations, infos

    def step(self, actions: dict[str, Any]) -> ParallelStep:
        """Play one round with every agent's action."""
        self.check_step(actions)
        stage: Any = self.stage  # moves are words or amounts, by game
        intended: dict[str, Any] = {}
        invalid: dict[str, bool] = {}
        for agent in self.agents:
            text = actions.get(agent)
            move = stage.parse(text) if isinstance(text, str) else None
            invalid[agent] = move is None
            intended[agent] = self.default if move is None else move
        played: dict[str, Any] = {}
        for agent in self.agents:
            draws = self.np_random.random(2)
            move = intended[agent]
            played[agent] = stage.flip(move, draws[1]) if draws[0] < self.noise else move
        moves = [played[a] for a in self.agents]
        values = stage.rewards(moves)
        rewards = {a: float(v) for a, v in zip(self.agents, values, strict=True)}
        self.round += 1
        self.history.append(played)
        self._rewards.append(rewards)
        self._invalid.append(invalid)
        over = self.round >= self.horizon or (
            self.stop_probability > 0 and self.np_random.random() < self.stop_probability
        )
        observations: dict[str, str] = {}
        infos: dict[str, dict[str, Any]] = {}
        for agent in self.agents:
            text = self._describe(agent, played, rewards, invalid[agent], actions.get(agent))
            ask = f"{text}\n\nRound {self.round + 1}. {self._ask()}"
            observations[agent] = TextObservation(text if over else ask)
            infos[agent] = {"invalid_action": invalid[agent], "turn": self.round}
        if over:
            metrics = social_metrics(self._rewards, self.agents)
            for agent in self.agents:
                own = sum(r[agent] for r in self._rewards)
                infos[agent]["episode_metrics"] = {
                    **metrics,
                    "return": own,
                    "invalid_actions": float(sum(r[agent] for r in self._invalid)),
                }
                infos[agent]["success"] = own / self.round >= self.stage.efficient_reward
        terminations = dict.fromkeys(self.agents, over)
        truncations = dict.fromkeys(self.agents, False)
        if over:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def render(self) -> str | None:
        """The moves so far, one round per line (``ansi``)."""
        if self.render_mode is None:
            return None
        lines = [
            f"round {k + 1}: " + ", ".join(f"{a} {m}" for a, m in moves.items())
            for k, moves in enumerate(self.history)
        ]
        return "\n".join(lines) or "(no rounds yet)"

    # ------------------------------------------------------------------ programs
    #: The program interface, as the policy-synthesis prompt states it.
    PROGRAM_API = """\
`obs` is a dict:
  round        rounds played so far (0 in the first round)
  max_rounds   the most rounds the game can last
  my_moves     your moves so far, oldest first (after accidental changes)
  others_moves one list per other player, in the same order
  my_rewards   your points per round so far
  actions      the moves you may return
"""

    def program_observation(self, agent: str) -> dict[str, Any]:
        """What a policy program sees: the history of the game as plain data (JSON types).

        Keys: ``round`` (rounds played), ``max_rounds``, ``my_moves``, ``others_moves`` (one
        list per other player), ``my_rewards`` and ``actions`` (the moves as strings;
        contributions in the public goods game are ``"0"`` to ``"<endowment>"``).
        """
        others = [a for a in self.possible_agents if a != agent]
        return {
            "round": self.round,
            "max_rounds": self.horizon,
            "my_moves": [str(moves[agent]) for moves in self.history],
            "others_moves": [[str(moves[o]) for moves in self.history] for o in others],
            "my_rewards": [float(r[agent]) for r in self._rewards],
            "actions": self.action_names(),
        }

    def action_names(self) -> list[str]:
        """The moves as strings (every contribution in the public goods game)."""
        if isinstance(self.stage, PublicGoods):
            return [str(k) for k in range(self.stage.endowment + 1)]
        return list(self.stage.actions)

    # ------------------------------------------------------------------ text
    def instruction(self) -> str:
        """The rules an agent needs: game, payoffs, length, noise, how to answer."""
        if self.stop_probability > 0:
            length = (
                f"After each round the game ends with probability {self.stop_probability:g} "
                f"(at most {self.horizon} rounds)."
            )
        else:
            length = f"The game lasts {self.horizon} rounds."
        noise = (
            f" Each move you intend is changed by accident with probability {self.noise:g}."
            if self.noise
            else ""
        )
        return (
            f"You are playing a repeated {self.stage.name} game with other players; all "
            f"choose at the same time each round. {self.stage.rules()}\n{length}{noise} "
            f"Reply with {self._ask().lower()[len('choose ') :]}"
        )

    def _ask(self) -> str:
        if isinstance(self.stage, PublicGoods):
            return f"Choose your contribution: one whole number from 0 to {self.stage.endowment}."
        return f"Choose your move: {' or '.join(self.stage.actions)}."

    def _describe(
        self,
        agent: str,
        played: dict[str, Any],
        rewards: dict[str, float],
        invalid: bool,
        action: Any,
    ) -> str:
        prefix = ""
        if invalid:
            shown = shorten(action) if isinstance(action, str) else type(action).__name__
            prefix = f"Invalid action {shown}: it counted as {self.default}. "
        others = [a for a in self.agents if a != agent]
        if isinstance(self.stage, PublicGoods):
            pot = sum(played.values())
            moves = f"You put in {played[agent]}; the others put in " + ", ".join(
                str(played[a]) for a in others
            )
            moves += f". The pot of {pot} became {pot * self.stage.multiplier:g}"
        else:
            moves = f"You played {played[agent]}; the other player played {played[others[0]]}"
        total = sum(r[agent] for r in self._rewards)
        return (
            f"{prefix}Round {self.round}: {moves}. You got {rewards[agent]:g} points "
            f"(total {total:g})."
        )
