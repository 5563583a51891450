"""Any OpenEnv environment server played as a Gymnasium text environment.

``gym.make("palaestra/OpenEnv-v0", url="http://127.0.0.1:8001")`` opens a session on the
server's WebSocket with openenv-core's own client and plays it through the Gymnasium API, so
palaestra's agents, runner, trainers and conformance suite work on it unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from gymnasium.error import ResetNeeded

from palaestra.envs.core import INVALID_ACTION_PENALTY, TextEnv, TextSpace
from palaestra.errors import InvalidArgumentError, RemoteEnvError, did_you_mean
from palaestra.optional import require

_SCHEMES = ("http://", "https://", "ws://", "wss://")
#: Largest schema document read from a server.
MAX_SCHEMA_BYTES = 1 << 20
_WHO = "palaestra/OpenEnv-v0"


class OpenEnvEnv(gym.Env[str, str]):
    """An OpenEnv environment server, played in text.

    **Task.** Whatever the server's environment is; ``palaestra serve-env ID`` serves any
    palaestra environment, and then an episode here is the same episode, byte for byte, as
    ``gym.make(ID)`` plays with the same seed and actions.

    **Observation.** The ``observation_field`` of the server's observation (by default
    ``text`` where the server's observation schema has it, else the whole observation as
    JSON). ``info`` holds the observation's other fields, with the fields of its ``info``
    object (what palaestra servers put there: ``instruction``, ``available_actions``,
    ``invalid_action``, ...) merged in; ``invalid_action`` is ``False`` where a step does not
    say.

    **Action.** Text, sent as ``{action_field: text}`` (by default the one required string
    field of the server's action schema, else ``text``). An action that cannot be sent (not
    text, not encodable as UTF-8, or longer than the schema allows) is answered here, as
    palaestra environments answer invalid actions: feedback, ``invalid_action``, a penalty of
    :data:`~palaestra.envs.core.INVALID_ACTION_PENALTY`, and the server's episode unchanged.

    **Reward.** The server's reward (0 where it sends none).

    **Episode end.** When the server says ``done``: truncated where the observation's
    ``truncated`` field is true (palaestra servers set it when a time limit cut the episode),
    else terminated. There is no time limit here; the server's applies.

    **Seeds and copies.** ``reset(seed=s)`` resets the server with seed ``s``; a reset
    without a seed draws one from this environment's generator, so every episode has a seed.
    A pickled or deep-copied environment opens its own session and replays the episode's
    seed and actions there before its next step, which continues exactly as the original
    for servers whose episodes are reproducible (palaestra's are).

    **Errors.** A server that does not answer, drops the connection or answers with an error
    raises :class:`~palaestra.errors.RemoteEnvError` naming the URL and what failed; a
    server that hangs is given up on after ``message_timeout_s``. After such an error the
    next ``reset()`` opens a new session.

    Args:
        url: The server's address, ``http://``, ``https://``, ``ws://`` or ``wss://``.
        action_field: The action field that carries the text (default: discovered from the
            server's ``/schema``).
        observation_field: The observation field that carries the text (default: ``text``
            where the schema has it, else the observation serialized as JSON).
        connect_timeout_s: Longest wait to connect and to fetch the schema, in seconds.
        message_timeout_s: Longest wait for the answer to a reset or step, in seconds.
        render_mode: ``None``, ``"ansi"`` or ``"human"``.

    Version History:
        * v0: Initial version.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}  # noqa: RUF012 - Gymnasium's name

    #: A step is a network round trip on top of the server's own step, which its server
    #: holds to its own limit; this bounds the round trip for :mod:`palaestra.testing`.
    max_step_seconds: float = 0.5

    def __init__(
        self,
        url: str,
        *,
        action_field: str | None = None,
        observation_field: str | None = None,
        connect_timeout_s: float = 10.0,
        message_timeout_s: float = 60.0,
        render_mode: str | None = None,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(_SCHEMES):
            raise InvalidArgumentError(
                f"url must start with one of {', '.join(_SCHEMES)}, got {url!r}"
            )
        for name, value in (
            ("connect_timeout_s", connect_timeout_s),
            ("message_timeout_s", message_timeout_s),
        ):
            if not value > 0:
                raise InvalidArgumentError(f"{name} must be positive, got {value}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise InvalidArgumentError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        require("openenv.core.generic_client", "openenv", _WHO)
        self.url = url.rstrip("/")
        self.connect_timeout_s = float(connect_timeout_s)
        self.message_timeout_s = float(message_timeout_s)
        self.render_mode = render_mode
        schema = self._fetch_schema()
        actions = _properties(schema.get("action"))
        observations = _properties(schema.get("observation"))
        self.action_field = action_field or _text_field(schema.get("action"), actions)
        if actions and self.action_field not in actions:
            raise InvalidArgumentError(
                f"action_field {self.action_field!r} is not a field of the server's actions"
                f"{did_you_mean(self.action_field, actions)} Fields: {', '.join(actions)}."
            )
        if observation_field is not None and observations and observation_field not in observations:
            raise InvalidArgumentError(
                f"observation_field {observation_field!r} is not a field of the server's "
                f"observations{did_you_mean(observation_field, observations)} "
                f"Fields: {', '.join(observations)}."
            )
        self.observation_field = observation_field or ("text" if "text" in observations else None)
        limit = actions.get(self.action_field, {}).get("maxLength")
        #: The longest text the server accepts (None: the schema sets no limit).
        self.max_sent_length: int | None = limit if isinstance(limit, int) else None
        self.observation_space = TextSpace(TextEnv.max_observation_length)
        self.action_space = TextSpace(TextEnv.max_action_length)
        self._client: Any = None
        self._needs_reset = True
        self._replay = False  # a copy must replay its episode on a session of its own
        self._reset_data: dict[str, Any] = {}
        self._sent: list[str] = []  # the episode's actions that reached the server
        self._remote_text = ""  # the server's latest observation
        self._observation = ""  # the latest observation returned (rendering)
        self._info: dict[str, Any] = {}

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Start an episode on the server (the same seed gives the same episode)."""
        super().reset(seed=seed)
        episode_seed = seed if seed is not None else int(self.np_random.integers(2**31))
        self._reset_data = {"seed": episode_seed, **({"options": options} if options else {})}
        self._replay = False
        self._needs_reset = True  # until the server's answer is in
        self._sent = []
        result = self._call("reset", lambda client: client.reset(**self._reset_data))
        text, info, _ = self._unpack(result.observation)
        self._needs_reset = False
        self._remote_text = self._observation = text
        self._info = info
        return text, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Send ``action`` to the server; return its observation, reward, end flags and info."""
        if self._needs_reset:
            raise ResetNeeded("the episode has ended (or never started); call reset() first")
        problem = self._unsendable(action)
        if problem is not None:
            return self._answer_locally(problem)
        if self._replay:
            self._replay_episode()
        result = self._send(action)
        self._sent.append(action)
        self._needs_reset = True  # until the server's answer is understood
        text, info, truncated = self._unpack(result.observation)
        reward = _reward(result.reward, self.url)
        done = bool(result.done)
        info.setdefault("invalid_action", False)
        self._needs_reset = done
        self._remote_text = self._observation = text
        self._info = info
        return text, reward, done and not truncated, done and truncated, info

    def render(self) -> str | None:
        """Return (``ansi``) or print (``human``) the latest observation."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi'")
            return None
        text = f"[{self.url}]\n{self._observation}\n"
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        """Close the session (idempotent)."""
        client, self._client = self._client, None
        if client is not None:
            _close_quietly(client)

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the connection; a copy replays the episode on its own session."""
        state = self.__dict__.copy()
        state["_client"] = None
        state["_replay"] = not self._needs_reset
        return state

    # ------------------------------------------------------------------ internals

    def _fetch_schema(self) -> dict[str, Any]:
        httpx = require("httpx", "openenv", _WHO)
        address = "http" + self.url[2:] if self.url.startswith("ws") else self.url
        # A whole-answer deadline: httpx's timeout bounds each read only, so a server that
        # trickles its headers or body a byte at a time would hold the request forever.
        # The request runs in a thread; past the deadline its client is closed under it.
        client = httpx.Client(timeout=self.connect_timeout_s)
        outcome: dict[str, Any] = {}

        def fetch() -> None:
            try:
                with client.stream("GET", f"{address}/schema") as reply:
                    reply.raise_for_status()
                    body = bytearray()
                    for chunk in reply.iter_bytes():
                        body += chunk
                        if len(body) > MAX_SCHEMA_BYTES:
                            raise ValueError(f"the schema is over {MAX_SCHEMA_BYTES} bytes")
                outcome["schema"] = json.loads(bytes(body))
            except Exception as exc:  # reported below, in the caller's thread
                outcome["error"] = exc

        worker = threading.Thread(target=fetch, daemon=True)
        worker.start()
        worker.join(self.connect_timeout_s)
        if worker.is_alive():
            client.close()
            raise RemoteEnvError(
                f"no OpenEnv server answers at {self.url}: GET /schema took over "
                f"{self.connect_timeout_s:g} s"
            )
        client.close()
        error = outcome.get("error")
        if error is not None:
            raise RemoteEnvError(
                f"no OpenEnv server answers at {self.url}: GET /schema failed "
                f"({type(error).__name__}: {error})"
            ) from error
        schema = outcome["schema"]
        if not isinstance(schema, dict):
            raise RemoteEnvError(f"{self.url}/schema is not an OpenEnv schema: {schema!r:.200}")
        return schema

    def _connect(self) -> Any:
        generic_client = require("openenv.core.generic_client", "openenv", _WHO)
        client = generic_client.GenericEnvClient(
            base_url=self.url,
            connect_timeout_s=self.connect_timeout_s,
            message_timeout_s=self.message_timeout_s,
        ).sync()
        try:
            client.connect()
        except BaseException:
            _close_quietly(client)
            raise
        return client

    def _call(self, what: str, call: Callable[[Any], Any]) -> Any:
        """Run ``call(client)``; any failure of the exchange becomes a RemoteEnvError."""
        opened = self._client is None
        try:
            if self._client is None:
                self._client = self._connect()
            return call(self._client)
        except Exception as exc:
            # The session's state is unknown now (a late answer would be read as the answer
            # to the next message): drop it, and let the next reset open a new one. It closes
            # in the background, as a graceful close waits up to 10 s for a hung server.
            client, self._client = self._client, None
            if client is not None:
                threading.Thread(target=_close_quietly, args=(client,), daemon=True).start()
            self._needs_reset = True
            raise RemoteEnvError(
                f"OpenEnv server at {self.url}: {what} failed: {self._describe(exc, opened)}; "
                "reset() opens a new session"
            ) from exc

    def _describe(self, exc: Exception, opened: bool) -> str:
        # asyncio.TimeoutError is TimeoutError from Python 3.11 on, a class of its own before.
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
            return f"no answer within {self.message_timeout_s:g} s (message_timeout_s)"
        closed = require("websockets.exceptions", "openenv", _WHO).ConnectionClosed
        if opened and isinstance(exc, closed):
            # An OpenEnv server at its session limit accepts the connection, sends its refusal
            # and closes, and openenv's client fails on sending before it reads the refusal.
            return (
                f"the server closed the new session at once ({exc}); a server at its session "
                "limit does so"
            )
        return f"{type(exc).__name__}: {exc}"

    def _send(self, action: str, what: str = "step") -> Any:
        return self._call(what, lambda client: client.step({self.action_field: action}))

    def _replay_episode(self) -> None:
        self._replay = False
        what = "replaying a copied episode"
        result = self._call(what, lambda client: client.reset(**self._reset_data))
        for action in self._sent:
            result = self._send(action, what)
        if self._unpack(result.observation)[0] != self._remote_text:
            self._needs_reset = True
            raise RemoteEnvError(
                f"OpenEnv server at {self.url}: replaying the episode's seed and actions on a "
                "new session gave another observation; a copy needs a server whose episodes "
                "are reproducible"
            )

    def _unpack(self, observation: Any) -> tuple[str, dict[str, Any], bool]:
        """Split an observation into its text, its info, and its ``truncated`` flag."""
        if not isinstance(observation, dict):
            raise RemoteEnvError(f"{self.url} sent an observation that is not an object")
        info = {k: v for k, v in observation.items() if k != self.observation_field}
        if isinstance(info.get("info"), dict):
            info.update(info.pop("info"))
        truncated = isinstance(info.get("truncated"), bool) and info.pop("truncated")
        if self.observation_field is None:
            text = json.dumps(observation, sort_keys=True, ensure_ascii=False)
        else:
            field = observation.get(self.observation_field)
            if not isinstance(field, str):
                raise RemoteEnvError(
                    f"{self.url} sent an observation without text in {self.observation_field!r}"
                    f" (fields: {', '.join(observation)}); pass observation_field="
                )
            text = field
        if len(text) > TextEnv.max_observation_length:
            raise RemoteEnvError(
                f"{self.url} sent an observation of {len(text)} characters; the limit is "
                f"{TextEnv.max_observation_length}"
            )
        return text, info, truncated

    def _unsendable(self, action: object) -> str | None:
        if not isinstance(action, str):
            return f"the action must be text, got {type(action).__name__}"
        try:
            action.encode("utf-8")
        except UnicodeEncodeError:
            # JSON would carry it escaped, but no server can decode it into valid text.
            return "the action contains a lone surrogate, which is not text"
        if self.max_sent_length is not None and len(action) > self.max_sent_length:
            return (
                f"the action is {len(action)} characters long; the server takes at most "
                f"{self.max_sent_length}"
            )
        return None

    def _answer_locally(self, reason: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Answer an action that cannot be sent, as palaestra environments answer them."""
        info: dict[str, Any] = {"invalid_action": True, "invalid_reason": reason}
        if "available_actions" in self._info:
            info["available_actions"] = self._info["available_actions"]
        self._observation = f"Invalid action: {reason}.\n\n{self._remote_text}"
        return self._observation, INVALID_ACTION_PENALTY, False, False, info


def _properties(schema: Any) -> dict[str, dict[str, Any]]:
    """The properties of a JSON schema object, without OpenEnv's ``metadata`` field."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return {}
    return {k: v for k, v in properties.items() if k != "metadata" and isinstance(v, dict)}


def _text_field(schema: Any, properties: dict[str, dict[str, Any]]) -> str:
    """The one required string field of an action schema, else ``text``."""
    required = schema.get("required", []) if isinstance(schema, dict) else []
    strings = [k for k in required if properties.get(k, {}).get("type") == "string"]
    return strings[0] if len(strings) == 1 else "text"


def _reward(value: Any, url: str) -> float:
    if value is None:
        return 0.0
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RemoteEnvError(f"{url} sent reward {value!r}, not a finite number")
    return float(value)


def _close_quietly(client: Any) -> None:
    # A broken connection has nothing left to close or to report.
    with contextlib.suppress(Exception):
        client.close()
