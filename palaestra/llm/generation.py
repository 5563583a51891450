"""Batched sampling with a KV cache, recording each token's log-probability and entropy.

Prompts of different lengths are left-padded into one batch; the prompt is run once
(prefill), then one token per step for every sequence, reusing the cache. Across the turns
of multi-turn episodes, :class:`Decoder` keeps each episode's cache and runs only the tokens
a turn adds.
Each sequence samples from its own :class:`torch.Generator` (a *stream*, one uniform draw
per sampled token, by inverse transform), never from one shared by the batch: a sequence's
tokens depend on its stream's key only, not on which other sequences share its batch, its
process or its machine. That is what lets a rollout be split across processes, Ray actors
or restarts and still be the same rollout. Each sampled token's log-probability and the
entropy of the distribution it was drawn from (after temperature, before top-k/top-p
truncation) are recorded for the trainer.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from palaestra.errors import InvalidArgumentError


@dataclass(frozen=True)
class SamplingConfig:
    """How replies are sampled.

    Attributes:
        max_new_tokens: Reply length limit (a longer reply ends with ``finish_reason="length"``).
        temperature: Softmax temperature; 0 means greedy decoding.
        top_p: Nucleus sampling mass (1 keeps everything).
        top_k: Keep the k most likely tokens (0 keeps everything).
    """

    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise InvalidArgumentError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise InvalidArgumentError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise InvalidArgumentError(f"top_p must lie in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise InvalidArgumentError(f"top_k must be >= 0, got {self.top_k}")


@dataclass(frozen=True)
class Generation:
    """One sampled reply.

    Attributes:
        token_ids: The sampled ids (the stop token included when one was sampled).
        logprobs: Log-probability of each sampled id.
        entropies: Entropy of the distribution each id was sampled from.
        finish_reason: ``stop`` or ``length``.
    """

    token_ids: list[int]
    logprobs: list[float]
    entropies: list[float]
    finish_reason: str


def stream(*key: int) -> torch.Generator:
    """The sampling stream of one sequence, keyed by integers (a seed, a position, ...).

    The same key gives the same stream on any machine; different keys give independent
    ones (the key is hashed into the generator's seed).
    """
    digest = hashlib.blake2b(repr(tuple(int(k) for k in key)).encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


def check_streams(
    sampling: SamplingConfig, streams: Sequence[torch.Generator] | None, prompts: int
) -> None:
    """Refuse a call that samples without one stream per prompt.

    Raises:
        InvalidArgumentError: Sampling (temperature > 0) without ``prompts`` streams.
    """
    if sampling.temperature > 0 and (streams is None or len(streams) != prompts):
        raise InvalidArgumentError("sampling needs one stream (torch.Generator) per prompt")


def advance(generator: torch.Generator, draws: int) -> None:
    """Move ``generator`` past ``draws`` sampled tokens (one uniform draw each)."""
    for _ in range(draws):
        torch.rand((), generator=generator, dtype=torch.float64)


def generate(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    sampling: SamplingConfig,
    stop_ids: Sequence[int],
    pad_id: int,
    generator: torch.Generator,
) -> list[Generation]:
    """Sample one reply per prompt, all in one batch (a one-call :class:`Decoder`).

    Args:
        model: A causal language model (Hugging Face ``transformers``).
        prompts: Token ids of each prompt (non-empty).
        sampling: Sampling parameters.
        stop_ids: Token ids that end a reply (end-of-turn, end-of-text).
        pad_id: Id used for padding (masked out).
        generator: Seeds one sampling stream per prompt, in order.
    """
    decoder = Decoder(model, sampling=sampling, stop_ids=stop_ids, pad_id=pad_id)
    seeds = torch.randint(0, 2**62, (len(prompts),), generator=generator).tolist()
    return decoder.generate(prompts, streams=[stream(seed) for seed in seeds])


class Decoder:
    """Samples replies for a set of sequences over several calls, keeping their KV cache.

    In a multi-turn rollout each new prompt is the previous prompt, the sampled reply and
    the next observation. When every prompt of a call extends what the cache already holds
    for it, only the new tokens are run through the model; otherwise the cache is rebuilt
    from the full prompts. Rows are identified by ``keys``; a call may drop rows (finished
    episodes), never add them to a live cache.

    Layout of the cache: one row per sequence; real tokens, left padding and the tokens fed
    after a row had already stopped are told apart by the attention mask, and position ids
    count real tokens only, so the model sees each sequence exactly as if alone.

    Args:
        model: A causal language model.
        sampling: Sampling parameters.
        stop_ids: Token ids that end a reply.
        pad_id: Id used for padding (masked out).
    """

    def __init__(
        self,
        model: Any,
        *,
        sampling: SamplingConfig,
        stop_ids: Sequence[int],
        pad_id: int,
    ) -> None:
        self.model = model
        self.sampling = sampling
        self.pad_id = pad_id
        self.device = next(model.parameters()).device
        self.stops = torch.tensor(sorted(set(stop_ids)), dtype=torch.long, device=self.device)
        self._cache: Any = None
        self._cache_name = cache_argument(model)
        self._mask = torch.zeros((0, 0), dtype=torch.long, device=self.device)
        self._tokens: list[list[int]] = []  # real tokens held in the cache, per row
        self._keys: list[Hashable] = []

    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        keys: Sequence[Hashable] | None = None,
        streams: Sequence[torch.Generator] | None = None,
    ) -> list[Generation]:
        """Sample one reply per prompt; ``keys`` name the rows across calls.

        ``streams`` are the prompts' sampling generators (see :func:`stream`), needed unless
        decoding is greedy; each draws once per token its row samples.
        """
        if not prompts:
            return []
        if any(len(p) == 0 for p in prompts):
            raise InvalidArgumentError("every prompt needs at least one token")
        check_streams(self.sampling, streams, len(prompts))
        keys = list(keys) if keys is not None else list(range(len(prompts)))
        new_tokens = self._extensions(prompts, keys)
        logits = self._feed(new_tokens)
        lengths = torch.tensor([len(t) for t in self._tokens], device=self.device)
        steps: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        done = torch.zeros(len(prompts), dtype=torch.bool, device=self.device)
        for _ in range(self.sampling.max_new_tokens):
            chosen, chosen_logprob, entropy = _sample(
                logits.float(), self.sampling, streams or [], live=~done
            )
            steps.append((chosen, chosen_logprob, entropy))
            was_done = done.clone()
            done |= torch.isin(chosen, self.stops)
            if bool(done.all()):
                break
            # Rows that had already stopped are fed a token too (one batch), masked out.
            real = (~was_done).long()
            self._mask = torch.cat([self._mask, real[:, None]], dim=1)
            output = self.model(
                input_ids=chosen[:, None],
                attention_mask=self._mask,
                position_ids=lengths[:, None],
                use_cache=True,
                **{self._cache_name: self._cache},
            )
            self._cache = getattr(output, self._cache_name)
            logits = output.logits[:, -1, :]
            lengths = lengths + real
            for row in torch.nonzero(real).flatten().tolist():
                self._tokens[row].append(int(chosen[row]))
        return self._results(steps, len(prompts))

    def skip(self, stream: torch.Generator, generation: Generation) -> None:
        """Move ``stream`` past the draws that sampling ``generation`` took (a replayed reply)."""
        if self.sampling.temperature > 0:
            advance(stream, len(generation.token_ids))

    def _extensions(
        self, prompts: Sequence[Sequence[int]], keys: list[Hashable]
    ) -> list[list[int]]:
        """Keep the cached rows of ``keys`` and return the tokens each prompt adds to them."""
        index = {key: row for row, key in enumerate(self._keys)}
        reusable = self._cache is not None and all(
            key in index
            and len(prompt) > len(self._tokens[index[key]])
            and list(prompt[: len(self._tokens[index[key]])]) == self._tokens[index[key]]
            for key, prompt in zip(keys, prompts, strict=True)
        )
        if not reusable:
            self._cache = None
            self._mask = torch.zeros((len(prompts), 0), dtype=torch.long, device=self.device)
            self._tokens = [[] for _ in prompts]
            self._keys = keys
            return [list(p) for p in prompts]
        rows = [index[key] for key in keys]
        if rows != list(range(len(self._keys))):
            selected = torch.tensor(rows, dtype=torch.long, device=self.device)
            self._cache.batch_select_indices(selected)
            self._mask = self._mask[selected]
            self._tokens = [self._tokens[row] for row in rows]
            self._keys = keys
        return [list(p[len(t) :]) for p, t in zip(prompts, self._tokens, strict=True)]

    def _feed(self, new_tokens: list[list[int]]) -> torch.Tensor:
        """Run the new tokens (left-padded into one block) and return the last logits."""
        width = max(len(t) for t in new_tokens)
        block = torch.full((len(new_tokens), width), self.pad_id, dtype=torch.long)
        block_mask = torch.zeros((len(new_tokens), width), dtype=torch.long)
        for row, tokens in enumerate(new_tokens):
            block[row, width - len(tokens) :] = torch.tensor(tokens, dtype=torch.long)
            block_mask[row, width - len(tokens) :] = 1
        block, block_mask = block.to(self.device), block_mask.to(self.device)
        start = torch.tensor([len(t) for t in self._tokens], device=self.device)
        positions = (start[:, None] + block_mask.cumsum(-1) - 1).clamp(min=0)
        self._mask = torch.cat([self._mask, block_mask], dim=1)
        # Only the last position's logits are needed: skipping the vocabulary projection of
        # the whole prompt is most of the prefill's cost for small models.
        output = self.model(
            input_ids=block,
            attention_mask=self._mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_name: self._cache},
        )
        self._cache = getattr(output, self._cache_name)
        for tokens, extra in zip(self._tokens, new_tokens, strict=True):
            tokens.extend(extra)
        last: torch.Tensor = output.logits[:, -1, :]
        return last

    def _results(
        self, steps: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], batch: int
    ) -> list[Generation]:
        ids, lps, ents = (torch.stack(column, dim=1).cpu() for column in zip(*steps, strict=True))
        stopped = torch.isin(ids, self.stops.cpu())
        results = []
        for row in range(batch):
            hits = torch.nonzero(stopped[row]).flatten()
            end = int(hits[0]) + 1 if len(hits) else ids.size(1)  # keep the stop token itself
            results.append(
                Generation(
                    token_ids=ids[row, :end].tolist(),
                    logprobs=lps[row, :end].tolist(),
                    entropies=ents[row, :end].tolist(),
                    finish_reason="stop" if len(hits) else "length",
                )
            )
        return results


def cache_argument(model: Any) -> str:
    """The name of the KV-cache argument and output field of ``model``'s forward pass.

    transformers 5.2x renamed ``past_key_values`` to ``cache`` (the old name warns, and goes
    in 5.40); earlier releases know only the old one. Wrappers (DDP's ``module``, peft's
    base model) are looked through, since their own ``forward`` takes ``**kwargs``.
    """
    inner = getattr(model, "module", model)
    if hasattr(inner, "get_base_model"):
        inner = inner.get_base_model()
    parameters = inspect.signature(inner.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _sample(
    logits: torch.Tensor,
    sampling: SamplingConfig,
    streams: Sequence[torch.Generator],
    *,
    live: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the chosen ids, their log-probabilities and the distributions' entropies.

    Only ``live`` rows draw from their stream (a row that has stopped draws nothing, so its
    stream does not depend on how long the other rows run); the others take the argmax.
    """
    if sampling.temperature == 0:
        log_probs = torch.log_softmax(logits, dim=-1)
        chosen = log_probs.argmax(dim=-1)
    else:
        log_probs = torch.log_softmax(logits / sampling.temperature, dim=-1)
        probs = torch.softmax(_truncate(log_probs, sampling), dim=-1)
        # Inverse transform: the first token whose cumulative mass exceeds u, one uniform
        # u per row from the row's own CPU stream (never the device's RNG).
        cdf = probs.double().cumsum(-1)
        u = torch.zeros(len(streams), dtype=torch.float64)
        for row in torch.nonzero(live.cpu()).flatten().tolist():
            u[row] = torch.rand((), generator=streams[row], dtype=torch.float64)
        target = u.to(cdf.device) * cdf[:, -1]
        picked = torch.searchsorted(cdf, target[:, None], right=True).squeeze(1)
        # u·total can round up to the total: never past the last token with mass.
        last = (probs > 0).long().cumsum(-1).argmax(-1)
        chosen = torch.where(live, torch.minimum(picked, last), probs.argmax(-1))
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    return chosen, log_probs.gather(-1, chosen.unsqueeze(1)).squeeze(1), entropy


def _truncate(log_probs: torch.Tensor, sampling: SamplingConfig) -> torch.Tensor:
    filtered = log_probs
    if sampling.top_k > 0:
        k = min(sampling.top_k, log_probs.size(-1))
        threshold = torch.topk(log_probs, k, dim=-1).values[:, -1:]
        filtered = filtered.masked_fill(filtered < threshold, float("-inf"))
    if sampling.top_p < 1.0:
        sorted_logp, order = torch.sort(filtered, descending=True, dim=-1)
        cumulative = sorted_logp.exp().cumsum(-1)
        remove = cumulative - sorted_logp.exp() > sampling.top_p  # keep the token crossing p
        sorted_logp = sorted_logp.masked_fill(remove, float("-inf"))
        filtered = torch.full_like(filtered, float("-inf")).scatter(-1, order, sorted_logp)
    return filtered
