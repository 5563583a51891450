"""vLLM's offline engine as a generation backend, inside a generation actor on one GPU.

:class:`VLLMAgent` is an :class:`~palaestra.llm.hf_agent.HFAgent` whose replies vLLM
generates: the same chats, prompts (token ids in), actions and records (token ids and
log-probs out, nothing re-tokenized between turns). Each reply is sampled with a seed drawn
from its episode's stream, so an episode's replies depend on its key only. New weights are
loaded into the running engine (``collective_rpc`` on its workers, then the prefix cache is
dropped) after each update, as TRL's and verl's colocated engines do. vLLM gives no
entropies: the trainer recomputes every sampled token's log-prob and entropy with the
learner (the training-time truth) and logs how far vLLM's log-probs were from them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from palaestra.errors import DependencyNotInstalled, InvalidArgumentError
from palaestra.llm.generation import Generation, SamplingConfig, advance, check_streams
from palaestra.llm.hf_agent import HFAgent
from palaestra.llm.prompting import PromptConfig
from palaestra.optional import require

if TYPE_CHECKING:
    from palaestra.distributed.ray_generation import PolicySource

#: The oldest vLLM with every API used here (``collective_rpc``, ``logprobs_mode``).
MIN_VERSION = "0.11"
#: What this backend calls in vLLM, checked before an engine starts.
NEEDED = ("LLM", "LLM.collective_rpc", "LLM.reset_prefix_cache", "SamplingParams",
          "inputs.TokensPrompt")  # fmt: skip


def require_vllm(vllm: Any = None) -> Any:
    """The ``vllm`` module, checked to have every API the backend calls.

    Raises:
        DependencyNotInstalled: vllm is not installed, or is too old (the message says what
            to install).
    """
    if vllm is None:
        vllm = require("vllm", "vllm", "the vllm generation backend")
    missing = []
    for name in NEEDED:
        value = vllm
        for part in name.split("."):
            value = getattr(value, part, None)
            if value is None and part == "inputs":
                value = _submodule(vllm, "inputs")
        if value is None:
            missing.append(name)
    version = str(getattr(vllm, "__version__", "0"))
    if missing or _older(version, MIN_VERSION):
        lacking = f"lacks {', '.join(missing)}" if missing else f"is older than {MIN_VERSION}"
        raise DependencyNotInstalled(f"vllm {version} {lacking}: pip install 'vllm>={MIN_VERSION}'")
    return vllm


def _older(version: str, minimum: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) < Version(minimum)
    except InvalidVersion:
        return True


def _submodule(vllm: Any, name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"{vllm.__name__}.{name}")
    except (ImportError, AttributeError):
        return None


def _load_weights(worker: Any, weights: list[tuple[str, torch.Tensor]]) -> None:
    """Run on each of the engine's workers: load ``weights`` into its model."""
    runner = worker.model_runner
    model = runner.get_model() if hasattr(runner, "get_model") else runner.model
    model.load_weights(weights=weights)


class VLLMDecoder:
    """Generates replies with a vLLM engine.

    The :class:`~palaestra.llm.generation.Decoder` interface: prompts' token ids in,
    :class:`Generation` out.

    Args:
        llm: The ``vllm.LLM`` engine.
        vllm: The vllm module.
        sampling: Sampling settings.
        stop_ids: Token ids that end a reply.
    """

    def __init__(
        self, llm: Any, vllm: Any, *, sampling: SamplingConfig, stop_ids: Sequence[int]
    ) -> None:
        self.llm, self.vllm, self.sampling, self.stop_ids = llm, vllm, sampling, list(stop_ids)

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        keys: Sequence[Hashable] | None = None,
        streams: Sequence[torch.Generator] | None = None,
    ) -> list[Generation]:
        """One reply per prompt; each sampled with a seed drawn from its stream."""
        sampling = self.sampling
        check_streams(sampling, streams, len(prompts))
        params = [
            self.vllm.SamplingParams(
                n=1,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k or -1,
                max_tokens=sampling.max_new_tokens,
                logprobs=0,
                seed=_seed(streams[k]) if streams and sampling.temperature > 0 else None,
                stop_token_ids=self.stop_ids,
                detokenize=False,
            )
            for k in range(len(prompts))
        ]
        inputs = [self.vllm.inputs.TokensPrompt(prompt_token_ids=list(p)) for p in prompts]
        outputs = self.llm.generate(inputs, params, use_tqdm=False)
        results = []
        for output in outputs:
            completion = output.outputs[0]
            ids = list(completion.token_ids)
            logprobs = [float(completion.logprobs[i][t].logprob) for i, t in enumerate(ids)]
            results.append(
                Generation(
                    token_ids=ids,
                    logprobs=logprobs,
                    entropies=[math.nan] * len(ids),  # vLLM gives none: the learner's
                    finish_reason="stop" if ids and ids[-1] in self.stop_ids else "length",
                )
            )
        return results

    def skip(self, stream: torch.Generator, generation: Generation) -> None:
        """Move ``stream`` past a replayed reply's draw (one seed per sampled reply)."""
        if self.sampling.temperature > 0:
            advance(stream, 1)


def _seed(stream: torch.Generator) -> int:
    # One uniform draw per reply (what :func:`advance` skips), made a 31-bit seed.
    return int(torch.rand((), generator=stream, dtype=torch.float64) * (2**31 - 1))


class _ModelConfig:
    """What :class:`HFAgent` reads of a model: its config (vLLM holds the weights)."""

    def __init__(self, config: Any) -> None:
        self.config = config


class VLLMAgent(HFAgent):
    """An :class:`HFAgent` whose replies a vLLM engine generates.

    Args:
        llm: The ``vllm.LLM`` engine.
        vllm: The vllm module.
        tokenizer: The model's tokenizer.
        config: The model's Hugging Face config.
        **kwargs: :class:`HFAgent`'s settings (sampling, prompt, seed, max_batch_size).
    """

    def __init__(self, llm: Any, vllm: Any, tokenizer: Any, config: Any, **kwargs: Any) -> None:
        self.llm, self.vllm = llm, vllm
        super().__init__(_ModelConfig(config), tokenizer, **kwargs)

    def decoder(self) -> Any:
        """A :class:`VLLMDecoder` with this agent's settings."""
        return VLLMDecoder(self.llm, self.vllm, sampling=self.sampling, stop_ids=self.stop_ids)

    def load_weights(self, weights: dict[str, Any]) -> None:
        """Load new weights into the engine's workers; drop the cache of the old ones."""
        self.llm.collective_rpc(_load_weights, args=(list(weights.items()),))
        self.llm.reset_prefix_cache()


def vllm_agent(
    source: PolicySource, *, sampling: SamplingConfig, prompt: PromptConfig, batch: int
) -> VLLMAgent:
    """A :class:`VLLMAgent` on this process's GPU for the model ``source`` names."""
    vllm = require_vllm()
    from transformers import AutoConfig, AutoTokenizer

    from palaestra.llm.models import resolve_model

    # collective_rpc sends _load_weights (a function) to the engine's workers, which vLLM's
    # serializer refuses unless allowed; the actor's process is the engine's only client.
    os.environ.setdefault("VLLM_ALLOW_INSECURE_SERIALIZATION", "1")
    where = resolve_model(source.model)
    if where.gguf_file:
        raise InvalidArgumentError("the vllm backend loads Hugging Face folders, not .gguf files")
    llm = vllm.LLM(
        model=where.location,
        dtype="bfloat16",
        gpu_memory_utilization=source.gpu_memory_utilization,
        max_num_seqs=batch,
        enable_prefix_caching=True,
        # Log-probs after temperature, as palaestra's decoder records them (with top-k or
        # top-p set, vLLM's are renormalized over the kept tokens).
        logprobs_mode="processed_logprobs",
        seed=0,
    )
    return VLLMAgent(
        llm,
        vllm,
        AutoTokenizer.from_pretrained(where.location),
        AutoConfig.from_pretrained(where.location),
        sampling=sampling,
        prompt=prompt,
        max_batch_size=batch,
    )
