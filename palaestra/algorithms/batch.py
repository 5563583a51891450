"""Episodes to training sequences: the ``concat`` and ``per_turn`` layouts.

* ``concat``: one sequence per episode, the prompts and responses of all its turns in order
  (:func:`~palaestra.rollout.records.concat_tokens`); the loss mask selects the sampled
  response tokens, so observation and template tokens are never trained. Needs
  full-history prompts.
* ``per_turn``: one sequence per turn, its prompt (as the model saw it, e.g. the last k
  turns) followed by its response; the loss mask selects the response.

Either way every trained token knows its episode and turn, so turn-level advantages are
broadcast to the tokens of their turn (:meth:`TokenBatch.broadcast`), and the sampling
log-probabilities recorded at rollout time are aligned with the tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from palaestra.rollout.records import Episode, concat_logprobs, concat_tokens

Layout = Literal["concat", "per_turn"]
LAYOUTS: tuple[str, ...] = ("concat", "per_turn")


@dataclass
class Sample:
    """One training sequence.

    Attributes:
        input_ids: Token ids.
        loss_mask: 1 on sampled response tokens.
        turn_index: Turn of each token (``-1`` outside responses).
        sample_logprobs: Rollout log-probability of each token (0 outside responses).
        episode: Index of the episode in the rollout.
    """

    input_ids: list[int]
    loss_mask: list[int]
    turn_index: list[int]
    sample_logprobs: list[float]
    episode: int


def build_samples(episodes: Sequence[Episode], layout: Layout) -> list[Sample]:
    """Turn ``episodes`` into training sequences in ``layout``."""
    samples = []
    for index, episode in enumerate(episodes):
        if layout == "concat":
            ids, mask, turns = concat_tokens(episode)
            samples.append(Sample(ids, mask, turns, concat_logprobs(episode, mask), index))
            continue
        for t, turn in enumerate(episode.turns):
            prompt, response = len(turn.prompt_ids), len(turn.response_ids)
            samples.append(
                Sample(
                    input_ids=[*turn.prompt_ids, *turn.response_ids],
                    loss_mask=[0] * prompt + [1] * response,
                    turn_index=[-1] * prompt + [t] * response,
                    sample_logprobs=[0.0] * prompt + list(turn.logprobs),
                    episode=index,
                )
            )
    return samples


@dataclass
class TokenBatch:
    """Samples padded into tensors, shifted so position t holds the token predicted there.

    ``input_ids`` is the full sequence, left-padded so every sequence ends in the last
    column (responses of the ``per_turn`` layout then share their positions, and the
    trainer computes logits only there); ``position_ids`` count real tokens. The other
    tensors are aligned with the *targets* ``input_ids[:, 1:]`` (length L − 1).

    Attributes:
        input_ids: ``[n, L]`` left-padded ids.
        attention_mask: ``[n, L]``.
        position_ids: ``[n, L]`` positions of the real tokens (0 on padding).
        targets: ``[n, L-1]`` the next token at each position.
        loss_mask: ``[n, L-1]`` 1 where the target is a sampled response token.
        turn_index: ``[n, L-1]`` turn of each target (``-1`` elsewhere).
        episode: ``[n]`` episode of each sample.
        sample_logprobs: ``[n, L-1]`` rollout log-probabilities of the targets.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    targets: torch.Tensor
    loss_mask: torch.Tensor
    turn_index: torch.Tensor
    episode: torch.Tensor
    sample_logprobs: torch.Tensor

    @classmethod
    def collate(cls, samples: Sequence[Sample], pad_id: int) -> TokenBatch:
        """Left-pad ``samples`` into one batch."""
        width = max(len(s.input_ids) for s in samples)

        def pad(rows: Sequence[Sequence[float]], value: float, dtype: torch.dtype) -> torch.Tensor:
            out = torch.full((len(rows), width), value, dtype=dtype)
            for k, row in enumerate(rows):
                if row:
                    out[k, width - len(row) :] = torch.tensor(row, dtype=dtype)
            return out

        ids = pad([s.input_ids for s in samples], pad_id, torch.long)
        attention = pad([[1] * len(s.input_ids) for s in samples], 0, torch.long)
        return cls(
            input_ids=ids,
            attention_mask=attention,
            position_ids=(attention.cumsum(-1) - 1).clamp(min=0),
            targets=ids[:, 1:],
            loss_mask=pad([s.loss_mask for s in samples], 0, torch.float32)[:, 1:],
            turn_index=pad([s.turn_index for s in samples], -1, torch.long)[:, 1:],
            episode=torch.tensor([s.episode for s in samples], dtype=torch.long),
            sample_logprobs=pad([s.sample_logprobs for s in samples], 0.0, torch.float32)[:, 1:],
        )

    def broadcast(self, turn_values: Sequence[Sequence[float]]) -> torch.Tensor:
        """Token tensor holding ``turn_values[episode][turn]`` at each trained token."""
        out = torch.zeros(self.loss_mask.shape, dtype=torch.float32)
        for row in range(self.targets.size(0)):
            values = turn_values[int(self.episode[row])]
            turns = self.turn_index[row]
            selected = turns >= 0
            if selected.any():
                lookup = torch.tensor(list(values), dtype=torch.float32)
                out[row, selected] = lookup[turns[selected]]
        return out * self.loss_mask

    def broadcast_tokens(self, token_values: Sequence[Sequence[float]]) -> torch.Tensor:
        """Token tensor holding each episode's response-token values, in order.

        ``token_values[episode]`` lists one value per sampled token of the episode, turn
        after turn (for example the sampling entropies); they are placed on the trained
        tokens of the episode's rows in either layout.
        """
        out = torch.zeros(self.loss_mask.shape, dtype=torch.float32)
        used = [0] * len(token_values)
        for row in range(self.targets.size(0)):
            episode = int(self.episode[row])
            positions = torch.nonzero(self.loss_mask[row]).flatten()
            start = used[episode]
            values = list(token_values[episode][start : start + len(positions)])
            out[row, positions] = torch.tensor(values, dtype=torch.float32)
            used[episode] += len(positions)
        return out

    def select(self, rows: slice | torch.Tensor) -> TokenBatch:
        """A micro-batch of rows, with the padding columns none of them needs cut off."""
        part = {name: getattr(self, name)[rows] for name in self.__dataclass_fields__}
        length = int(part["attention_mask"].sum(-1).max())
        for name in ("input_ids", "attention_mask", "position_ids"):
            part[name] = part[name][:, -length:]
        for name in ("targets", "loss_mask", "turn_index", "sample_logprobs"):
            part[name] = part[name][:, -(length - 1) :] if length > 1 else part[name][:, :0]
        return TokenBatch(**part)

    def loss_positions(self) -> torch.Tensor:
        """Target positions where some row has a trained token (where logits are needed)."""
        return torch.nonzero(self.loss_mask.any(0)).flatten()


def mini_batch_rows(
    extra: torch.Tensor, count: int, *, keep: torch.Tensor | None = None
) -> list[torch.Tensor]:
    """The rows of each of ``count`` mini-batches (one optimizer step each).

    Main rows and extra rows (``extra``, ``[n]`` bool) are each cut into ``count``
    contiguous, nearly equal parts, and mini-batch k takes part k of both, so every
    optimizer step sees both loss terms in proportion. Rows stay in rollout order (groups
    together), as verl splits its batches. Only rows in ``keep`` (default: all) are used;
    empty mini-batches are left out.
    """
    keep = torch.ones_like(extra) if keep is None else keep
    main = torch.nonzero(~extra & keep).flatten()
    rest = torch.nonzero(extra & keep).flatten()
    parts = zip(torch.tensor_split(main, count), torch.tensor_split(rest, count), strict=True)
    return [torch.cat([a, b]) for a, b in parts if len(a) + len(b)]
