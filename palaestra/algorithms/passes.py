"""Forward passes of the policy: training log-probs, the no-grad pre-pass, answer scores."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from palaestra.algorithms.batch import Sample, TokenBatch, build_samples
from palaestra.algorithms.losses import token_logprobs_and_entropy
from palaestra.rollout.records import Episode


class PolicyPasses:
    """Runs the policy (or its frozen reference) over token batches.

    Args:
        model: The trained model as the optimizer sees it (DDP-wrapped under accelerate).
        policy: The unwrapped model (eval/train switches, LoRA adapters).
        reference: A frozen copy for the KL (None: the base model with LoRA disabled).
        device: Where the model lives.
        bf16: Autocast to bf16.
        temperature: The sampling temperature (the trained policy is the one sampled).
        micro_batch_size: Sequences per no-grad forward.
        pad_id: Padding token id.
    """

    def __init__(
        self,
        model: Any,
        policy: Any,
        reference: Any,
        *,
        device: torch.device,
        bf16: bool,
        temperature: float,
        micro_batch_size: int,
        pad_id: int,
    ) -> None:
        self.model, self.policy, self.reference = model, policy, reference
        self.device, self.bf16 = device, bf16
        self.temperature = temperature
        self.micro_batch_size, self.pad_id = micro_batch_size, pad_id

    def forward(
        self,
        part: TokenBatch,
        *,
        hidden: bool = False,
        model: Any = None,
        temperature: float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Log-probs and entropies ``[n, L-1]`` of the targets (and last hidden states).

        Logits are computed only at positions where some row has a trained token: the
        vocabulary projection of prompts and observations is most of a small model's cost.
        """
        keep = part.loss_positions().to(self.device)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            output = (model or self.model)(
                input_ids=part.input_ids.to(self.device),
                attention_mask=part.attention_mask.to(self.device),
                position_ids=part.position_ids.to(self.device),
                output_hidden_states=hidden,
                use_cache=False,
                logits_to_keep=keep,
            )
        targets = part.targets.to(self.device)[:, keep]
        kept_logprobs, kept_entropy = token_logprobs_and_entropy(
            output.logits, targets, temperature or self.temperature
        )
        shape = part.targets.shape
        logprobs = torch.zeros(shape, device=self.device).index_copy(1, keep, kept_logprobs)
        entropy = torch.zeros(shape, device=self.device).index_copy(1, keep, kept_entropy)
        states = output.hidden_states[-1][:, :-1] if hidden else None
        return logprobs, entropy, states

    @torch.no_grad()
    def pre_pass(
        self,
        batch: TokenBatch,
        *,
        old: bool,
        ref: bool,
        values: Callable[[torch.Tensor], torch.Tensor] | None,
        rows: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The no-grad pass: each asked-for tensor ``[n, L-1]`` of the batch.

        ``old``: log-probs of the current policy; ``ref``: of the reference; ``values``:
        the value head on the last hidden states. Only ``rows`` (default: all) are
        computed; the others are 0.
        """
        wanted = {"old": old, "ref": ref, "values": values is not None}
        out = {k: torch.zeros(batch.loss_mask.shape) for k, on in wanted.items() if on}
        if not out:
            return out
        self.policy.eval()
        if rows is None:
            rows = torch.arange(batch.input_ids.size(0))
        # A process whose share is empty computes nothing (split would give one empty part).
        parts = torch.split(rows, self.micro_batch_size) if len(rows) else ()
        for chunk in parts:
            part = batch.select(chunk)
            width = part.targets.size(1)
            if old or values is not None:
                # The unwrapped policy: a no-grad pass is no DDP step (DDP's forward would
                # exchange buffers, as many times as this process has micro-batches).
                logprobs, _, hidden = self.forward(
                    part, hidden=values is not None, model=self.policy
                )
                if old:
                    out["old"][chunk, -width:] = logprobs.float().cpu()
                if values is not None:
                    assert hidden is not None
                    out["values"][chunk, -width:] = values(hidden).float().cpu()
            if ref:
                with self._reference() as reference:
                    logprobs, _, _ = self.forward(part, model=reference)
                out["ref"][chunk, -width:] = logprobs.float().cpu()
        return out

    @torch.no_grad()
    def rescore(self, episodes: Sequence[Episode], temperature: float | None = None) -> float:
        """Give every sampled token the learner's log-prob and entropy; return the mean gap.

        For replies another engine sampled (vLLM): the learner's numbers are the
        training-time truth, at the ``temperature`` the replies were sampled at (default:
        the run's). Returns the mean absolute difference between the sampler's log-probs
        and the learner's.
        """
        turns = [turn for episode in episodes for turn in episode.turns]
        samples = build_samples(episodes, "per_turn")
        gap, tokens = 0.0, 0
        self.policy.eval()
        for start in range(0, len(samples), self.micro_batch_size):
            part = TokenBatch.collate(samples[start : start + self.micro_batch_size], self.pad_id)
            logprobs, entropy, _ = self.forward(part, model=self.policy, temperature=temperature)
            mask = part.loss_mask.bool().to(logprobs.device)
            for row, turn in enumerate(turns[start : start + self.micro_batch_size]):
                learner = logprobs[row][mask[row]].float().cpu().tolist()
                gap += sum(abs(a - b) for a, b in zip(turn.logprobs, learner, strict=True))
                tokens += len(learner)
                turn.logprobs = learner
                turn.entropies = entropy[row][mask[row]].float().cpu().tolist()
        return gap / max(tokens, 1)

    @torch.no_grad()
    def answer_logprobs(
        self, requests: Sequence[tuple[Sequence[int], Sequence[int]]]
    ) -> list[float]:
        """Mean teacher-forced log-prob of each answer after its context, batched.

        Args:
            requests: (context ids, answer ids) pairs; the answer follows the context as the
                assistant's reply would.
        """
        samples = [
            Sample(
                input_ids=[*context, *answer],
                loss_mask=[0] * len(context) + [1] * len(answer),
                turn_index=[-1] * (len(context) + len(answer)),
                sample_logprobs=[0.0] * (len(context) + len(answer)),
                episode=k,
            )
            for k, (context, answer) in enumerate(requests)
        ]
        scores: list[float] = []
        self.policy.eval()
        for start in range(0, len(samples), self.micro_batch_size):
            part = TokenBatch.collate(samples[start : start + self.micro_batch_size], self.pad_id)
            logprobs, _, _ = self.forward(part, model=self.policy)
            mask = part.loss_mask.to(logprobs.device)
            scores += ((logprobs * mask).sum(-1) / mask.sum(-1).clamp(min=1)).tolist()
        return scores

    @contextmanager
    def _reference(self) -> Iterator[Any]:
        """The frozen reference policy (the base model with LoRA adapters disabled)."""
        if self.reference is not None:
            yield self.reference
            return
        with self.policy.disable_adapter():
            yield self.policy
