"""``HFAgent``: a local Hugging Face model playing many episodes at once."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from palaestra.errors import InvalidArgumentError
from palaestra.llm.generation import Decoder, Generation, SamplingConfig
from palaestra.llm.prompting import ChatSession, PromptConfig, extract_action
from palaestra.rollout.loop import EpisodeRecord
from palaestra.rollout.records import Episode, Turn

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


EnvBatch = Sequence[gym.Env[str, str]] | gym.vector.VectorEnv


class HFAgent:
    """A ``transformers`` causal LM as a palaestra agent.

    It plays one episode through the :class:`~palaestra.agents.Agent` protocol
    (``reset``/``act``), many through ``reset_batch``/``act_batch``, and collects training
    data with :meth:`play`: every turn's exact prompt and response token ids, and the
    log-probability and entropy of each sampled token. Generation is batched across
    episodes with a KV cache (:func:`~palaestra.llm.generation.generate`).

    Args:
        model: A causal LM (``AutoModelForCausalLM``).
        tokenizer: Its tokenizer, with a chat template.
        sampling: Sampling parameters.
        prompt: How episodes become prompts and replies become actions.
        seed: Seed of the sampling generator.
        max_batch_size: Most sequences generated in one batch.
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
        self.generator = torch.Generator().manual_seed(seed)
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
        self._seconds = {"generate_s": 0.0, "env_s": 0.0}

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
        """Restart the sampling generator: the same seed samples the same replies again."""
        self.generator = torch.Generator().manual_seed(seed)

    def save_settings(self, folder: Path) -> None:
        """Write the prompt and sampling settings next to a saved model."""
        settings = {
            "prompt": dataclasses.asdict(self.prompt),
            "sampling": dataclasses.asdict(self.sampling),
        }
        (folder / SETTINGS_FILE).write_text(json.dumps(settings, indent=1))

    # ------------------------------------------------------------------ Agent protocol

    def reset(self, instruction: str) -> None:
        """Start one episode."""
        self.reset_batch([instruction])

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """Reply to one observation and return the extracted action."""
        return self.act_batch([observation], [info])[0]

    def reset_batch(self, instructions: Sequence[str]) -> None:
        """Start one episode per instruction."""
        self._sessions = [ChatSession(self.tokenizer, text, self.prompt) for text in instructions]

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]]) -> list[str]:
        """Reply to one observation per episode started by :meth:`reset_batch`."""
        if len(observations) != len(self._sessions):
            raise InvalidArgumentError(
                f"{len(observations)} observations for {len(self._sessions)} episodes"
            )
        prompts = [
            s.observe(o, i) for s, o, i in zip(self._sessions, observations, infos, strict=True)
        ]
        actions = []
        for session, info, generation in zip(
            self._sessions, infos, self.generate(prompts), strict=True
        ):
            text = self.decode(generation.token_ids)
            session.reply(generation.token_ids, text)
            actions.append(extract_action(text, self.prompt.extract, info.get("available_actions")))
        return actions

    # ------------------------------------------------------------------ rollouts

    def generate(self, prompts: Sequence[Sequence[int]]) -> list[Generation]:
        """Sample one reply per prompt, in batches of at most ``max_batch_size``."""
        replies: list[Generation] = []
        for start in range(0, len(prompts), self.max_batch_size):
            replies += self.decoder().generate(prompts[start : start + self.max_batch_size])
        return replies

    def decoder(self) -> Decoder:
        """A :class:`~palaestra.llm.generation.Decoder` with this agent's settings."""
        return Decoder(
            self.model,
            sampling=self.sampling,
            stop_ids=self.stop_ids,
            pad_id=self.pad_id,
            generator=self.generator,
        )

    def decode(self, token_ids: Sequence[int]) -> str:
        """Text of a reply, special tokens removed."""
        return str(self.tokenizer.decode(list(token_ids), skip_special_tokens=True))

    def play(
        self,
        envs: EnvBatch,
        seeds: Sequence[int],
        *,
        groups: Sequence[int] | None = None,
        max_turns: int | None = None,
        prefixes: Sequence[Sequence[Turn]] | None = None,
    ) -> list[Episode]:
        """Play one episode per seed, all at once, and return what was sampled.

        Generation is batched over the episodes (``max_batch_size`` must be at least the
        number of seeds; :meth:`run` plays more in waves), and with full-history prompts each
        episode's KV cache is kept from turn to turn, so a turn only runs its new tokens.

        Args:
            envs: One environment per seed (a list, or a vector env with as many copies).
            seeds: Reset seed of each episode.
            groups: Group id of each episode (default: its position).
            max_turns: Stop an episode after this many turns (it counts as truncated).
            prefixes: Turns each episode replays before it samples (a branch of an earlier
                episode of the same seed: the same replies, sent as the same actions, on a
                deterministic environment); empty for a fresh episode.
        """
        if len(seeds) > self.max_batch_size:
            raise InvalidArgumentError(
                f"{len(seeds)} episodes exceed max_batch_size={self.max_batch_size}; "
                "play them in waves (HFAgent.run does)"
            )
        batch = _EnvBatch(envs, len(seeds))
        if prefixes is not None and (batch.vector is not None or len(prefixes) != len(seeds)):
            raise InvalidArgumentError(
                "prefixes need a list of environments (a vector env steps every copy) and one "
                "prefix per seed"
            )
        decoder = self.decoder()
        groups = list(groups) if groups is not None else list(range(len(seeds)))
        observations, infos = batch.reset(seeds)
        episodes = [
            Episode(
                env_id=batch.env_id,
                seed=seed,
                instruction=str(info.get("instruction", "")),
                group=group,
                ground_truth=info.get("ground_truth"),
                answer_template=info.get("answer_template"),
            )
            for seed, group, info in zip(seeds, groups, infos, strict=True)
        ]
        sessions = [ChatSession(self.tokenizer, e.instruction, self.prompt) for e in episodes]
        prompts = [s.observe(o, i) for s, o, i in zip(sessions, observations, infos, strict=True)]
        active = list(range(len(seeds)))

        def record(k: int, result: StepResult) -> bool:
            """Record episode k's step result; whether the episode goes on."""
            observation, reward, terminated, truncated, info = result
            turn = episodes[k].turns[-1]
            turn.reward, turn.info = float(reward), info
            turn.invalid_action = bool(info.get("invalid_action", False))
            over_limit = max_turns is not None and len(episodes[k].turns) >= max_turns
            if terminated or truncated or over_limit:
                _finish(episodes[k], info, terminated)
                return False
            observations[k], infos[k] = observation, info
            prompts[k] = sessions[k].observe(observation, info)
            return True

        for k, prefix in enumerate(prefixes or []):
            for turn in prefix:
                episodes[k].turns.append(
                    dataclasses.replace(
                        turn, prompt_ids=list(prompts[k]), observation=observations[k], info={}
                    )
                )
                sessions[k].reply(turn.response_ids, turn.response)
                start = time.perf_counter()
                result = batch.step({k: turn.action})[k]
                self._seconds["env_s"] += time.perf_counter() - start
                if not record(k, result):
                    active.remove(k)
                    break
        while active:
            # Episodes whose next prompt would not fit the model end here, truncated.
            active = [k for k in active if len(prompts[k]) <= self.max_prompt_tokens]
            start = time.perf_counter()
            generations = decoder.generate([prompts[k] for k in active], keys=active)
            self._seconds["generate_s"] += time.perf_counter() - start
            actions = {}
            for k, generation in zip(active, generations, strict=True):
                text = self.decode(generation.token_ids)
                actions[k] = (
                    text,
                    extract_action(text, self.prompt.extract, infos[k].get("available_actions")),
                )
                episodes[k].turns.append(
                    Turn(
                        prompt_ids=list(prompts[k]),
                        response_ids=generation.token_ids,
                        logprobs=generation.logprobs,
                        entropies=generation.entropies,
                        observation=observations[k],
                        response=text,
                        action=actions[k][1],
                        finish_reason=generation.finish_reason,
                    )
                )
                sessions[k].reply(generation.token_ids, text)
            start = time.perf_counter()
            results = batch.step({k: action for k, (_, action) in actions.items()})
            self._seconds["env_s"] += time.perf_counter() - start
            active = [k for k, result in results.items() if record(k, result)]
        return episodes

    def timing(self, *, reset: bool = False) -> dict[str, float]:
        """Seconds spent generating and stepping environments in :meth:`play` so far."""
        seconds = dict(self._seconds)
        if reset:
            self._seconds = dict.fromkeys(self._seconds, 0.0)
        return seconds

    def run(
        self, env_id: str, seeds: Sequence[int], *, env_kwargs: dict[str, Any] | None = None
    ) -> list[EpisodeRecord]:
        """Play one episode of ``env_id`` per seed, ``max_batch_size`` at a time."""
        records: list[EpisodeRecord] = []
        for start in range(0, len(seeds), self.max_batch_size):
            chunk = list(seeds[start : start + self.max_batch_size])
            envs = [gym.make(env_id, **(env_kwargs or {})) for _ in chunk]
            try:
                records += [episode.to_record() for episode in self.play(envs, chunk)]
            finally:
                for env in envs:
                    env.close()
        return records


def _finish(episode: Episode, info: dict[str, Any], terminated: bool) -> None:
    episode.terminated = bool(terminated)
    episode.success = bool(info.get("success", False))
    episode.metrics = {k: float(v) for k, v in info.get("episode_metrics", {}).items()}


StepResult = tuple[str, float, bool, bool, dict[str, Any]]


class _EnvBatch:
    """Steps a list of envs, or a vector env, for a subset of active episodes."""

    def __init__(self, envs: EnvBatch, size: int) -> None:
        self.vector: gym.vector.VectorEnv | None = None
        self.envs: list[gym.Env[str, str]] = []
        if isinstance(envs, gym.vector.VectorEnv):
            self.vector, count, spec = envs, envs.num_envs, envs.spec
        else:
            self.envs, count = list(envs), len(envs)
            spec = self.envs[0].spec if self.envs else None
        if count != size:
            raise InvalidArgumentError(f"{count} environments for {size} seeds; give one per seed")
        self.env_id = spec.id if spec is not None else None
        self.size = size

    def reset(self, seeds: Sequence[int]) -> tuple[list[str], list[dict[str, Any]]]:
        if self.vector is not None:
            observations, infos = self.vector.reset(seed=list(seeds))  # type: ignore[arg-type]
            return list(observations), [_unbatch(infos, k) for k in range(self.size)]
        pairs = [env.reset(seed=seed) for env, seed in zip(self.envs, seeds, strict=True)]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def step(self, actions: dict[int, str]) -> dict[int, StepResult]:
        if self.vector is None:
            return {k: _as_step(self.envs[k].step(a)) for k, a in actions.items()}
        # Finished copies get a placeholder action; their results are ignored.
        full = tuple(actions.get(k, "") for k in range(self.size))
        obs, rewards, terminated, truncated, infos = self.vector.step(full)
        return {
            k: (
                obs[k],
                float(rewards[k]),
                bool(terminated[k]),
                bool(truncated[k]),
                _unbatch(infos, k),
            )
            for k in actions
        }


def _as_step(result: tuple[str, Any, bool, bool, dict[str, Any]]) -> StepResult:
    observation, reward, terminated, truncated, info = result
    return observation, float(reward), terminated, truncated, info


def _unbatch(infos: dict[str, Any], index: int) -> dict[str, Any]:
    """The info dict of one copy of a vector env (keys present for that copy only)."""
    single = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        present = infos.get(f"_{key}")
        if present is not None and not present[index]:
            continue
        single[key] = _unbatch(value, index) if isinstance(value, dict) else value[index]
    return single
