"""The shared multi-turn RL trainer every algorithm plugs into.

One iteration, top to bottom (:meth:`Trainer.iteration`):

1. **rollout**: ``groups`` seeds, ``group_size`` episodes each, played at once by an
   :class:`~palaestra.agents.hf.HFAgent` on the current policy (exact token ids kept);
2. **filter**: the algorithm may drop episodes (DAPO's dynamic sampling);
3. **batch**: episodes become token sequences in the ``concat`` or ``per_turn`` layout;
4. **pre-pass** (no gradient, only when needed): old log-probs for several PPO epochs,
   reference log-probs for the KL, values for PPO;
5. **advantages**: the algorithm's, broadcast to tokens;
6. **update**: per micro-batch, forward, the algorithm's token loss aggregated over the
   whole batch, KL and extra terms, backward (gradient accumulation); then gradient
   clipping, an optimizer and a scheduler step.

Devices: CPU or CUDA through one code path (``accelerate``): bf16 autocast, gradient
checkpointing and LoRA (peft) are switches; under ``accelerate launch`` each process plays
its own seeds and gradients are averaged (DDP). Runs write ``metrics.jsonl``, TensorBoard
logs, checkpoints (model, optimizer, scheduler, sampling RNG, algorithm state) and, at the
end, ``curves.png``; ``resume=True`` continues from the last checkpoint to the same numbers
as an unbroken run.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import torch

from palaestra.agents.generation import SamplingConfig
from palaestra.agents.hf import HFAgent
from palaestra.agents.models import load_model
from palaestra.agents.prompting import EXTRACT_MODES, ExtractMode, PromptConfig
from palaestra.agents.records import Episode
from palaestra.algorithms.base import Algorithm, LossContext
from palaestra.algorithms.batch import LAYOUTS, Layout, Sample, TokenBatch, build_samples
from palaestra.algorithms.losses import (
    Normalizer,
    clip_cov,
    kl_cov,
    kl_k3,
    token_covariance,
    token_logprobs_and_entropy,
)
from palaestra.algorithms.sft import demonstrations, supervised_steps
from palaestra.errors import InvalidArgumentError, PalaestraError, did_you_mean
from palaestra.progress import track

Schedule = Literal["constant", "linear", "cosine"]
Precision = Literal["auto", "fp32", "bf16"]


class TrainingError(PalaestraError):
    """The run stopped (NaN loss, an environment error); the message names the last checkpoint."""


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """A training run.

    Attributes:
        env: Environment id, e.g. palaestra/Bandit-v0.
        env_kwargs: JSON object of environment arguments, e.g. '{"horizon": 1}'.
        model: Model spec: tiny, smollm2, a folder, a .gguf file or a hub id.
        steps: RL iterations (rollout + update).
        groups: Distinct seeds per iteration.
        group_size: Episodes per seed (G).
        seed: Seed of the run (rollout seeds, sampling, weight init of new heads).
        lr: Learning rate (AdamW).
        weight_decay: AdamW weight decay.
        warmup_steps: Linear warm-up iterations.
        schedule: Learning-rate schedule after warm-up: constant, linear or cosine.
        max_grad_norm: Gradient clipping norm.
        micro_batch_size: Sequences per forward pass (gradients accumulate over the batch).
        ppo_epochs: Passes over each batch (1: on-policy, ratio = 1 at the first pass).
        layout: concat (one sequence per episode) or per_turn (one per turn).
        history: Show the model only the last k turns (needs layout per_turn).
        max_new_tokens: Reply length limit.
        temperature: Sampling temperature (the policy trained is the one sampled).
        extract: How replies become actions: whole, last_line, tag or choice.
        max_turns: Cut episodes after this many turns.
        device: auto, cpu, cuda or cuda:N.
        precision: auto (bf16 on CUDA, fp32 on CPU), fp32 or bf16 (autocast).
        gradient_checkpointing: Recompute activations in the backward pass.
        lora_rank: LoRA rank (0: train every weight); needs peft.
        lora_alpha: LoRA alpha.
        sft_steps: Supervised warm-start steps before RL (0: none).
        sft_agent: Scripted agent whose play is imitated (oracle, random, ...).
        sft_episodes: Demonstration episodes.
        sft_lr: Learning rate of the warm start.
        out: Run folder.
        checkpoint_every: Save a checkpoint every this many iterations (and at the end).
        keep_checkpoints: How many recent checkpoints to keep.
        resume: Continue from the last checkpoint in out.
        tensorboard: Also write TensorBoard logs.
        progress: Show a progress bar.
    """

    env: str = "palaestra/Bandit-v0"
    env_kwargs: str = "{}"
    model: str = "tiny"
    steps: int = 50
    groups: int = 8
    group_size: int = 8
    seed: int = 0
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: Schedule = "constant"
    max_grad_norm: float = 1.0
    micro_batch_size: int = 16
    ppo_epochs: int = 1
    layout: Layout = "concat"
    history: int | None = None
    max_new_tokens: int = 16
    temperature: float = 1.0
    extract: ExtractMode = "whole"
    max_turns: int | None = None
    device: str = "auto"
    precision: Precision = "auto"
    gradient_checkpointing: bool = False
    lora_rank: int = 0
    lora_alpha: int = 16
    sft_steps: int = 0
    sft_agent: str = "oracle"
    sft_episodes: int = 64
    sft_lr: float = 1e-3
    out: Path = Path("runs/train")
    checkpoint_every: int = 10
    keep_checkpoints: int = 2
    resume: bool = False
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        positive = (
            "steps",
            "groups",
            "group_size",
            "micro_batch_size",
            "ppo_epochs",
            "max_new_tokens",
            "checkpoint_every",
            "keep_checkpoints",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.sft_lr <= 0:
            raise InvalidArgumentError("lr and sft_lr must be positive")
        if self.layout not in LAYOUTS:
            raise InvalidArgumentError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.extract not in EXTRACT_MODES:
            raise InvalidArgumentError(
                f"extract must be one of {EXTRACT_MODES}, got {self.extract!r}"
            )
        if self.history is not None and self.layout != "per_turn":
            raise InvalidArgumentError(
                "history (a window of past turns) needs layout=per_turn: windowed prompts do "
                "not extend each other, so an episode is not one sequence"
            )
        if self.temperature <= 0:
            raise InvalidArgumentError(
                f"temperature must be positive for RL, got {self.temperature}"
            )
        if self.schedule not in ("constant", "linear", "cosine"):
            raise InvalidArgumentError(
                f"schedule must be constant, linear or cosine, got {self.schedule!r}"
            )
        if self.precision not in ("auto", "fp32", "bf16"):
            raise InvalidArgumentError(
                f"precision must be auto, fp32 or bf16, got {self.precision!r}"
            )
        if self.env not in gym.registry:
            raise InvalidArgumentError(
                f"unknown environment {self.env!r}{did_you_mean(self.env, gym.registry)}"
            )
        self.parsed_env_kwargs()

    def parsed_env_kwargs(self) -> dict[str, Any]:
        """``env_kwargs`` as a dict."""
        try:
            value = json.loads(self.env_kwargs)
        except json.JSONDecodeError as exc:
            raise InvalidArgumentError(f"env_kwargs is not valid JSON: {exc.msg}") from exc
        if not isinstance(value, dict):
            raise InvalidArgumentError(f"env_kwargs must be a JSON object, got {self.env_kwargs!r}")
        return value


class Trainer:
    """Runs :class:`TrainConfig` with an :class:`~palaestra.algorithms.base.Algorithm`.

    Args:
        config: The run.
        algorithm: The algorithm (with its own config).
    """

    def __init__(self, config: TrainConfig, algorithm: Algorithm) -> None:
        from accelerate import Accelerator

        self.config = config
        self.algorithm = algorithm
        self.env_kwargs = config.parsed_env_kwargs()
        probe = gym.make(config.env, **self.env_kwargs)
        try:
            algorithm.check_env(probe)
        finally:
            probe.close()
        device = config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.bf16 = config.precision == "bf16" or (
            config.precision == "auto" and device.startswith("cuda")
        )
        # Mixed precision is palaestra's own autocast (``precision``), not accelerate's:
        # accelerate's state is one per process and could not change between runs.
        self.accelerator = Accelerator(cpu=device == "cpu")
        self.device = self.accelerator.device
        model, self.tokenizer = load_model(config.model, device=str(self.device), dtype="float32")
        if config.gradient_checkpointing:
            options = {"use_reentrant": False}
            if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x
                model.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)
        if config.lora_rank > 0:
            model = _with_lora(model, config.lora_rank, config.lora_alpha)
        self.reference = None
        if algorithm.config.kl_coef > 0 and config.lora_rank == 0:
            self.reference = copy.deepcopy(model).eval().requires_grad_(False)
        if algorithm.needs_values:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed)
                algorithm.build(model.config.hidden_size)  # type: ignore[attr-defined]
            for parameter in algorithm.parameters():
                parameter.data = parameter.data.to(self.device)
        params = [p for p in model.parameters() if p.requires_grad] + algorithm.parameters()
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        self.model, self.optimizer, self.scheduler = self.accelerator.prepare(
            model, optimizer, scheduler
        )
        self.policy = self.accelerator.unwrap_model(self.model)
        self.batch_size = config.groups * config.group_size
        self.agent = HFAgent(
            self.policy,
            self.tokenizer,
            sampling=SamplingConfig(
                max_new_tokens=config.max_new_tokens, temperature=config.temperature
            ),
            prompt=PromptConfig(history=config.history, extract=config.extract),
            seed=config.seed + 7919 * self.accelerator.process_index,
            max_batch_size=self.batch_size,
        )
        self.envs = [gym.make(config.env, **self.env_kwargs) for _ in range(self.batch_size)]
        # Randomness of loss terms (Clip-Cov's token choice): seeded, checkpointed.
        self.loss_generator = torch.Generator().manual_seed(config.seed)
        algorithm.start(config.steps)
        attach = getattr(algorithm, "attach", None)
        if attach is not None:  # IGPO scores answers with the policy
            attach(self.answer_logprobs, self._tokenize)
        self.out = Path(config.out)
        self.start_iteration = 0
        self._writer: Any = None
        if config.resume:
            self.start_iteration = self._load_checkpoint()
        elif (self.out / "checkpoints").exists() and any((self.out / "checkpoints").iterdir()):
            raise InvalidArgumentError(
                f"{self.out} already holds a run; pass --resume to continue it or choose "
                "another --out"
            )

    # ------------------------------------------------------------------ the loop

    def run(self) -> Path:
        """Train for ``steps`` iterations; return the run folder."""
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(
            json.dumps(self._description(), indent=1, default=str)
        )
        if self.start_iteration == 0 and self.config.sft_steps > 0:
            self._warm_start()
        iterations = range(self.start_iteration, self.config.steps)
        show = self.config.progress and self.accelerator.is_main_process
        last_saved = self.start_iteration
        try:
            for iteration in track(
                iterations, total=len(iterations), description="training", enabled=show
            ):
                metrics = self.iteration(iteration)
                self._log(iteration, metrics)
                done = iteration + 1
                if done % self.config.checkpoint_every == 0 or done == self.config.steps:
                    self._save_checkpoint(done)
                    last_saved = done
        except TrainingError as exc:
            raise TrainingError(
                f"{exc}; the last checkpoint is {self._checkpoint_name(last_saved)}"
            ) from exc
        finally:
            for env in self.envs:
                env.close()
            if self._writer is not None:
                self._writer.close()
        if self.accelerator.is_main_process:
            self._plot()
        return self.out

    def iteration(self, iteration: int) -> dict[str, float]:
        """One rollout and one update; returns the iteration's metrics."""
        start = time.perf_counter()
        episodes = self._rollout(iteration)
        rollout_s = time.perf_counter() - start
        metrics = _rollout_metrics(episodes)
        metrics.update(rollout_s=rollout_s, **self.agent.timing(reset=True))
        kept = self.algorithm.filter_episodes(episodes)

        def play(groups: int, temperature: float) -> list[Episode]:
            return self._rollout(iteration, groups=groups, temperature=temperature, stream=1)

        kept = self.algorithm.training_episodes(kept, play)
        start = time.perf_counter()
        # With nothing left to learn from (all groups flat), the iteration makes no update.
        metrics.update(self._update(kept, iteration) if kept else dict.fromkeys(_UPDATE_KEYS, 0.0))
        metrics["update_s"] = time.perf_counter() - start
        metrics["lr"] = float(self.scheduler.get_last_lr()[0])
        metrics.update(self.algorithm.end_iteration(metrics))
        return metrics

    def _rollout(
        self,
        iteration: int,
        *,
        groups: int | None = None,
        temperature: float | None = None,
        stream: int = 0,
    ) -> list[Episode]:
        """Play ``groups`` seeds x ``group_size`` episodes.

        ``stream`` 1 marks the extra rollouts an algorithm asks for: they get seeds and group
        ids of their own.
        """
        count = min(groups or self.config.groups, self.config.groups)
        base = (
            (self.config.seed * 1_000_003 + iteration * self.config.groups)
            * (self.accelerator.num_processes)
            + self.accelerator.process_index * self.config.groups
            + stream * 500_000_009
        )
        seeds = [base + g for g in range(count) for _ in range(self.config.group_size)]
        group_ids = [
            stream * 100_000 + g for g in range(count) for _ in range(self.config.group_size)
        ]
        self.policy.eval()
        sampling = self.agent.sampling
        if temperature is not None:
            self.agent.sampling = replace(sampling, temperature=temperature)
        try:
            return self.agent.play(
                self.envs[: len(seeds)], seeds, groups=group_ids, max_turns=self.config.max_turns
            )
        except PalaestraError:
            raise
        except Exception as exc:
            raise TrainingError(
                f"the environment raised during the rollout of iteration {iteration}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        finally:
            self.agent.sampling = sampling

    def _update(self, episodes: list[Episode], iteration: int) -> dict[str, float]:
        config = self.config
        batch = TokenBatch.collate(build_samples(episodes, config.layout), self.agent.pad_id)
        n = batch.input_ids.size(0)
        chunks = [
            torch.arange(k, min(k + config.micro_batch_size, n))
            for k in range(0, n, config.micro_batch_size)
        ]
        need_old = config.ppo_epochs > 1
        pre = self._pre_pass(batch, chunks, need_old)
        advantages = self.algorithm.token_advantages(episodes, batch, pre.get("values"))
        normalizer = Normalizer.for_batch(
            self.algorithm.config.loss_aggregation,
            batch.loss_mask,
            self.algorithm.config.loss_norm_length,
        )
        totals: dict[str, float] = {}
        self.policy.train()
        for _ in range(config.ppo_epochs):
            self.optimizer.zero_grad()
            for rows in chunks:
                part = self._micro_step(batch, rows, advantages, pre, normalizer, iteration)
                for key, value in part.items():
                    totals[key] = totals.get(key, 0.0) + value
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            grad_norm = self.accelerator.clip_grad_norm_(params, config.max_grad_norm)
            if not torch.isfinite(torch.as_tensor(grad_norm)):
                raise TrainingError(f"the gradient norm is not finite at iteration {iteration}")
            self.optimizer.step()
            totals["grad_norm"] = totals.get("grad_norm", 0.0) + float(grad_norm)
        self.scheduler.step()
        self.policy.eval()
        epochs = float(config.ppo_epochs)
        tokens = float(batch.loss_mask.sum())
        return {
            "loss": totals.get("loss", 0.0) / epochs,
            "entropy": totals.get("entropy_sum", 0.0) / max(tokens * epochs, 1.0),
            "kl": totals.get("kl_sum", 0.0) / max(tokens * epochs, 1.0),
            "clip_fraction": totals.get("clipped_sum", 0.0) / max(tokens * epochs, 1.0),
            "grad_norm": totals.get("grad_norm", 0.0) / epochs,
            "advantage_abs": float((advantages.abs() * batch.loss_mask).sum()) / max(tokens, 1.0),
            "trained_tokens": tokens,
            "sequences": float(n),
        }

    def _micro_step(
        self,
        batch: TokenBatch,
        rows: torch.Tensor,
        advantages: torch.Tensor,
        pre: dict[str, torch.Tensor],
        normalizer: Normalizer,
        iteration: int,
    ) -> dict[str, float]:
        part = batch.select(rows)
        width = part.targets.size(1)
        logprobs, entropy, hidden = self._forward(self.model, part, self.algorithm.needs_values)
        mask = part.loss_mask.to(self.device)
        old = pre["old"][rows][:, -width:].to(self.device) if "old" in pre else logprobs.detach()
        ctx = LossContext(
            batch=part,
            rows=rows,
            logprobs=logprobs,
            old_logprobs=old,
            entropy=entropy,
            advantages=advantages[rows][:, -width:].to(self.device),
            mask=mask,
            hidden=hidden,
            extras={
                "iteration": iteration,
                "sample_logprobs": part.sample_logprobs.to(self.device),
            },
        )
        token_loss, clipped = self.algorithm.token_loss(ctx)
        token_loss = self._covariance_control(token_loss, ctx)
        loss = normalizer.aggregate(token_loss, mask)
        kl = torch.zeros_like(logprobs)
        if "ref" in pre:
            ctx.extras["ref_logprobs"] = pre["ref"][rows][:, -width:].to(self.device)
            kl = kl_k3(logprobs, ctx.extras["ref_logprobs"])
            loss = loss + self.algorithm.config.kl_coef * normalizer.aggregate(kl, mask)
        if self.algorithm.config.entropy_coef:
            loss = loss - self.algorithm.config.entropy_coef * normalizer.aggregate(entropy, mask)
        extra = self.algorithm.extra_loss(ctx, normalizer.aggregate)
        if extra is not None:
            loss = loss + extra
        if not torch.isfinite(loss):
            raise TrainingError(f"the loss is not finite at iteration {iteration}")
        self.accelerator.backward(loss)
        with torch.no_grad():
            return {
                "loss": float(loss),
                "entropy_sum": float((entropy * mask).sum()),
                "kl_sum": float((kl * mask).sum()),
                "clipped_sum": float((clipped * mask).sum()),
            }

    @torch.no_grad()
    def _pre_pass(
        self, batch: TokenBatch, chunks: list[torch.Tensor], need_old: bool
    ) -> dict[str, torch.Tensor]:
        """Old log-probs, reference log-probs and values, where the run needs them."""
        need_ref = self.algorithm.config.kl_coef > 0
        need_values = self.algorithm.needs_values
        if not (need_old or need_ref or need_values):
            return {}
        shape = batch.loss_mask.shape
        out = {
            k: torch.zeros(shape)
            for k, on in (("old", need_old), ("ref", need_ref), ("values", need_values))
            if on
        }
        self.policy.eval()
        for rows in chunks:
            part = batch.select(rows)
            width = part.targets.size(1)
            if need_old or need_values:
                logprobs, _, hidden = self._forward(self.model, part, need_values)
                if need_old:
                    out["old"][rows, -width:] = logprobs.float().cpu()
                if need_values:
                    assert hidden is not None
                    values = self.algorithm.values(hidden)  # type: ignore[attr-defined]
                    out["values"][rows, -width:] = values.float().cpu()
            if need_ref:
                with self._reference() as reference:
                    logprobs, _, _ = self._forward(reference, part, False)
                out["ref"][rows, -width:] = logprobs.float().cpu()
        return out

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
        size = self.config.micro_batch_size
        for start in range(0, len(samples), size):
            part = TokenBatch.collate(samples[start : start + size], self.agent.pad_id)
            logprobs, _, _ = self._forward(self.model, part, False)
            mask = part.loss_mask.to(logprobs.device)
            scores += ((logprobs * mask).sum(-1) / mask.sum(-1).clamp(min=1)).tolist()
        return scores

    def _tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _covariance_control(self, token_loss: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        """Clip-Cov / KL-Cov over the micro-batch's trained tokens, where turned on."""
        config = self.algorithm.config
        if config.covariance_control == "none":
            return token_loss
        covariance = token_covariance(ctx.advantages, ctx.logprobs, ctx.mask)
        if config.covariance_control == "clip_cov":
            token_loss, _ = clip_cov(
                token_loss,
                covariance,
                ctx.mask,
                ratio=config.clip_cov_ratio,
                lower=config.clip_cov_lower,
                upper=config.clip_cov_upper,
                generator=self.loss_generator,
            )
            return token_loss
        penalty, _ = kl_cov(
            ctx.logprobs,
            ctx.old_logprobs,
            covariance,
            ctx.mask,
            ratio=config.kl_cov_ratio,
            coef=config.kl_cov_coef,
        )
        return token_loss + penalty

    def _forward(
        self, model: Any, part: TokenBatch, hidden: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Log-probs and entropies ``[n, L-1]`` of the targets (and last hidden states).

        Logits are computed only at positions where some row has a trained token: the
        vocabulary projection of prompts and observations is most of a small model's cost.
        """
        keep = part.loss_positions()
        with self._autocast():
            output = model(
                input_ids=part.input_ids.to(self.device),
                attention_mask=part.attention_mask.to(self.device),
                position_ids=part.position_ids.to(self.device),
                output_hidden_states=hidden,
                use_cache=False,
                logits_to_keep=keep.to(self.device),
            )
        targets = part.targets[:, keep].to(self.device)
        kept_logprobs, kept_entropy = token_logprobs_and_entropy(
            output.logits, targets, self.config.temperature
        )
        shape = part.targets.shape
        logprobs = torch.zeros(shape, device=self.device).index_copy(
            1, keep.to(self.device), kept_logprobs
        )
        entropy = torch.zeros(shape, device=self.device).index_copy(
            1, keep.to(self.device), kept_entropy
        )
        states = output.hidden_states[-1][:, :-1] if hidden else None
        return logprobs, entropy, states

    def _autocast(self) -> Any:
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @contextmanager
    def _reference(self) -> Iterator[Any]:
        """The frozen reference policy (the base model with LoRA adapters disabled)."""
        if self.reference is not None:
            yield self.reference
            return
        with self.policy.disable_adapter():
            yield self.policy

    # ------------------------------------------------------------------ warm start, logs

    def _warm_start(self) -> None:
        samples = demonstrations(
            self.config.env,
            self.env_kwargs,
            self.config.sft_agent,
            episodes=self.config.sft_episodes,
            seed=self.config.seed + 10_000_019,  # never the RL seeds
            tokenizer=self.tokenizer,
            prompt=self.agent.prompt,
        )
        losses = supervised_steps(
            self.policy,
            samples,
            steps=self.config.sft_steps,
            lr=self.config.sft_lr,
            batch_size=self.config.micro_batch_size,
            pad_id=self.agent.pad_id,
            generator=torch.Generator().manual_seed(self.config.seed),
        )
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "sft.jsonl").write_text(
            "".join(json.dumps({"step": k, "loss": v}) + "\n" for k, v in enumerate(losses))
        )

    def _log(self, iteration: int, metrics: dict[str, float]) -> None:
        if not self.accelerator.is_main_process:
            return
        row = {"iteration": iteration + 1, **{k: round(float(v), 6) for k, v in metrics.items()}}
        with open(self.out / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")
        if self.config.tensorboard:
            if self._writer is None:
                self._writer = _tensorboard(self.out / "tensorboard")
            if self._writer is not None:
                for key, value in metrics.items():
                    self._writer.add_scalar(key, value, iteration + 1)

    def _plot(self) -> None:
        from palaestra.plots import plot_curves

        rows = read_metrics(self.out / "metrics.jsonl")
        if not rows:
            return
        import numpy as np

        def series(key: str) -> np.ndarray:
            return np.asarray([r.get(key, float("nan")) for r in rows], dtype=float)

        plot_curves(
            {
                "reward and success": {
                    "return": series("return"),
                    "success rate": series("success_rate"),
                },
                "token entropy": {"entropy": series("entropy")},
            },
            self.out / "curves.png",
            xlabel="iteration",
            ylabel="",
            title=f"{self.algorithm.name} on {self.config.env} ({self.config.model})",
        )

    # ------------------------------------------------------------------ checkpoints

    def _checkpoint_name(self, iteration: int) -> str:
        return (
            str(self.out / "checkpoints" / f"step-{iteration:06d}")
            if iteration
            else "none (no checkpoint yet)"
        )

    def _save_checkpoint(self, iteration: int) -> None:
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        final = self.out / "checkpoints" / f"step-{iteration:06d}"
        staging = final.with_name(final.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        self.policy.save_pretrained(staging / "model")
        self.tokenizer.save_pretrained(staging / "model")
        self.agent.save_settings(staging / "model")  # `hf:<checkpoint>/model` plays as trained
        torch.save(
            {
                "iteration": iteration,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "sampling_rng": self.agent.generator.get_state(),
                "loss_rng": self.loss_generator.get_state(),
                "algorithm": self.algorithm.state_dict(),
                "config": asdict(self.config),
            },
            staging / "trainer.pt",
        )
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)  # a checkpoint is either complete or absent
        saved = sorted(p for p in final.parent.glob("step-*") if not p.name.endswith(".tmp"))
        for old in saved[: -self.config.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)

    def _load_checkpoint(self) -> int:
        folder = self.out / "checkpoints"
        saved = sorted(
            p
            for p in folder.glob("step-*")
            if (p / "trainer.pt").is_file() and not p.name.endswith(".tmp")
        )
        if not saved:
            raise InvalidArgumentError(f"--resume: no checkpoint in {folder}")
        latest = saved[-1]
        state = torch.load(latest / "trainer.pt", map_location="cpu", weights_only=False)
        _load_weights(self.policy, latest / "model", lora=self.config.lora_rank > 0)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.agent.generator.set_state(state["sampling_rng"])
        self.loss_generator.set_state(state["loss_rng"])
        self.algorithm.load_state_dict(state["algorithm"])
        iteration = int(state["iteration"])
        # Metrics logged after the checkpoint belong to the killed run: drop them.
        metrics = self.out / "metrics.jsonl"
        if metrics.exists():
            kept = [r for r in read_metrics(metrics) if r["iteration"] <= iteration]
            metrics.write_text("".join(json.dumps(r) + "\n" for r in kept))
        return iteration

    def _lr_factor(self, step: int) -> float:
        config = self.config
        if step < config.warmup_steps:
            return (step + 1) / (config.warmup_steps + 1)
        if config.schedule == "constant":
            return 1.0
        progress = (step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1)
        if config.schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    def _description(self) -> dict[str, Any]:
        return {
            "train": asdict(self.config),
            "algorithm": self.algorithm.name,
            "algorithm_config": asdict(self.algorithm.config),
            "device": str(self.device),
            "precision": "bf16" if self.bf16 else "fp32",
            "processes": self.accelerator.num_processes,
        }


_UPDATE_KEYS = (
    "loss",
    "entropy",
    "kl",
    "clip_fraction",
    "grad_norm",
    "advantage_abs",
    "trained_tokens",
    "sequences",
)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a run's ``metrics.jsonl``."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _rollout_metrics(episodes: list[Episode]) -> dict[str, float]:
    n = max(len(episodes), 1)
    turns = sum(len(e.turns) for e in episodes)
    return {
        "return": sum(e.total_reward for e in episodes) / n,
        "success_rate": sum(e.success for e in episodes) / n,
        "episode_turns": turns / n,
        "invalid_rate": sum(t.invalid_action for e in episodes for t in e.turns) / max(turns, 1),
        "response_tokens": float(sum(e.response_tokens for e in episodes)),
    }


def _tensorboard(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(folder))


def _with_lora(model: Any, rank: int, alpha: int) -> Any:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise InvalidArgumentError("lora_rank > 0 needs peft: pip install peft") from exc
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules="all-linear")
    return get_peft_model(model, config)


def _load_weights(model: Any, folder: Path, *, lora: bool) -> None:
    from safetensors.torch import load_file

    if lora:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(folder / "adapter_model.safetensors"))
        return
    state = load_file(folder / "model.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise TrainingError(
            f"checkpoint {folder} does not match the model: {missing or unexpected}"
        )


__all__ = ["TrainConfig", "Trainer", "TrainingError", "read_metrics"]
