"""The settings of a training run (``palaestra train``'s flags)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym

from palaestra.algorithms.batch import LAYOUTS, Layout
from palaestra.envs.registration import parse_env_kwargs
from palaestra.errors import InvalidArgumentError, did_you_mean
from palaestra.llm.prompting import EXTRACT_MODES, ExtractMode

Schedule = Literal["constant", "linear", "cosine"]
Precision = Literal["auto", "fp32", "bf16"]
GenerationBackend = Literal["hf", "vllm"]


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
        mini_batches: Optimizer steps per rollout: the batch is split into this many
            mini-batches, and every one after the first is trained off-policy against the
            log-probs of the policy that sampled, so the ratio clips act. Default 4, as in
            verl's GRPO example recipes (a rollout of 1024 prompts trained in mini-batches
            of 256).
        micro_batch_size: Sequences per forward pass (gradients accumulate over the
            mini-batch; memory only, the result does not depend on it).
        ppo_epochs: Passes over each batch.
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
        rollout_workers: Ray actors holding the rollout's environments and stepping them,
            per training process (0: in this process). Episodes do not depend on it: the
            same seeds give the same run with any number. Needs palaestra[distributed].
        generation_workers: Ray actors that generate the rollout's replies, per training
            process, each with a copy of the policy that gets the new weights after every
            update (0: this process generates). The random draws do not depend on it.
            Needs palaestra[distributed].
        generation_backend: What generation actors generate with: ``hf`` (palaestra's
            decoder, CPU or GPU) or ``vllm`` (vLLM's engine, one GPU per actor; needs
            vllm). With vllm the log-probs the update uses are recomputed by the learner.
        vllm_gpu_memory: Share of its GPU a vLLM generation actor takes (lower it when a
            learner shares the GPU).
        ray_address: The Ray cluster to join (default: ``RAY_ADDRESS``, else a local
            cluster started for the run).
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
    mini_batches: int = 4
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
    rollout_workers: int = 0
    generation_workers: int = 0
    generation_backend: GenerationBackend = "hf"
    vllm_gpu_memory: float = 0.85
    ray_address: str | None = None

    def __post_init__(self) -> None:
        positive = (
            "steps",
            "groups",
            "group_size",
            "mini_batches",
            "micro_batch_size",
            "ppo_epochs",
            "max_new_tokens",
            "checkpoint_every",
            "keep_checkpoints",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.rollout_workers < 0:
            raise InvalidArgumentError(
                f"rollout_workers must be >= 0 (0: in this process), got {self.rollout_workers}"
            )
        if self.generation_workers < 0:
            raise InvalidArgumentError(
                "generation_workers must be >= 0 (0: in this process), "
                f"got {self.generation_workers}"
            )
        if self.generation_backend not in ("hf", "vllm"):
            raise InvalidArgumentError(
                f"generation_backend must be hf or vllm, got {self.generation_backend!r}"
            )
        if not 0 < self.vllm_gpu_memory <= 1:
            raise InvalidArgumentError(
                f"vllm_gpu_memory must lie in (0, 1], got {self.vllm_gpu_memory}"
            )
        if self.generation_backend == "vllm" and self.generation_workers == 0:
            raise InvalidArgumentError(
                "generation_backend vllm runs in generation actors: set generation_workers"
            )
        if self.ray_address is not None and self.rollout_workers + self.generation_workers == 0:
            raise InvalidArgumentError(
                "ray_address needs rollout_workers or generation_workers > 0 (actors to place)"
            )
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
        return parse_env_kwargs(self.env_kwargs)

    def lr_factor(self, step: int) -> float:
        """The learning-rate multiplier after ``step`` scheduler steps.

        A linear warm-up over ``warmup_steps``, then the ``schedule``.
        """
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        if self.schedule == "constant":
            return 1.0
        progress = (step - self.warmup_steps) / max(self.steps - self.warmup_steps, 1)
        if self.schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    def token_budget(self, loss: Any, env: Any, algorithm: str) -> float | None:
        """Dr. GRPO's constant for ``seq_mean_token_sum_norm`` (None for other modes).

        The configured ``loss_norm_length``, else a sequence's token budget:
        ``max_new_tokens`` x the most turns a sequence holds (one in the ``per_turn``
        layout; else ``max_turns``, the env's time limit or its own turn limit).

        Args:
            loss: The algorithm's loss config.
            env: An instance of the run's environment.
            algorithm: The algorithm's name, for the error message.

        Raises:
            InvalidArgumentError: No budget is known.
        """
        if loss.loss_aggregation != "seq_mean_token_sum_norm":
            return None
        if loss.loss_norm_length:
            return float(loss.loss_norm_length)
        if self.layout == "per_turn":
            return float(self.max_new_tokens)
        limits = [
            self.max_turns,
            env.spec.max_episode_steps if env.spec is not None else None,
            getattr(env.unwrapped, "turn_limit", None),
        ]
        turns = min((t for t in limits if t), default=None)
        if turns is None:
            raise InvalidArgumentError(
                f"{algorithm}'s seq_mean_token_sum_norm divides by a constant token budget, "
                f"max_new_tokens x the most turns, and {self.env} has no turn limit: set "
                "--max-turns or the algorithm's loss_norm_length"
            )
        return float(self.max_new_tokens * turns)
