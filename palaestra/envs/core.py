"""The text-environment contract every palaestra environment follows.

A palaestra environment is a :class:`gymnasium.Env` whose observations and actions are
strings (:class:`TextSpace`). Subclasses of :class:`TextEnv` implement the game in three
methods (``_reset``, ``_step`` and optionally ``_parse_action``); the base class does
everything that must be identical across environments:

* structural checks on the action (not text, empty, too long, control characters), so bad
  LLM output becomes an observation plus :data:`INVALID_ACTION_PENALTY`, never an exception;
* an allowance of invalid actions (``max_invalid_actions``) after which the episode ends;
* the standard ``info`` keys (below), including ``success`` and ``episode_metrics`` at the
  end of the episode (when a registered ``max_episode_steps`` cuts it,
  :class:`~palaestra.envs.wrappers.EpisodeEndInfo` adds them);
* ``ansi`` and ``human`` rendering;
* keyword-argument checking with "did you mean" suggestions.

Standard ``info`` keys (:class:`TextEnvInfo`):

==================== ======================================================================
key                  meaning
==================== ======================================================================
``instruction``      (reset) the task text an agent needs as its system/first message.
``available_actions`` list of valid action strings, where the environment knows them.
``invalid_action``   (step) ``True`` when the action could not be carried out.
``invalid_reason``   (step, invalid only) why, in words.
``turn``             number of steps taken in this episode (0 after reset).
``success``          (episode end) whether the task was accomplished.
``episode_metrics``  (episode end) environment-specific figures, e.g. regret; always
                     includes ``invalid_actions``, the number of invalid steps.
``expert_action``    only for environments made with ``expert=True`` (privileged).
``ground_truth``     only for environments made with ``expose_ground_truth=True``
                     (privileged, for trainers such as IGPO; never in an observation).
``answer_template``  with ``ground_truth``: how a final answer is written, ``{answer}``
                     standing for it (``answer[{answer}]``; IGPO scores the answer so).
==================== ======================================================================
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any, ClassVar, NamedTuple, TypedDict

import gymnasium as gym
import numpy as np
from gymnasium.error import ResetNeeded

from palaestra.errors import InvalidArgumentError, did_you_mean

#: Reward added on a step whose action is invalid (unparseable, illegal, empty, ...).
#: -0.1 is the invalid-action penalty used for text games by GiGPO and its successors.
INVALID_ACTION_PENALTY: float = -0.1

#: Characters no legitimate action contains: C0 controls other than tab/newline/carriage
#: return, DEL, and lone surrogates (which cannot be encoded and crash text engines).
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

#: Characters :meth:`TextSpace.sample` draws from (the space itself contains any Unicode).
_SAMPLE_CHARSET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'-"


class TextEnvInfo(TypedDict, total=False):
    """The standard ``info`` keys of palaestra environments (see the module docstring)."""

    instruction: str
    available_actions: list[str]
    invalid_action: bool
    invalid_reason: str
    turn: int
    success: bool
    episode_metrics: dict[str, float]
    expert_action: str
    ground_truth: str
    answer_template: str


class TextSpace(gym.spaces.Text):
    """A Gymnasium text space that contains any Unicode string of bounded length.

    Gymnasium's :class:`~gymnasium.spaces.Text` only contains strings made of its charset
    (alphanumerics by default), which rejects real game text. This subclass keeps
    Gymnasium's sampling (over a printable charset) but accepts every ``str`` whose length
    is within ``[min_length, max_length]``.

    Args:
        max_length: The longest string the space contains.
        min_length: The shortest string the space contains.
        seed: Seed of the space's own sampling generator.
    """

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | None = None) -> None:
        super().__init__(max_length, min_length=min_length, charset=_SAMPLE_CHARSET, seed=seed)

    def contains(self, x: Any) -> bool:
        """Return whether ``x`` is a string of allowed length (any characters)."""
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"TextSpace({self.min_length}, {self.max_length})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TextSpace)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )

    def __hash__(self) -> int:
        return hash((TextSpace, self.min_length, self.max_length))


class TextObservation(str):
    """A ``str`` that also has the ``dtype`` of :class:`TextSpace`.

    PettingZoo's ``api_test`` compares every observation's ``dtype`` with its space's, which
    assumes array observations; the multi-agent environments return their text as this
    subclass so that their text observations pass it. It is a ``str`` in every other way.
    """

    __slots__ = ()
    dtype = np.dtype("<U")


class InvalidAction(Exception):  # noqa: N818 - a control-flow signal, not an error to report
    """Raised by ``_parse_action`` or ``_step`` to reject an action; never escapes ``step``.

    Args:
        reason: Why the action is invalid, in words shown to the agent.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transition(NamedTuple):
    """What a subclass's ``_step`` returns; the base class completes it into a step result."""

    observation: str
    reward: float
    terminated: bool
    info: dict[str, Any]


def shorten(text: str, limit: int = 60) -> str:
    """Return ``repr(text)``, cut to about ``limit`` characters, for use in feedback text."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


@functools.cache
def accepted_kwargs(cls: type) -> frozenset[str]:
    """Return the keyword arguments ``cls(...)`` accepts, following ``**kwargs`` up the MRO.

    A class that forwards its ``**kwargs`` to another one (a view and its ``game_class``)
    accepts that one's arguments too.
    """
    names: set[str] = set()
    forwarded = getattr(cls, "game_class", None)
    if isinstance(forwarded, type):
        names.update(accepted_kwargs(forwarded))
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names.update(
            p.name
            for p in params
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        )
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return frozenset(names)


class TextEnv(gym.Env[str, str]):
    """Base class of palaestra's single-agent text environments.

    Subclasses implement:

    * ``_reset(options) -> (observation, info)``: start an episode; all randomness through
      ``self.np_random``; ``info`` must contain ``instruction``.
    * ``_parse_action(text) -> Any``: turn the (structurally valid, stripped) action text
      into what ``_step`` takes, or raise :class:`InvalidAction`. Defaults to the text.
    * ``_step(action) -> Transition``: advance the game. May raise :class:`InvalidAction`.
    * ``_invalid_transition(reason) -> Transition``: what an invalid action does to the game
      (default: nothing but feedback). The base class adds ``invalid_action_penalty``.
    * ``_success()``, ``_metrics()``, ``_available_actions()``, and ``oracle_action()``
      where the environment has an oracle.

    Args:
        render_mode: ``None``, ``"ansi"`` (``render()`` returns the current text) or
            ``"human"`` (``render()`` prints it).
        invalid_action_penalty: Reward of a step with an invalid action.
        max_invalid_actions: The allowance: the episode terminates unsuccessfully at the
            invalid action that exceeds this count. ``None`` allows any number.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}  # noqa: RUF012 - Gymnasium's name

    #: Longest action text accepted; longer actions are invalid actions.
    max_action_length: ClassVar[int] = 16_384
    #: Longest observation text the environment produces.
    max_observation_length: ClassVar[int] = 1 << 20
    #: Longest a step may take on any action, hostile ones included (seconds): the step-time
    #: check of :mod:`palaestra.testing` holds every environment to it (through
    #: :meth:`step_time_limit`).
    max_step_seconds: float = 0.05
    #: Whether the game accepts free text (math answers, parser commands), so arbitrary
    #: words may be valid actions. Used by :mod:`palaestra.testing`.
    free_text_actions: ClassVar[bool] = False
    #: Whether episodes depend on the seed (checked by :mod:`palaestra.testing`).
    seeded: bool = True
    #: Keyword arguments under which every episode plays a game made for it from its seed,
    #: for envs whose default draws games from a public pool (TextWorld, ALFWorld). An
    #: agent could recognise a pool game from its first observation and look its solution
    #: up; the live leaderboard plays these envs with them.
    unseen_game_kwargs: ClassVar[dict[str, Any]] = {}

    def step_time_limit(self, info: dict[str, Any]) -> float:
        """The longest the step that returned ``info`` may have taken, in seconds.

        ``max_step_seconds`` by default; an environment whose steps may run something
        with a time limit of its own (a tool call) says so here.
        """
        return self.max_step_seconds

    def __new__(cls, *args: Any, **kwargs: Any) -> TextEnv:
        """Create the instance after checking ``kwargs`` against the constructor's arguments."""
        # Checked here, before any subclass __init__ runs, so every environment reports an
        # unknown keyword the same way, naming the class and the closest valid keyword.
        accepted = accepted_kwargs(cls)  # type: ignore[arg-type]  # classes are hashable
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            valid = sorted(accepted)
            raise InvalidArgumentError(
                f"{cls.__name__} got an unknown argument {unknown[0]!r}"
                f"{did_you_mean(unknown[0], valid)} Valid arguments: {', '.join(valid)}."
            )
        return super().__new__(cls)

    def __init__(
        self,
        *,
        render_mode: str | None = None,
        invalid_action_penalty: float = INVALID_ACTION_PENALTY,
        max_invalid_actions: int | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise InvalidArgumentError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        if max_invalid_actions is not None and max_invalid_actions < 0:
            raise InvalidArgumentError(
                f"max_invalid_actions must be >= 0 or None, got {max_invalid_actions}"
            )
        self.render_mode = render_mode
        self.invalid_action_penalty = float(invalid_action_penalty)
        self.max_invalid_actions = max_invalid_actions
        self.observation_space = TextSpace(self.max_observation_length)
        self.action_space = TextSpace(self.max_action_length)
        self._turn = 0
        self._n_invalid = 0
        self._observation = ""  # the text last shown (for rendering)
        self._state_text = ""  # the last observation of a valid step, re-shown after invalid ones
        self._needs_reset = True

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Start a new episode; the same ``seed`` gives the same episode, byte for byte."""
        super().reset(seed=seed)
        self._turn = 0
        self._n_invalid = 0
        observation, info = self._reset(options)
        info["turn"] = 0
        self._add_available_actions(info)
        self._observation = self._state_text = observation
        self._needs_reset = False
        return observation, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Play ``action``; invalid actions give feedback and a penalty, never an exception."""
        if self._needs_reset:
            raise ResetNeeded("the episode has ended (or never started); call reset() first")
        self._turn += 1
        try:
            problem = self._structural_problem(action)
            if problem is not None:
                raise InvalidAction(problem)
            transition = self._step(self._parse_action(action.strip()))
            invalid = bool(transition.info.pop("invalid_action", False))
        except InvalidAction as exc:
            transition = self._invalid_transition(exc.reason)
            transition.info["invalid_reason"] = exc.reason
            invalid = True
        observation, reward, terminated, info = transition
        if invalid:
            self._n_invalid += 1
            reward += self.invalid_action_penalty
            if self.max_invalid_actions is not None and self._n_invalid > self.max_invalid_actions:
                terminated = True
                observation += (
                    f"\n\nToo many invalid actions ({self._n_invalid}); the episode is over."
                )
        info["invalid_action"] = invalid
        info["turn"] = self._turn
        if terminated:
            info.update(self.end_of_episode_info())
            self._needs_reset = True
        else:
            # A time limit may still cut the episode here; `EpisodeEndInfo`, outside the
            # TimeLimit wrapper, then adds the end-of-episode keys.
            self._add_available_actions(info)
        self._observation = observation
        if not invalid:
            self._state_text = observation
        return observation, float(reward), bool(terminated), False, info

    def render(self) -> str | None:
        """Return (``ansi``) or print (``human``) the current observation with the turn."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi'")
            return None
        name = self.spec.id if self.spec is not None else type(self).__name__
        text = f"[{name} | turn {self._turn}]\n{self._observation}\n"
        if self.render_mode == "human":
            print(text)
            return None
        return text

    # ------------------------------------------------------------------ public helpers

    @property
    def turn(self) -> int:
        """Number of steps taken in the current episode."""
        return self._turn

    def episode_metrics(self) -> dict[str, float]:
        """Return the episode's metrics so far (the same dict ``info`` carries at the end)."""
        metrics = dict(self._metrics())
        metrics["invalid_actions"] = float(self._n_invalid)
        return metrics

    def end_of_episode_info(self) -> dict[str, Any]:
        """Return the ``success`` and ``episode_metrics`` info keys for the current state."""
        return {"success": bool(self._success()), "episode_metrics": self.episode_metrics()}

    def discard_game(self) -> None:
        """Delete the files of the episode's game where it was generated for it alone.

        For envs played with :attr:`unseen_game_kwargs`, whose every episode makes a game
        nobody plays again; a no-op for the others.
        """

    def oracle_action(self) -> str:
        """Return the action an optimal policy takes now (privileged; for oracles and tests).

        Raises:
            NotImplementedError: The environment has no oracle.
        """
        raise NotImplementedError(f"{type(self).__name__} has no oracle")

    @property
    def has_oracle(self) -> bool:
        """Whether :meth:`oracle_action` is implemented."""
        return type(self).oracle_action is not TextEnv.oracle_action

    @property
    def max_return(self) -> float | None:
        """The best achievable return of the current episode, where it is known exactly."""
        return None

    @property
    def turn_limit(self) -> int | None:
        """The most steps an episode can take by the task's own rules (None: no such rule).

        A registered time limit (``max_episode_steps``) is separate.
        """
        return None

    # ------------------------------------------------------------------ subclass hooks

    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def _parse_action(self, text: str) -> Any:
        return text

    def _step(self, action: Any) -> Transition:
        raise NotImplementedError

    def _invalid_transition(self, reason: str) -> Transition:
        return Transition(f"Invalid action: {reason}.\n\n{self._state_text}", 0.0, False, {})

    def _available_actions(self) -> list[str] | None:
        return None

    def _success(self) -> bool:
        return False

    def _metrics(self) -> dict[str, float]:
        return {}

    # ------------------------------------------------------------------ internals

    def _add_available_actions(self, info: dict[str, Any]) -> None:
        actions = self._available_actions()
        if actions is not None:
            info["available_actions"] = actions

    def _structural_problem(self, action: object) -> str | None:
        if not isinstance(action, str):
            return f"the action must be text, got {type(action).__name__}"
        if len(action) > self.max_action_length:
            return (
                f"the action is {len(action)} characters long; "
                f"the limit is {self.max_action_length}"
            )
        if not action.strip():
            return "the action is empty"
        if _FORBIDDEN_CHARS.search(action):
            return "the action contains control or non-text characters"
        return None
