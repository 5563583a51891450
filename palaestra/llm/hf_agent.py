"""``HFAgent``: a local Hugging Face model playing many episodes at once."""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from palaestra.errors import InvalidArgumentError
from palaestra.llm.generation import Decoder, Generation, SamplingConfig, stream
from palaestra.llm.prompting import ChatSession, PromptConfig, extract_action
from palaestra.rollout import Episode, Turn, play
from palaestra.rollout.envs import Envs

#: The file beside a saved model that holds the agent settings it was trained with.
SETTINGS_FILE = "palaestra_agent.json"


def _saved_settings(spec: str) -> dict[str, Any]:
    """``prompt`` and ``sampling`` from ``spec``'s settings file, if it is a local folder."""
    path = Path(spec) / SETTINGS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        return {
            "prompt": PromptConfig(**data["prompt"]),
            "sampling": SamplingConfig(**data["sampling"]),
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidArgumentError(f"{path} is not a palaestra agent settings file: {exc}") from exc


class HFAgent:
    """A ``transformers`` causal LM as a palaestra agent.

    It plays one episode through the :class:`~palaestra.rollout.Agent` protocol
    (``reset``/``act``) and many at once through :class:`~palaestra.rollout.BatchAgent`
    (``start``/``respond``, driven by :func:`palaestra.rollout.play`), recording in each
    :class:`~palaestra.rollout.Turn` what training needs: the exact prompt and response
    token ids, and the log-probability and entropy of each sampled token. Generation is
    batched across episodes with a KV cache (:class:`~palaestra.llm.generation.Decoder`).

    Args:
        model: A causal LM (``AutoModelForCausalLM``).
        tokenizer: Its tokenizer, with a chat template.
        sampling: Sampling parameters.
        prompt: How episodes become prompts and replies become actions.
        seed: Seed of the sampling: episode ``i`` begun since the seed was set samples from
            the stream keyed ``(seed, i)`` unless :meth:`start` is given keys.
        max_batch_size: Most episodes played (sequences generated) at once.
        name: Description used in results tables.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        sampling: SamplingConfig | None = None,
        prompt: PromptConfig | None = None,
        seed: int = 0,
        max_batch_size: int = 64,
        name: str = "hf",
    ) -> None:
        if max_batch_size < 1:
            raise InvalidArgumentError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.model = model
        self.tokenizer = tokenizer
        self.sampling = sampling or SamplingConfig()
        self.prompt = prompt or PromptConfig()
        self.max_batch_size = max_batch_size
        self.name = name
        self.seed = seed
        self._begun = 0  # episodes started since the seed was set
        self._streams: list[torch.Generator] = []
        stop = {tokenizer.eos_token_id}
        if tokenizer.convert_tokens_to_ids("<|endoftext|>") not in (None, tokenizer.unk_token_id):
            stop.add(tokenizer.convert_tokens_to_ids("<|endoftext|>"))
        self.stop_ids = sorted(i for i in stop if i is not None)
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]
        )
        limit = getattr(model.config, "max_position_embeddings", None) or 1 << 30
        self.max_prompt_tokens = int(limit) - self.sampling.max_new_tokens
        self._sessions: list[ChatSession] = []
        self._decoder = self.decoder()

    @classmethod
    def from_spec(
        cls, spec: str, *, device: str = "cpu", dtype: str = "auto", **kwargs: Any
    ) -> HFAgent:
        """Load the model ``spec`` names (see :mod:`palaestra.llm.models`) into an agent.

        A local model folder saved by the trainer carries ``palaestra_agent.json``: the
        prompt and sampling settings it was trained with, used unless given here.
        """
        from palaestra.llm.models import load_model

        model, tokenizer = load_model(spec, device=device, dtype=dtype)
        return cls(model, tokenizer, name=f"hf:{spec}", **{**_saved_settings(spec), **kwargs})

    def reseed(self, seed: int) -> None:
        """Restart the sampling: the same seed samples the same replies again."""
        self.seed, self._begun = seed, 0
        self._decoder = self.decoder()

    def load_weights(self, weights: dict[str, Any]) -> None:
        """Take new values for some of the model's parameters, by name (a trainer's update).

        Raises:
            InvalidArgumentError: A name is not a parameter of the model.
        """
        unexpected = self.model.load_state_dict(weights, strict=False).unexpected_keys
        if unexpected:
            raise InvalidArgumentError(f"not parameters of this model: {unexpected[:5]}")

    def save_settings(self, folder: Path) -> None:
        """Write the prompt and sampling settings next to a saved model."""
        settings = {
            "prompt": dataclasses.asdict(self.prompt),
            "sampling": dataclasses.asdict(self.sampling),
        }
        (folder / SETTINGS_FILE).write_text(json.dumps(settings, indent=1))

    # ------------------------------------------------------------------ agent protocols

    def reset(self, instruction: str) -> None:
        """Start one episode."""
        self.start([instruction])

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """Reply to one observation and return the extracted action.

        A chat grown past the model's context gives ``""`` (an invalid action).
        """
        turn = self.respond([0], [observation], [info])[0]
        return "" if turn is None else str(turn.action)

    def start(
        self, instructions: Sequence[str], keys: Sequence[Sequence[int]] | None = None
    ) -> None:
        """Begin one chat per episode, with a fresh KV cache.

        Each episode samples from its own stream, keyed by ``keys`` (one tuple of integers
        per episode) or else by ``(seed, i)`` for the i-th episode begun since the seed was
        set. An episode's replies depend on its key only, never on the episodes it is
        batched with.
        """
        if keys is None:
            keys = [(self.seed, self._begun + i) for i in range(len(instructions))]
        if len(keys) != len(instructions):
            raise InvalidArgumentError(f"{len(instructions)} episodes need as many keys")
        self._begun += len(instructions)
        self._sessions = [ChatSession(self.tokenizer, text, self.prompt) for text in instructions]
        self._streams = [stream(*key) for key in keys]
        self._decoder = self.decoder()

    def respond(
        self, episodes: Sequence[int], observations: Sequence[str], infos: Sequence[dict[str, Any]]
    ) -> list[Turn | None]:
        """Sample a reply in each listed episode, all in one batch.

        With full-history prompts each episode's KV cache is kept from turn to turn, so a
        turn only runs its new tokens. An episode whose next prompt would not fit the model
        gets ``None`` (it ends, truncated).
        """
        if any(k >= len(self._sessions) for k in episodes):
            raise InvalidArgumentError(f"episodes {list(episodes)} were not started")
        prompts = {
            k: self._sessions[k].observe(o, i)
            for k, o, i in zip(episodes, observations, infos, strict=True)
        }
        fits = [k for k in episodes if len(prompts[k]) <= self.max_prompt_tokens]
        replies = (
            self._decoder.generate(
                [prompts[k] for k in fits], keys=fits, streams=[self._streams[k] for k in fits]
            )
            if fits
            else []
        )
        generations = dict(zip(fits, replies, strict=True))
        turns: list[Turn | None] = []
        for k, observation, info in zip(episodes, observations, infos, strict=True):
            generation = generations.get(k)
            if generation is None:
                turns.append(None)
                continue
            text = self.decode(generation.token_ids)
            self._sessions[k].reply(generation.token_ids, text)
            turns.append(
                Turn(
                    observation=observation,
                    action=extract_action(text, self.prompt.extract, info.get("available_actions")),
                    response=text,
                    prompt_ids=list(prompts[k]),
                    response_ids=generation.token_ids,
                    logprobs=generation.logprobs,
                    entropies=generation.entropies,
                    finish_reason=generation.finish_reason,
                )
            )
        return turns

    def finish(self) -> None:
        """Free the chats and the KV cache of the episodes begun by :meth:`start`."""
        self._sessions, self._streams = [], []
        self._decoder = self.decoder()

    def replay(self, episode: int, observation: str, info: dict[str, Any], turn: Turn) -> Turn:
        """Take an earlier episode's ``turn`` as this episode's reply to ``observation``."""
        prompt = self._sessions[episode].observe(observation, info)
        self._sessions[episode].reply(turn.response_ids, turn.response)
        return dataclasses.replace(turn, prompt_ids=list(prompt), observation=observation, info={})

    def restore(self, episode: int, observation: str, info: dict[str, Any], turn: Turn) -> None:
        """Redo a reply this episode sampled earlier (``turn``), as if sampled again.

        The chat takes the reply and the episode's stream moves past its draws, so an agent
        that lost its state (a restarted actor) goes on sampling what it would have.
        """
        self.replay(episode, observation, info, turn)
        generation = Generation(turn.response_ids, turn.logprobs, turn.entropies, "stop")
        self._decoder.skip(self._streams[episode], generation)

    def play(self, envs: Envs, seeds: Sequence[int], **kwargs: Any) -> list[Episode]:
        """Deprecated spelling of ``palaestra.rollout.play(agent, envs, seeds, ...)``."""
        warnings.warn(
            "HFAgent.play(envs, seeds) is now palaestra.play(agent, envs, seeds); the method "
            "goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return play(self, envs, seeds, **kwargs)

    # ------------------------------------------------------------------ generation

    def decoder(self) -> Decoder:
        """A :class:`~palaestra.llm.generation.Decoder` with this agent's settings."""
        return Decoder(
            self.model,
            sampling=self.sampling,
            stop_ids=self.stop_ids,
            pad_id=self.pad_id,
        )

    def decode(self, token_ids: Sequence[int]) -> str:
        """Text of a reply, special tokens removed."""
        return str(self.tokenizer.decode(list(token_ids), skip_special_tokens=True))
