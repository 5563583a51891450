"""The shared multi-turn RL trainer every algorithm plugs into.

One iteration, top to bottom (:meth:`Trainer.iteration`):

1. **rollout**: the algorithm's (default: ``groups`` seeds, ``group_size`` episodes each),
   played at once by an :class:`~palaestra.llm.hf_agent.HFAgent` on the current policy with
   the exact token ids and log-probs kept;
2. **select**: the episodes to train on (DAPO's filter, replays, regularization sets);
3. **batch**: episodes become token sequences in the ``concat`` or ``per_turn`` layout;
4. **pre-pass** (no gradient): the log-probs of the policy that sampled (whenever there
   is more than one optimizer step per rollout, or covariance control), reference
   log-probs for the KL, values for PPO;
5. **advantages** (the algorithm's, broadcast to tokens) and the tokens Clip-Cov / KL-Cov
   act on, chosen once over the whole batch;
6. **update**: ``mini_batches`` optimizer steps per epoch. Every step after the first is
   off-policy (ρ ≠ 1), so the ratio clips act at the defaults. Per micro-batch: forward,
   the algorithm's token loss plus KL and entropy terms, aggregated over the mini-batch,
   backward; then gradient clipping and an optimizer step. Reported: clip fraction, ratio
   mean and max, approximate KL.

Devices: CPU or CUDA through one code path (``accelerate``): bf16 autocast, gradient
checkpointing and LoRA (peft) are switches. Under ``accelerate launch`` (DDP) the processes
share one global batch: each plays a share of every rollout and all of them hold the whole
of it, so advantages, filters, covariance choices and loss denominators are the global
batch's; each process computes a share of the pre-pass and trains a share of every
mini-batch, and gradients are summed. N processes give the single-process run's numbers.
Runs write ``metrics.jsonl``, TensorBoard logs, checkpoints and, at the end,
``curves.png``; ``resume=True`` continues from the last checkpoint to the same numbers as
an unbroken run.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from palaestra.algorithms.base import Algorithm, LossContext, TrainingSet
from palaestra.algorithms.batch import TokenBatch, build_samples, mini_batch_rows
from palaestra.algorithms.checkpoints import Checkpoints
from palaestra.algorithms.config import TrainConfig
from palaestra.algorithms.losses import Normalizer, kl_k3
from palaestra.algorithms.model_setup import (
    check_distributed_type,
    fp32_accelerator,
    frozen_copy,
    load_policy,
    load_weights,
    resolve_device,
)
from palaestra.algorithms.passes import PolicyPasses
from palaestra.algorithms.rollout import RolloutError, TrainerSampler, rollout_metrics, shard
from palaestra.algorithms.runlog import RunLog, read_metrics
from palaestra.algorithms.sft import warm_start
from palaestra.algorithms.update_stats import UPDATE_KEYS, UpdateStats
from palaestra.distributed import DistributedError, PolicySource, RayEnvs, RayGenerators
from palaestra.errors import InvalidArgumentError, PalaestraError
from palaestra.llm.generation import SamplingConfig
from palaestra.llm.hf_agent import HFAgent
from palaestra.llm.prompting import PromptConfig
from palaestra.progress import track


class TrainingError(PalaestraError):
    """The run stopped (NaN loss, an environment error); the message names the last checkpoint."""


class Trainer:
    """Runs :class:`TrainConfig` with an :class:`~palaestra.algorithms.base.Algorithm`.

    Args:
        config: The run.
        algorithm: The algorithm (with its own config).
    """

    def __init__(self, config: TrainConfig, algorithm: Algorithm) -> None:
        self.config, self.algorithm = config, algorithm
        self.out = Path(config.out)
        self.checkpoints = Checkpoints(self.out, config.keep_checkpoints)
        # Checked first, before models load and actors start.
        if not config.resume and self.checkpoints.exist():
            raise InvalidArgumentError(
                f"{self.out} already holds a run; pass --resume to continue it or choose "
                "another --out"
            )
        self.env_kwargs = config.parsed_env_kwargs()
        probe = gym.make(config.env, **self.env_kwargs)
        try:
            algorithm.check_env(probe)
            self.norm_length = config.token_budget(algorithm.config, probe, algorithm.name)
        finally:
            probe.close()
        device, self.bf16 = resolve_device(config)
        # Mixed precision is palaestra's own autocast (``precision``), not accelerate's:
        # accelerate's state is one per process and could not change between runs.
        self.accelerator = fp32_accelerator(cpu=device == "cpu")
        self.device = self.accelerator.device
        self.process = (self.accelerator.process_index, self.accelerator.num_processes)
        check_distributed_type(self.accelerator)
        actors = config.rollout_workers + config.generation_workers
        if (
            self.process[1] > 1
            and actors
            and not (config.ray_address or os.environ.get("RAY_ADDRESS"))
        ):
            # Each process would otherwise start, or race to join, a local cluster of its own.
            raise InvalidArgumentError(
                "with several training processes, Ray actors need one running cluster: start it "
                "with `ray start --head` (CUDA_VISIBLE_DEVICES set to the GPUs the learners do "
                "not use) and pass --ray-address or set RAY_ADDRESS"
            )
        model, self.tokenizer = load_policy(config, str(self.device))
        self.reference = None
        if algorithm.config.kl_coef > 0 and config.lora_rank == 0:
            self.reference = frozen_copy(model)
        if algorithm.needs_values:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed)
                algorithm.build_value_head(model.config.hidden_size)
            for parameter in algorithm.parameters():
                parameter.data = parameter.data.to(self.device)
        params = [p for p in model.parameters() if p.requires_grad] + algorithm.parameters()
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, config.lr_factor)
        self.model, self.optimizer, self.scheduler = self.accelerator.prepare(
            model, optimizer, scheduler
        )
        self.policy = self.accelerator.unwrap_model(self.model)
        batch_size = config.groups * config.group_size
        self.agent = HFAgent(
            self.policy,
            self.tokenizer,
            sampling=SamplingConfig(
                max_new_tokens=config.max_new_tokens, temperature=config.temperature
            ),
            prompt=PromptConfig(history=config.history, extract=config.extract),
            seed=config.seed,
            max_batch_size=batch_size,
        )
        self.passes = PolicyPasses(
            self.model,
            self.policy,
            self.reference,
            device=self.device,
            bf16=self.bf16,
            temperature=config.temperature,
            micro_batch_size=config.micro_batch_size,
            pad_id=self.agent.pad_id,
        )
        # Each process plays its share of a rollout: that many environments.
        share = -(-batch_size // self.process[1])
        self.envs: list[gym.Env[Any, Any]] | RayEnvs
        if config.rollout_workers > 0:
            self.envs = RayEnvs(
                config.env,
                share,
                workers=config.rollout_workers,
                env_kwargs=self.env_kwargs,
                address=config.ray_address,
            )
        else:
            self.envs = [gym.make(config.env, **self.env_kwargs) for _ in range(share)]
        # Replies sampled by generation actors (their own copies of the policy), or here.
        self.generators: RayGenerators | None = None
        if config.generation_workers > 0:
            try:
                self.generators = RayGenerators(
                    PolicySource(
                        model=config.model,
                        backend=config.generation_backend,
                        # An actor sees its own GPU only, as device 0.
                        device="cuda" if self.device.type == "cuda" else "cpu",
                        lora_rank=config.lora_rank,
                        lora_alpha=config.lora_alpha,
                        gpu_memory_utilization=config.vllm_gpu_memory,
                    ),
                    workers=config.generation_workers,
                    sampling=self.agent.sampling,
                    prompt=self.agent.prompt,
                    max_batch_size=share,
                    address=config.ray_address,
                )
            except BaseException:
                self.close()  # the environment actors already started
                raise
        self.sampler = TrainerSampler(
            self.generators or self.agent,
            self.envs,
            groups=config.groups,
            group_size=config.group_size,
            seed=config.seed,
            max_turns=config.max_turns,
            process=self.process,
            gather=self._gather_object if self.process[1] > 1 else None,
            # vLLM's log-probs are not the learner's: the learner's are the truth (as verl).
            rescore=self.passes.rescore if config.generation_backend == "vllm" else None,
        )
        # Randomness of loss terms (Clip-Cov's token choice): seeded, checkpointed.
        self.loss_generator = torch.Generator().manual_seed(config.seed)
        # The same on every process: each takes the same decisions on the same global batch.
        algorithm.start(config.steps, config.seed)
        if algorithm.needs_scorer:  # IGPO scores the answer with the policy
            algorithm.attach_scorer(self.passes.answer_logprobs, self._tokenize)
        self.log = RunLog(
            self.out, tensorboard=config.tensorboard, enabled=self.accelerator.is_main_process
        )
        self.start_iteration = 0
        if config.resume:
            self.start_iteration = self._load_checkpoint()

    def close(self) -> None:
        """Close the environments and stop the run's Ray actors (``run`` does at its end)."""
        generators = getattr(self, "generators", None)  # None before they were started
        if generators is not None:
            generators.close()
        if isinstance(self.envs, RayEnvs):
            self.envs.close()
        else:
            for env in self.envs:
                env.close()

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
                self.log.log(iteration, self.iteration(iteration))
                done = iteration + 1
                if done % self.config.checkpoint_every == 0 or done == self.config.steps:
                    self._save_checkpoint(done)
                    last_saved = done
        except TrainingError as exc:
            raise TrainingError(
                f"{exc}; the last checkpoint is {self.checkpoints.name(last_saved)}"
            ) from exc
        finally:
            self.close()
            self.log.close()
        self.log.plot(f"{self.algorithm.name} on {self.config.env} ({self.config.model})")
        return self.out

    def iteration(self, iteration: int) -> dict[str, float]:
        """One rollout and one update; returns the iteration's metrics."""
        self.sampler.iteration = iteration
        start = time.perf_counter()
        sync_s: float | None = None
        try:
            if self.generators is not None:
                # The policy as updated last (or warm-started) samples this rollout.
                self.generators.load_weights(self._trainable_weights())
                sync_s = time.perf_counter() - start
                start = time.perf_counter()
            episodes = self.algorithm.rollout(self.sampler)
            rollout_s = time.perf_counter() - start
            training = self.algorithm.select_episodes(episodes, self.sampler)
        except (RolloutError, DistributedError) as exc:
            raise TrainingError(str(exc)) from exc
        metrics = rollout_metrics(episodes)
        metrics.update(rollout_s=rollout_s, **self.sampler.timing(reset=True))
        if sync_s is not None:
            metrics["weight_sync_s"] = sync_s
        start = time.perf_counter()
        # With nothing left to learn from (all groups flat), the iteration makes no update.
        if training.episodes:
            metrics.update(self._update(training, iteration))
        else:
            metrics.update(dict.fromkeys(UPDATE_KEYS, 0.0))
        metrics["update_s"] = time.perf_counter() - start
        metrics["lr"] = float(self.scheduler.get_last_lr()[0])
        metrics.update(self.algorithm.end_iteration(metrics))
        return metrics

    def _update(self, training: TrainingSet, iteration: int) -> dict[str, float]:
        config, algorithm = self.config, self.algorithm
        processes = self.process[1]
        samples = build_samples(training.episodes, config.layout)
        batch = TokenBatch.collate(samples, self.agent.pad_id)
        extra = batch.episode >= training.main
        several_steps = config.mini_batches > 1 or config.ppo_epochs > 1
        need_old = several_steps or algorithm.config.covariance_control != "none"
        pre = self.passes.pre_pass(
            batch,
            rows=torch.cat(
                [torch.zeros(0, dtype=torch.long)]
                + [
                    rows
                    for rows, weight in self._micro_batches(torch.arange(len(samples)))
                    if weight
                ]
            ),
            old=need_old,
            ref=algorithm.config.kl_coef > 0,
            values=algorithm.values if algorithm.needs_values else None,
        )
        pre = {name: self._sum(tensor) for name, tensor in pre.items()}
        advantages = algorithm.token_advantages(training, batch, pre.get("values"))
        # Extra rows with no advantage anywhere train nothing: out of every denominator,
        # and out of the mini-batches (a step on them alone would move AdamW's momentum).
        idle = extra & ~(advantages != 0).any(-1)
        mask = batch.loss_mask * (~idle)[:, None]
        trained = mask.any(-1)
        # Every process holds the whole batch: the choice is over all of its tokens.
        covariance = algorithm.covariance_tokens(
            advantages, pre.get("old", batch.sample_logprobs), mask, extra, self.loss_generator
        )
        # (mask of the term, its weight): the main loss, then the extra term.
        terms = [(mask * (~extra)[:, None], 1.0), (mask * extra[:, None], training.extra_weight)]
        stats = UpdateStats()
        self.policy.train()
        for _ in range(config.ppo_epochs):
            for minibatch in mini_batch_rows(extra, config.mini_batches, keep=trained):
                normalizers = [
                    Normalizer.for_batch(
                        algorithm.config.loss_aggregation, term[minibatch], self.norm_length
                    )
                    for term, _ in terms
                ]
                self.optimizer.zero_grad()
                parts = self._micro_batches(minibatch)
                for index, (rows, weight) in enumerate(parts):
                    part = batch.select(rows)

                    def crop(
                        tensor: torch.Tensor, rows: torch.Tensor = rows, part: TokenBatch = part
                    ) -> torch.Tensor:
                        start = tensor.size(1) - part.targets.size(1)
                        return tensor[rows][:, start:].to(self.device)

                    logprobs, entropy, hidden = self.passes.forward(
                        part, hidden=algorithm.needs_values
                    )
                    ctx = LossContext(
                        batch=part,
                        rows=rows,
                        minibatch=minibatch,
                        logprobs=logprobs,
                        old_logprobs=crop(pre["old"]) if "old" in pre else logprobs.detach(),
                        sample_logprobs=part.sample_logprobs.to(self.device),
                        entropy=entropy,
                        advantages=crop(advantages),
                        mask=crop(mask),
                        extra=extra[rows][:, None].to(self.device),
                        covariance=crop(covariance),
                        ref_logprobs=crop(pre["ref"]) if "ref" in pre else None,
                        hidden=hidden,
                        iteration=iteration,
                    )
                    masks = [crop(term) for term, _ in terms]
                    loss = self._micro_loss(
                        ctx, masks, normalizers, [w for _, w in terms], stats if weight else None
                    )
                    # With several processes a non-finite loss reaches every process's
                    # gradient norm (checked below): raising here alone would strand them.
                    if processes == 1 and not torch.isfinite(loss):
                        raise TrainingError(f"the loss is not finite at iteration {iteration}")
                    # DDP averages gradients over processes: x processes makes it their sum.
                    # Gradients are exchanged once, after the last micro-batch.
                    last = index == len(parts) - 1
                    with contextlib.nullcontext() if last else self.accelerator.no_sync(self.model):
                        self.accelerator.backward(loss * (weight * processes))
                self._sum_own_gradients()
                params = [p for group in self.optimizer.param_groups for p in group["params"]]
                grad_norm = self.accelerator.clip_grad_norm_(params, config.max_grad_norm)
                if not torch.isfinite(torch.as_tensor(grad_norm)):
                    raise TrainingError(f"the gradient norm is not finite at iteration {iteration}")
                self.optimizer.step()
                stats.step(float(grad_norm))
        self.scheduler.step()
        self.policy.eval()
        if processes > 1:
            stats.merge(self._gather_object(stats))
        return stats.metrics(advantages, mask, sequences=len(samples))

    def _micro_batches(self, rows: torch.Tensor) -> list[tuple[torch.Tensor, float]]:
        """This process's micro-batches of ``rows``, as (rows, weight) pairs.

        The rows are cut into micro-batches as one process would cut them, and each process
        takes a contiguous share of those: every micro-batch is the same tensor whichever
        process runs it, so its forward pass gives the same numbers bit for bit. Every
        process runs the same number of micro-batches (DDP exchanges gradients in
        lockstep): one with fewer pads with a row of weight 0, which adds no gradient.
        """
        parts = torch.split(rows, self.config.micro_batch_size)
        mine = [(parts[k], 1.0) for k in shard(len(parts), self.process)]
        count = -(-len(parts) // self.process[1])
        return mine + [(rows[:1], 0.0)] * (count - len(mine))

    def _micro_loss(
        self,
        ctx: LossContext,
        masks: list[torch.Tensor],
        normalizers: list[Normalizer],
        weights: list[float],
        stats: UpdateStats | None,
    ) -> torch.Tensor:
        """The micro-batch's share of the mini-batch loss; records the update's statistics.

        Each term's token loss (policy, KL, entropy) is aggregated over that term's own
        tokens and weighted; the algorithm's extra loss is added.
        """
        config = self.algorithm.config
        token_loss, clipped, log_ratio = self.algorithm.token_loss(ctx)
        kl = torch.zeros_like(ctx.logprobs)
        if ctx.ref_logprobs is not None:
            kl = kl_k3(ctx.logprobs, ctx.ref_logprobs)
        per_token = token_loss + config.kl_coef * kl - config.entropy_coef * ctx.entropy
        terms = zip(weights, normalizers, masks, strict=True)
        loss = sum(
            (w * n.aggregate(per_token, m) for w, n, m in terms),
            torch.zeros((), device=self.device),
        )

        def main_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return normalizers[0].aggregate(values, mask * masks[0])

        extra = self.algorithm.extra_loss(ctx, main_mean)
        if extra is not None:
            loss = loss + extra
        if stats is not None:
            stats.add(ctx, loss=loss, kl=kl, clipped=clipped, log_ratio=log_ratio)
        return loss

    # ------------------------------------------------------------------ set-up, state

    def _trainable_weights(self) -> dict[str, torch.Tensor]:
        """The weights generation actors need: the trained ones (bf16 for vLLM's engine)."""
        dtype = torch.bfloat16 if self.config.generation_backend == "vllm" else None
        return {
            name: parameter.detach().to(dtype=dtype)
            for name, parameter in self.policy.named_parameters()
            if parameter.requires_grad
        }

    def _gather_object(self, value: Any) -> list[Any]:
        """``value`` from every process, in rank order."""
        from accelerate.utils import gather_object

        return list(gather_object([value]))

    def _sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over the processes (each filled its own rows)."""
        if self.process[1] == 1:
            return tensor
        summed: torch.Tensor = self.accelerator.reduce(tensor.to(self.device), reduction="sum")
        return summed.cpu()

    def _sum_own_gradients(self) -> None:
        """Sum the gradients of the algorithm's own parameters (a value head) over processes.

        They live outside the DDP model, whose gradients DDP exchanges itself.
        """
        processes = self.process[1]
        if processes == 1:
            return
        for parameter in self.algorithm.parameters():
            if parameter.grad is None:
                parameter.grad = torch.zeros_like(parameter)
            torch.distributed.all_reduce(parameter.grad)
            parameter.grad /= processes  # each process's share was scaled by the count

    def _tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _warm_start(self) -> None:
        warm_start(
            self.config,
            self.env_kwargs,
            agent=self.agent,
            policy=self.policy,
            tokenizer=self.tokenizer,
        )

    def _save_checkpoint(self, iteration: int) -> None:
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        self.checkpoints.save(
            iteration,
            policy=self.policy,
            tokenizer=self.tokenizer,
            agent=self.agent,
            config=self.config,
            state={
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "loss_rng": self.loss_generator.get_state(),
                "algorithm": self.algorithm.state_dict(),
            },
        )

    def _load_checkpoint(self) -> int:
        latest = self.checkpoints.latest()
        if latest is None:
            raise InvalidArgumentError(f"--resume: no checkpoint in {self.checkpoints.folder}")
        folder, state = latest
        try:
            load_weights(self.policy, folder / "model", lora=self.config.lora_rank > 0)
        except ValueError as exc:
            raise TrainingError(str(exc)) from exc
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.loss_generator.set_state(state["loss_rng"])
        self.algorithm.load_state_dict(state["algorithm"])
        iteration = int(state["iteration"])
        self.log.truncate(iteration)
        return iteration

    def _description(self) -> dict[str, Any]:
        return {
            "train": asdict(self.config),
            "algorithm": self.algorithm.name,
            "algorithm_config": asdict(self.algorithm.config),
            "device": str(self.device),
            "precision": "bf16" if self.bf16 else "fp32",
            "processes": self.accelerator.num_processes,
        }


__all__ = ["TrainConfig", "Trainer", "TrainingError", "read_metrics"]
