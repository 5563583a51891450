"""The policy's set-up: precision, gradient checkpointing, LoRA and the accelerator."""

from dataclasses import replace
from pathlib import Path

import torch

from palaestra.algorithms import GRPO
from palaestra.algorithms.trainer import Trainer
from tests.algorithms.helpers import Alternating, config, weights


def test_cuda_branches_on_cpu_bf16_checkpointing_lora_kl(tmp_path: Path) -> None:
    # The switches a GPU run uses, on the CPU: bf16 autocast, gradient checkpointing, LoRA
    # (the reference policy is the base model with adapters off), KL and two PPO epochs.
    run = config(tmp_path, precision="bf16", gradient_checkpointing=True, lora_rank=4, ppo_epochs=2)
    trainer = Trainer(run, Alternating(replace(GRPO().config, kl_coef=0.1)))
    assert trainer.bf16
    base = {n: p.detach().clone() for n, p in trainer.policy.named_parameters() if "lora" not in n}
    lora = weights(trainer.policy)
    assert lora and all("lora" in n for n in lora)
    metrics = trainer.iteration(0)
    assert metrics["kl"] >= 0.0
    after = dict(trainer.policy.named_parameters())
    assert all(torch.equal(base[n], after[n]) for n in base)
    assert any(not torch.equal(lora[n], after[n]) for n in lora)


def test_accelerates_mixed_precision_left_behind_is_not_inherited(tmp_path: Path) -> None:
    # TRL's trainer leaves accelerate's process-wide state at bf16 on the CPU; a later
    # Accelerator() would wrap palaestra's model in bf16 autocast without a word.
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()
    Accelerator(cpu=True, mixed_precision="bf16")
    trainer = Trainer(config(tmp_path), Alternating())
    assert trainer.accelerator.mixed_precision == "no" and not trainer.bf16
    ids = torch.tensor([[1, 2, 3]])
    assert trainer.model(input_ids=ids).logits.dtype == torch.float32
