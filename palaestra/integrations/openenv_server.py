"""Serve a palaestra environment to OpenEnv clients, with openenv-core's own server.

``palaestra serve-env palaestra/Bandit-v0 --port 8001`` runs :func:`serve_env`: the app of
:func:`build_app` is openenv-core's ``create_app`` around :class:`TextEnvironment`, so the
routes and messages are exactly OpenEnv's. The stateful protocol is the WebSocket ``/ws``
(messages ``reset``, ``step``, ``state``, ``close``); every session gets its own
``gym.make(env_id, **env_kwargs)``, up to ``max_sessions`` at once. OpenEnv's HTTP
``/reset`` and ``/step`` make a fresh environment per request, so only ``/reset`` is of use
over plain HTTP.

The wire format (``GET /schema`` publishes it):

* action :class:`TextAction`: ``{"text": "B"}``, at most :data:`MAX_ACTION_LENGTH`
  characters;
* observation :class:`TextEnvObservation`: ``{"text": ..., "truncated": ..., "info": {...}}``
  beside OpenEnv's ``reward`` and ``done``. ``info`` is the step's ``info`` dict made JSON-safe
  (:func:`json_safe`), in a field of its own because openenv-core's serializer never sends
  an observation's ``metadata``; ``truncated`` tells a time limit from the task's own end,
  which OpenEnv's single ``done`` cannot;
* state :class:`TextEnvState`: ``episode_id``, ``step_count`` and ``env_id``.

A step before any reset, or after the episode ended, is answered with an error message;
the session stays open and the server keeps serving.
"""

# openenv-core ships no type information (no py.typed marker): its names are Any here.
# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import gymnasium as gym
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from gymnasium.error import ResetNeeded
from openenv.core.env_server.http_server import create_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import (
    Action,
    ConcurrencyConfig,
    EnvironmentMetadata,
    Observation,
    State,
)
from pydantic import Field, field_validator

from palaestra.envs.json_info import json_safe
from palaestra.envs.registration import ENTRIES
from palaestra.errors import InvalidArgumentError, did_you_mean

#: The longest action text a client may send. Text up to it reaches the environment, which
#: answers text beyond its own ``max_action_length`` as an invalid action with feedback
#: (bad LLM output is an observation, not an error); longer messages are refused.
MAX_ACTION_LENGTH = 1 << 20

_RESET_ARGUMENTS = ("seed", "episode_id", "options")


class TextAction(Action):
    """One action of a palaestra text environment: the text an agent wrote."""

    text: str = Field(
        strict=True,
        max_length=MAX_ACTION_LENGTH,
        description="The action text, e.g. an LLM's reply; the environment parses it.",
    )

    @field_validator("text", mode="before")
    @classmethod
    def _encodable(cls, text: Any) -> Any:
        # A lone surrogate (JSON allows "\ud800") is refused by pydantic with an error that
        # openenv cannot send, which ends the session: it becomes U+FFFD here instead, and
        # the env answers it as any other text.
        if isinstance(text, str):
            return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return text


class TextEnvObservation(Observation):
    """What a palaestra text environment returns from reset and step."""

    text: str = Field(description="The observation text.")
    truncated: bool = Field(
        default=False,
        description="The episode was cut by a time limit, not ended by the task (done is "
        "true as well).",
    )
    info: dict[str, Any] = Field(
        default_factory=dict,
        description="The step's info dict (instruction, available_actions, invalid_action, "
        "success, episode_metrics, ...), JSON-safe.",
    )


class TextEnvState(State):
    """The session's episode: OpenEnv's episode_id and step_count, and the env id."""

    env_id: str = Field(description="The Gymnasium id of the served environment.")


class TextEnvironment(Environment):
    """An OpenEnv ``Environment`` around one ``gym.make(env_id, **env_kwargs)``.

    Args:
        env_id: A registered Gymnasium id of a text environment, e.g. ``palaestra/Bandit-v0``.
        env_kwargs: ``gym.make`` keyword arguments.
    """

    #: Each session owns its environment instance; nothing is shared between them.
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.env_id = env_id
        self._env: gym.Env[str, str] = gym.make(env_id, **dict(env_kwargs or {}))
        self._state = TextEnvState(env_id=env_id)
        self._done = False

    def reset(
        self,
        seed: int | None = None,
        episode_id: str | None = None,
        options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> TextEnvObservation:
        """Start an episode; the same ``seed`` gives the same episode, byte for byte."""
        if kwargs:
            # openenv passes every field of the reset message on, since this takes **kwargs.
            name = sorted(kwargs)[0]
            raise InvalidArgumentError(
                f"reset got an unknown argument {name!r}{did_you_mean(name, _RESET_ARGUMENTS)} "
                f"Valid arguments: {', '.join(_RESET_ARGUMENTS)}."
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise InvalidArgumentError(f"seed must be a non-negative integer or null, got {seed!r}")
        if options is not None and not isinstance(options, dict):
            raise InvalidArgumentError(f"options must be an object or null, got {options!r}")
        if episode_id is not None and not isinstance(episode_id, str):
            raise InvalidArgumentError(f"episode_id must be a string or null, got {episode_id!r}")
        self._done = True  # until the environment has reset: a failed reset ends the episode
        observation, info = self._env.reset(seed=seed, options=options)
        self._state = TextEnvState(
            env_id=self.env_id, episode_id=episode_id or uuid.uuid4().hex, step_count=0
        )
        self._done = False
        return TextEnvObservation(text=observation, info=json_safe(info))

    def step(
        self, action: TextAction, timeout_s: float | None = None, **kwargs: Any
    ) -> TextEnvObservation:
        """Play ``action.text``; invalid text is the environment's to answer, with a penalty."""
        if self._state.episode_id is None:
            raise ResetNeeded(
                "step before reset: send a reset message first (OpenEnv's HTTP /step makes a "
                "fresh environment per request; a session is a WebSocket at /ws)"
            )
        if self._done:
            raise ResetNeeded("the episode has ended; send a reset message to start another")
        observation, reward, terminated, truncated, info = self._env.step(action.text)
        self._state.step_count += 1
        self._done = bool(terminated or truncated)
        return TextEnvObservation(
            text=observation,
            reward=float(reward),
            done=self._done,
            # A step that ends the task at the time limit counts as the task's own end.
            truncated=bool(truncated and not terminated),
            info=json_safe(info),
        )

    @property
    def state(self) -> TextEnvState:
        """The current episode's id and step count."""
        return self._state

    def get_metadata(self) -> EnvironmentMetadata:
        """Name and description of the served environment, for OpenEnv's ``/metadata``."""
        from palaestra import __version__

        description = next((e.description for e in ENTRIES if e.id == self.env_id), self.env_id)
        return EnvironmentMetadata(
            name=self.env_id, description=description, version=__version__, author="palaestra"
        )

    def close(self) -> None:
        """Close the Gymnasium environment."""
        self._env.close()


def build_app(
    env_id: str,
    *,
    max_sessions: int = 8,
    env_kwargs: Mapping[str, Any] | None = None,
    idle_seconds: float | None = 600.0,
) -> FastAPI:
    """Return openenv-core's app serving ``env_id``.

    Args:
        env_id: A registered Gymnasium id of a text environment.
        max_sessions: WebSocket sessions served at once, each with its own environment.
        env_kwargs: ``gym.make`` keyword arguments.
        idle_seconds: A session with no message for this long is closed; ``None`` keeps
            idle sessions.

    Raises:
        InvalidArgumentError: ``max_sessions`` is below 1, or the environment is not a text
            environment. An unknown id or argument fails as ``gym.make`` fails on it.
    """
    if max_sessions < 1:
        raise InvalidArgumentError(f"max_sessions must be at least 1, got {max_sessions}")
    kwargs = dict(env_kwargs or {})
    # Made once here so that a wrong id or argument fails now, not in every session.
    probe = gym.make(env_id, **kwargs)
    try:
        spaces = (probe.observation_space, probe.action_space)
        if not all(isinstance(space, gym.spaces.Text) for space in spaces):
            raise InvalidArgumentError(
                f"{env_id} is not a text environment (spaces {spaces[0]}, {spaces[1]}); "
                "palaestra serves text environments"
            )
    finally:
        probe.close()
    app: FastAPI = create_app(
        functools.partial(TextEnvironment, env_id, kwargs),
        TextAction,
        TextEnvObservation,
        env_name=env_id,
        # Idle sessions are closed, or a few idle clients would hold every session.
        concurrency_config=ConcurrencyConfig(
            max_concurrent_envs=max_sessions, session_timeout=idle_seconds
        ),
    )
    # OpenEnv's HTTP /step leaves exceptions to FastAPI (a bare 500); say what was wrong.
    app.add_exception_handler(ResetNeeded, _answer(409))
    app.add_exception_handler(InvalidArgumentError, _answer(422))
    # At a session's end openenv-core 0.3 closes a WebSocket the client has already closed,
    # and the WebSocketDisconnect that raises escapes it: a traceback in the log per session.
    app.add_exception_handler(WebSocketDisconnect, _already_closed)
    return app


async def _already_closed(websocket: WebSocket, exc: Exception) -> None:
    """Nothing to do: the session is over and its environment already closed."""


def _answer(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)

    return handler


def serve_env(
    env_id: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_sessions: int = 8,
    env_kwargs: Mapping[str, Any] | None = None,
    idle_seconds: float | None = 600.0,
) -> None:
    """Serve ``env_id`` to OpenEnv clients until interrupted.

    Args:
        env_id: A registered Gymnasium id of a text environment.
        host: Interface to listen on (``0.0.0.0`` for every interface).
        port: TCP port.
        max_sessions: WebSocket sessions served at once, each with its own environment.
        env_kwargs: ``gym.make`` keyword arguments.
        idle_seconds: A session with no message for this long is closed (checked every
            quarter of it, at least every 5 s); ``None`` keeps idle sessions.
    """
    import uvicorn

    app = build_app(
        env_id, max_sessions=max_sessions, env_kwargs=env_kwargs, idle_seconds=idle_seconds
    )
    address = f"http://{host}:{port}"
    print(f"serving {env_id} to OpenEnv clients at {address} (WebSocket /ws)", flush=True)
    # Warnings only: uvicorn's info level logs every session's connection.
    uvicorn.run(app, host=host, port=port, log_level="warning")
