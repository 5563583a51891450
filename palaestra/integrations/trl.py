"""Train on palaestra environments with TRL's ``GRPOTrainer``.

:class:`PalaestraEnvs` plays whole episodes of a palaestra text environment as TRL's
GRPO rollouts: the observation is the prompt, the model's reply is the action, the next
observation follows, and so on until the episode ends; the episode's return is the reward::

    from trl import GRPOConfig, GRPOTrainer
    from palaestra.integrations.trl import PalaestraEnvs

    envs = PalaestraEnvs("palaestra/TextWorld-v0", max_turns=10)
    trainer = GRPOTrainer(model=..., args=GRPOConfig(...), **envs.trainer_kwargs())
    trainer.train()

**Which TRL hook, and why.** TRL 1.16 offers two multi-turn hooks. ``environment_factory``
exposes an environment's methods as *tools*: the episode goes on only while the model emits
tool calls in its chat template's format, so a model that does not (any base model, the
tiny test model, most small instruct models) ends every episode after one reply, and every
env must be rewritten as tool methods. ``rollout_func`` hands the whole generation step to
the caller, who returns the token ids, the sampling log-probs and an ``env_mask`` marking
the tokens the policy did not write. This module uses ``rollout_func``: every turn's reply is
sent to ``env.step`` whatever it contains, as palaestra's own trainer does, so episodes
really play for their full length with any model.

**One rollout** (:meth:`PalaestraEnvs.rollout`) plays the per-process slice of a generation
batch with palaestra's own machinery: an :class:`~palaestra.llm.hf_agent.HFAgent` on the
policy being trained (unwrapped with TRL's ``unwrap_model_for_generation``, in eval mode,
KV cache kept across turns), driven by :func:`palaestra.rollout.play`. Chat formatting
(system = instruction, user = observation plus available actions) and action extraction
(``extract``) are :mod:`palaestra.llm.prompting`'s. A reply that is empty, garbage or cut
at the token limit is still sent to the env, which answers it with its invalid-action
observation and penalty; it never raises. Each episode becomes one sequence
(:func:`~palaestra.rollout.records.concat_tokens`): the first prompt is TRL's prompt, the
rest (replies, and the observation tokens between them) its completion, with ``env_mask``
0 on the observation tokens so only sampled tokens carry loss, and each token's sampling
log-prob (0 on observation tokens).

**Rewards and metrics.** :func:`env_return`, the reward function, returns each episode's
undiscounted return; TRL logs it as ``reward`` and ``rewards/env_return/mean``. Through
TRL's ``log_metric`` it also logs ``env/success_rate``, ``env/turns`` (mean turns per
episode) and ``env/invalid_rate`` (invalid actions per turn). The rollout passes
``env_return``, ``env_success``, ``env_turns`` and ``env_invalid_actions`` to every reward
function as keyword arguments, so a user may add reward functions of their own.

**Seeds.** The training set (:meth:`PalaestraEnvs.dataset`) has one row per episode seed,
``seed * SEED_STRIDE + k`` for row ``k``: the seeds palaestra's trainer plays, in the same
order (:class:`palaestra.algorithms.rollout.TrainerSampler`, stream 0); with
``shuffle_dataset=False`` both play the same episodes in the same order. TRL's sampler
repeats each row ``num_generations`` times (a GRPO group shares its seed) and otherwise
shuffles rows with ``args.seed``. Each episode's replies sample from their own stream keyed
by (``args.seed``, process, optimizer step, rollout within that step, train/eval,
position): TRL may generate several times in one optimizer step (``steps_per_generation x
num_iterations < gradient_accumulation_steps``), and each of those rollouts draws afresh.
A run is the same run again.

**Limits.** TRL's ``max_completion_length`` bounds a whole episode's completion: its
replies and the observation tokens between them. An episode whose next reply would
outgrow it ends before that reply, truncated (not terminated), as an episode whose chat
outgrows the model's context does; the reply that crossed the line is dropped, never sent
to the env. ``max_new_tokens`` bounds each reply (default: palaestra's 64, at most
``max_completion_length``); ``max_turns`` bounds the turns (default: the env's own end or
time limit). TRL's ``completions/clipped_ratio`` counts episodes whose *last* reply ended
without EOS (cut at ``max_new_tokens``, or the tiny model's garbage), not episodes the
budget cut, and ``mask_truncated_completions=True`` drops every token of such an episode,
all its turns, from the loss: keep it off (TRL's default) for multi-turn envs.

**TRL settings.** Sampling follows ``args.temperature``, ``top_p`` and ``top_k``. The
rollout refuses ``use_vllm=True`` (it generates on the training model, never in vLLM) and
warns once that ``generation_kwargs``, ``repetition_penalty`` and ``min_p`` are ignored
when they are set. Generation runs on the training process's model copy (DDP and
DeepSpeed ZeRO as TRL unwraps them; FSDP untested).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from palaestra.errors import (
    DependencyNotInstalled,
    InvalidArgumentError,
    UnknownNameError,
    did_you_mean,
)
from palaestra.llm.generation import SamplingConfig
from palaestra.llm.hf_agent import HFAgent
from palaestra.llm.prompting import EXTRACT_MODES, ChatTemplateError, ExtractMode, PromptConfig
from palaestra.rollout import Episode, Turn, play
from palaestra.rollout.records import SEED_STRIDE, PrefixError, concat_logprobs, concat_tokens

try:
    from datasets import Dataset
    from trl.models.utils import unwrap_model_for_generation
except ImportError as exc:  # pragma: no cover - the dev environment has the extra
    raise DependencyNotInstalled(
        "palaestra.integrations.trl needs trl and datasets: pip install 'palaestra[trl]'"
    ) from exc

if TYPE_CHECKING:
    from trl.trainer.grpo_trainer import GRPOTrainer

__all__ = ["EPISODE_FIELDS", "SEED_STRIDE", "PalaestraEnvs", "env_return"]

#: The extra fields :meth:`PalaestraEnvs.rollout` returns, one value per episode; TRL passes
#: them to every reward function as keyword arguments.
EPISODE_FIELDS = ("env_return", "env_success", "env_turns", "env_invalid_actions")

_PROMPT = re.compile(r"^(?P<env>\S+) seed=(?P<seed>-?\d+)$")

#: TRL settings the rollout does not apply, with the values that mean "not set".
_IGNORED_SETTINGS = {
    "generation_kwargs": None,
    "repetition_penalty": 1.0,
    "min_p": None,
    "chat_template_kwargs": None,
    "cache_implementation": None,
    "use_transformers_paged": False,
}


def env_return(
    completions: Sequence[Any],
    env_return: Sequence[float],
    env_success: Sequence[bool],
    env_turns: Sequence[int],
    env_invalid_actions: Sequence[int],
    log_metric: Callable[[str, float], None] | None = None,
    **_: Any,
) -> list[float]:
    """TRL reward function: each episode's return, as :meth:`PalaestraEnvs.rollout` played it.

    Also logs ``env/success_rate``, ``env/turns`` and ``env/invalid_rate`` through TRL's
    ``log_metric`` (averaged over a logging window like TRL's own figures).

    Args:
        completions: The completions (unused: the env already scored the episode).
        env_return: Each episode's undiscounted return.
        env_success: Whether each episode succeeded.
        env_turns: Each episode's number of turns.
        env_invalid_actions: Each episode's number of invalid actions.
        log_metric: TRL's metric logger (given by ``GRPOTrainer``).

    Returns:
        The returns, one per completion.
    """
    if log_metric is not None and len(env_return):
        count = len(env_return)
        turns = sum(env_turns)
        log_metric("env/success_rate", sum(map(bool, env_success)) / count)
        log_metric("env/turns", turns / count)
        log_metric("env/invalid_rate", sum(env_invalid_actions) / max(turns, 1))
    return [float(value) for value in env_return]


class _BudgetAgent(HFAgent):
    """An :class:`HFAgent` whose episodes end once their completion outgrows a token budget.

    The completion is everything after an episode's first prompt: replies, and the
    observation and template tokens between them. A reply that would take it past
    ``completion_tokens`` is answered with ``None``, which :func:`~palaestra.rollout.play`
    takes as the end of the episode (truncated), as it does for a full context.
    """

    def __init__(self, *args: Any, completion_tokens: int | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.completion_tokens = completion_tokens
        self._first_prompt: dict[int, int] = {}

    def start(
        self, instructions: Sequence[str], keys: Sequence[Sequence[int]] | None = None
    ) -> None:
        """Begin one chat per episode (see :meth:`HFAgent.start`)."""
        super().start(instructions, keys)
        self._first_prompt = {}

    def respond(
        self, episodes: Sequence[int], observations: Sequence[str], infos: Sequence[dict[str, Any]]
    ) -> list[Turn | None]:
        """Reply in each listed episode; ``None`` where the reply would pass the budget."""
        turns = super().respond(episodes, observations, infos)
        if self.completion_tokens is None:
            return turns
        kept: list[Turn | None] = []
        for k, turn in zip(episodes, turns, strict=True):
            if turn is not None:
                first = self._first_prompt.setdefault(k, len(turn.prompt_ids))
                # The prompt only grows (full history), so its growth is the completion so far.
                used = len(turn.prompt_ids) - first + len(turn.response_ids)
                turn = turn if used <= self.completion_tokens else None
            kept.append(turn)
        return kept


class PalaestraEnvs:
    """A registered text environment as TRL ``GRPOTrainer`` rollouts (see the module doc).

    Args:
        env_id: A registered environment id (``palaestra/MathTool-v0``).
        env_kwargs: Keyword arguments of ``gym.make``.
        seed: Run seed of the episode seeds (row ``k`` plays ``seed * SEED_STRIDE + k``).
        extract: How a reply becomes an action: ``whole``, ``last_line``, ``tag`` or
            ``choice`` (see :mod:`palaestra.llm.prompting`).
        max_new_tokens: Token limit of each reply (default: palaestra's 64, or the
            trainer's ``max_completion_length`` where that is smaller). The trainer's
            ``max_completion_length`` bounds the whole episode's completion.
        max_turns: Cut episodes after this many turns (default: the env's own end).

    Raises:
        UnknownNameError: ``env_id`` is not registered (the message suggests the closest).
        InvalidArgumentError: An argument is out of range, or the env refuses ``env_kwargs``.
    """

    def __init__(
        self,
        env_id: str,
        *,
        env_kwargs: dict[str, Any] | None = None,
        seed: int = 0,
        extract: ExtractMode = "whole",
        max_new_tokens: int | None = None,
        max_turns: int | None = None,
    ) -> None:
        if env_id not in gym.registry:
            raise UnknownNameError(
                f"unknown environment {env_id!r}{did_you_mean(env_id, gym.registry)} "
                "(`palaestra envs` lists them)"
            )
        if extract not in EXTRACT_MODES:
            raise InvalidArgumentError(f"extract must be one of {EXTRACT_MODES}, got {extract!r}")
        for name, value in (("max_new_tokens", max_new_tokens), ("max_turns", max_turns)):
            if value is not None and value < 1:
                raise InvalidArgumentError(f"{name} must be >= 1 or None, got {value}")
        if seed < 0:
            raise InvalidArgumentError(f"seed must be >= 0, got {seed}")
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.seed = seed
        self.prompt = PromptConfig(extract=extract)  # full history: one sequence per episode
        self.max_new_tokens = max_new_tokens
        self.max_turns = max_turns
        # Made here so a bad env_kwargs fails now, with the env's own "did you mean".
        self.envs: list[gym.Env[Any, Any]] = [gym.make(env_id, **self.env_kwargs)]
        #: The episodes of the latest rollout (this process's share), in prompt order.
        self.episodes: list[Episode] = []
        # (optimizer step, train/eval) of the latest rollout and the rollouts in it so far.
        self._calls: tuple[tuple[int, int], int] = ((-1, -1), 0)
        self._warned = False

    # ------------------------------------------------------------------ what TRL takes

    def trainer_kwargs(self, episodes: int = 10_000) -> dict[str, Any]:
        """``GRPOTrainer`` keyword arguments: ``train_dataset``, ``rollout_func``, ``reward_funcs``.

        Args:
            episodes: Distinct episode seeds (rows of the training set); each row is one
                GRPO group of ``num_generations`` episodes. TRL starts over (a new epoch)
                after the last row.

        Returns:
            The keyword arguments, to pass as ``GRPOTrainer(..., **kwargs)``.
        """
        return {
            "train_dataset": self.dataset(episodes),
            "rollout_func": self.rollout,
            "reward_funcs": [env_return],
        }

    def dataset(self, episodes: int = 10_000) -> Dataset:
        """The training set: one prompt per episode seed, ``"<env id> seed=<seed>"``.

        The prompt only names the episode: :meth:`rollout` resets the env with that seed,
        and the env's own first observation is what the model sees.

        Args:
            episodes: Rows, one episode seed each.

        Returns:
            A ``datasets.Dataset`` with one column, ``prompt``.

        Raises:
            InvalidArgumentError: ``episodes`` < 1.
        """
        if episodes < 1:
            raise InvalidArgumentError(f"episodes must be >= 1, got {episodes}")
        base = self.seed * SEED_STRIDE
        return Dataset.from_dict(
            {"prompt": [f"{self.env_id} seed={base + k}" for k in range(episodes)]}
        )

    def rollout(self, prompts: Sequence[Any], trainer: GRPOTrainer) -> dict[str, list[Any]]:
        """TRL's ``rollout_func``: play one episode per prompt on the policy being trained.

        Args:
            prompts: This process's prompts, each a row of :meth:`dataset` (repeated per
                generation by TRL's sampler).
            trainer: The ``GRPOTrainer`` calling.

        Returns:
            ``prompt_ids``, ``completion_ids``, ``logprobs`` and ``env_mask`` per episode,
            and the :data:`EPISODE_FIELDS`.

        Raises:
            InvalidArgumentError: A prompt is not a row of :meth:`dataset`; an episode's
                first observation does not fit the model's context; ``max_new_tokens``
                exceeds ``max_completion_length``; or ``use_vllm`` is on.
            ChatTemplateError: The chat template rewrites earlier turns, so an episode is
                not one sequence.
        """
        seeds = [self._seed_of(prompt) for prompt in prompts]
        args = trainer.args
        sampling = self._sampling(args)
        while len(self.envs) < len(seeds):
            self.envs.append(gym.make(self.env_id, **self.env_kwargs))
        mode = 1 if trainer.model is not None and not trainer.model.training else 0
        step = (trainer.state.global_step, mode)
        call = self._calls[1] + 1 if self._calls[0] == step else 0
        self._calls = (step, call)
        keys = [
            (args.seed, trainer.accelerator.process_index, step[0], call, mode, k)
            for k in range(len(seeds))
        ]
        processor = trainer.processing_class
        tokenizer = getattr(processor, "tokenizer", processor)  # a VLM's processor holds one
        with unwrap_model_for_generation(
            trainer.model_wrapped,
            trainer.accelerator,
            gather_deepspeed3_params=args.ds3_gather_for_generation,
            gradient_checkpointing_kwargs=args.gradient_checkpointing_kwargs,
        ) as model:
            training = model.training
            model.eval()
            try:
                agent = _BudgetAgent(
                    model,
                    tokenizer,
                    sampling=sampling,
                    prompt=self.prompt,
                    max_batch_size=max(len(seeds), 1),
                    completion_tokens=args.max_completion_length,
                )
                self.episodes = play(
                    agent,
                    self.envs[: len(seeds)],
                    seeds,
                    max_turns=self.max_turns,
                    keys=keys,
                )
            finally:
                model.train(training)
        return self._as_trl(self.episodes)

    def close(self) -> None:
        """Close the environments."""
        for env in self.envs:
            env.close()

    # ------------------------------------------------------------------ internals

    def _sampling(self, args: Any) -> SamplingConfig:
        """The reply sampling TRL's ``args`` ask for; refuses or flags what it cannot do."""
        if args.use_vllm:
            raise InvalidArgumentError(
                "use_vllm=True: PalaestraEnvs generates on the training model, not in vLLM; "
                "set use_vllm=False"
            )
        ignored = [
            name for name, unset in _IGNORED_SETTINGS.items() if getattr(args, name) != unset
        ]
        if ignored and not self._warned:
            self._warned = True
            warnings.warn(
                f"PalaestraEnvs ignores TRL's {', '.join(ignored)}: replies sample with "
                "temperature, top_p and top_k only, on palaestra's chat formatting",
                UserWarning,
                stacklevel=3,
            )
        budget = args.max_completion_length
        if budget is not None and self.max_new_tokens is not None and self.max_new_tokens > budget:
            raise InvalidArgumentError(
                f"max_new_tokens={self.max_new_tokens} exceeds the trainer's "
                f"max_completion_length={budget}, the token budget of a whole episode: lower "
                "max_new_tokens or raise max_completion_length"
            )
        default = min(SamplingConfig.max_new_tokens, budget or SamplingConfig.max_new_tokens)
        return SamplingConfig(
            max_new_tokens=self.max_new_tokens or default,
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k or 0,
        )

    def _seed_of(self, prompt: Any) -> int:
        match = _PROMPT.match(prompt) if isinstance(prompt, str) else None
        if match is None or match["env"] != self.env_id:
            raise InvalidArgumentError(
                f"rollout_func got the prompt {str(prompt)[:80]!r}, not a row of this "
                f"PalaestraEnvs's dataset: pass train_dataset=envs.dataset() (trainer_kwargs() "
                f"does) for {self.env_id!r}"
            )
        return int(match["seed"])

    def _as_trl(self, episodes: Sequence[Episode]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {
            key: [] for key in ("prompt_ids", "completion_ids", "logprobs", "env_mask")
        }
        for key in EPISODE_FIELDS:
            out[key] = []
        for episode in episodes:
            if not episode.turns:
                raise InvalidArgumentError(
                    f"the first observation of {self.env_id} (seed {episode.seed}) does not "
                    "fit the model's context with max_new_tokens for the reply: lower "
                    "max_new_tokens or use a model with a longer context"
                )
            try:
                ids, mask, _ = concat_tokens(episode)
            except PrefixError as exc:
                raise ChatTemplateError(
                    f"{exc}: TRL trains one sequence per episode, which needs a chat template "
                    "that keeps earlier turns as they were sampled"
                ) from exc
            start = len(episode.turns[0].prompt_ids)
            out["prompt_ids"].append(ids[:start])
            out["completion_ids"].append(ids[start:])
            out["env_mask"].append(mask[start:])
            out["logprobs"].append(concat_logprobs(episode, mask[start:]))
            out["env_return"].append(episode.total_reward)
            out["env_success"].append(episode.success)
            out["env_turns"].append(episode.length)
            out["env_invalid_actions"].append(episode.invalid_actions)
        return out
