"""``OpenAIChatAgent``: any OpenAI-compatible chat endpoint as a palaestra agent.

OpenAI, vLLM, SGLang, Ollama, llama.cpp's server and ``transformers serve`` all speak the
chat-completions protocol. The agent sends the episode as chat messages (system =
instruction, user = observations, assistant = its earlier replies), extracts the action from
the reply, and plays many episodes at once (:class:`~palaestra.rollout.BatchAgent`): each round
it sends one request per running episode, ``concurrency`` at a time.

Failures: the ``openai`` client retries connection errors, timeouts, 429 and 5xx with
exponential backoff (``max_retries``); a malformed response is retried the same number of
times. When the retries are exhausted, or the server refuses the key, :class:`AgentServerError`
is raised with what happened; the rollout loop attaches the episodes that had already
finished to it (``completed``), so no finished work is lost.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from palaestra.errors import InvalidArgumentError
from palaestra.llm.prompting import (
    PromptConfig,
    extract_action,
    format_observation,
    system_message,
)
from palaestra.rollout import AgentError, Turn


class AgentServerError(AgentError):
    """The model server failed after the allowed retries (or refused the credentials).

    Attributes:
        completed: Episodes that finished before the failure (filled in by the rollout
            loop).
    """


class OpenAIChatAgent:
    """An agent backed by an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Args:
        model: Model name as the server knows it.
        base_url: Endpoint, e.g. ``http://127.0.0.1:8000/v1`` (``None``: OpenAI).
        api_key: Key (default: ``$OPENAI_API_KEY``, or ``"EMPTY"`` for local servers).
        prompt: Prompt and action-extraction settings.
        temperature: Sampling temperature.
        max_tokens: Reply length limit.
        timeout: Seconds per request.
        max_retries: Retries per request (with exponential backoff).
        concurrency: Requests in flight at once (and episodes played at once by
            :func:`palaestra.rollout.run_episodes`).
        extra_body: Extra JSON fields for the server (e.g. ``{"generation_config": ...}``).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        prompt: PromptConfig | None = None,
        temperature: float = 0.7,
        max_tokens: int = 256,
        timeout: float = 60.0,
        max_retries: int = 3,
        concurrency: int = 8,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        import os

        from palaestra.optional import require

        require("openai", "llm", "OpenAIChatAgent")
        from openai import OpenAI

        if concurrency < 1:
            raise InvalidArgumentError(f"concurrency must be >= 1, got {concurrency}")
        if max_retries < 0:
            raise InvalidArgumentError(f"max_retries must be >= 0, got {max_retries}")
        self.model = model
        self.base_url = base_url
        self.prompt = prompt or PromptConfig()
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.extra_body = extra_body
        self.name = f"openai:{model}" + (f"@{base_url}" if base_url else "")
        self.client = OpenAI(
            base_url=base_url,
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
            timeout=timeout,
            max_retries=max_retries,
        )
        self._chats: list[list[dict[str, str]]] = []
        self._pool: ThreadPoolExecutor | None = None

    @property
    def max_batch_size(self) -> int:
        """Episodes played at once: one request in flight per episode."""
        return self.concurrency

    # ------------------------------------------------------------------ agent protocols

    def reset(self, instruction: str) -> None:
        """Start an episode."""
        self.start([instruction])

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """Send the chat so far, return the action extracted from the reply."""
        return str(self._turn(0, observation, info).action)

    def start(self, instructions: Sequence[str]) -> None:
        """Begin one chat per episode."""
        self._chats = [
            [{"role": "system", "content": system_message(text, self.prompt)}]
            for text in instructions
        ]

    def respond(
        self, episodes: Sequence[int], observations: Sequence[str], infos: Sequence[dict[str, Any]]
    ) -> list[Turn | None]:
        """One request per listed episode, ``concurrency`` in flight at once.

        Raises:
            AgentServerError: A request failed after its retries.
        """
        if any(k >= len(self._chats) for k in episodes):
            raise InvalidArgumentError(f"episodes {list(episodes)} were not started")
        calls = list(zip(episodes, observations, infos, strict=True))
        if len(calls) == 1:
            return [self._turn(*calls[0])]
        if self._pool is None:  # one per rollout, not one per round
            self._pool = ThreadPoolExecutor(max_workers=self.concurrency)
        return list(self._pool.map(lambda call: self._turn(*call), calls))

    def finish(self) -> None:
        """Forget the chats of the episodes begun by :meth:`start`; stop the request threads."""
        self._chats = []
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    # ------------------------------------------------------------------ internals

    def _turn(self, episode: int, observation: str, info: dict[str, Any]) -> Turn:
        messages = self._chats[episode]
        messages.append(
            {"role": "user", "content": format_observation(observation, info, self.prompt)}
        )
        reply = self._complete(messages)
        messages.append({"role": "assistant", "content": reply})
        action = extract_action(reply, self.prompt.extract, info.get("available_actions"))
        return Turn(observation=observation, action=action, response=reply)

    def _complete(self, messages: list[dict[str, str]]) -> str:
        import openai

        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            try:
                response = self.client.chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                    extra_body=self.extra_body,
                )
                choices = getattr(response, "choices", None)
                if not choices:
                    raise ValueError("the response has no choices")
                content = choices[0].message.content
                # An empty or missing reply is the model's problem, not the server's: it
                # becomes an invalid action.
                return content if isinstance(content, str) else ""
            except openai.AuthenticationError as exc:
                raise AgentServerError(
                    f"{self._where()} refused the API key (HTTP {exc.status_code}); set "
                    "OPENAI_API_KEY or pass api_key"
                ) from exc
            except (openai.APIConnectionError, openai.APIStatusError) as exc:
                # The client has already retried these (connection errors, timeouts, 429,
                # 5xx) with backoff; 4xx other than 429 are not worth retrying.
                raise AgentServerError(
                    f"{self._where()} failed after {self.max_retries + 1} attempts: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            except (openai.APIError, ValueError, TypeError, AttributeError) as exc:
                # An answer that is not a chat completion at all: retry it ourselves.
                last = exc
                time.sleep(min(0.25 * 2**attempt, 4.0))
        raise AgentServerError(
            f"{self._where()} failed after {self.max_retries + 1} attempts: "
            f"{type(last).__name__}: {last}"
        )

    def _where(self) -> str:
        return f"the server at {self.base_url or 'api.openai.com'}"
