"""The policy a run trains: loaded on its device, with the run's memory and LoRA switches."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from palaestra.algorithms.config import TrainConfig
from palaestra.errors import InvalidArgumentError
from palaestra.llm.models import load_model, with_lora


def resolve_device(config: TrainConfig) -> tuple[str, bool]:
    """The device name (``auto`` resolved) and whether to autocast to bf16."""
    device = config.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    bf16 = config.precision == "bf16" or (config.precision == "auto" and device.startswith("cuda"))
    return device, bf16


def load_policy(config: TrainConfig, device: str) -> tuple[Any, Any]:
    """The model (fp32 weights; LoRA-wrapped if ``lora_rank``) and its tokenizer."""
    model, tokenizer = load_model(config.model, device=device, dtype="float32")
    if config.gradient_checkpointing:
        options = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)
    if config.lora_rank > 0:
        model = with_lora(model, config.lora_rank, config.lora_alpha)
    return model, tokenizer


def frozen_copy(model: Any) -> Any:
    """A frozen copy of the initial policy: the KL reference of full fine-tuning.

    With LoRA the reference is the base model with its adapters disabled: no copy.
    """
    return copy.deepcopy(model).eval().requires_grad_(False)


def load_weights(model: Any, folder: Path, *, lora: bool) -> None:
    """Load a checkpoint's weights (or LoRA adapters) into ``model``.

    Raises:
        ValueError: The checkpoint does not match the model.
    """
    from safetensors.torch import load_file

    if lora:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(folder / "adapter_model.safetensors"))
        return
    state = load_file(folder / "model.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise ValueError(f"checkpoint {folder} does not match the model: {missing or unexpected}")


def fp32_accelerator(cpu: bool) -> Any:
    """An ``Accelerator`` without accelerate's mixed precision: ``precision`` is palaestra's.

    accelerate's state is one per process: a library that ran first (TRL's trainer sets
    ``mixed_precision="bf16"``, its CPU default) or ``ACCELERATE_MIXED_PRECISION`` would
    otherwise make every later ``Accelerator()`` wrap the model in bf16 autocast, silently.
    In a single process that state is reset; under a multi-process launch it cannot be,
    and the run stops with what to change.

    Raises:
        InvalidArgumentError: A multi-process launch set accelerate's mixed precision.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState

    inherited = AcceleratorState._shared_state.get("_mixed_precision", "no")
    if inherited != "no":
        if PartialState().num_processes > 1:
            raise InvalidArgumentError(
                f"accelerate's mixed precision is set to {inherited}; palaestra runs its own "
                "autocast: launch with --mixed_precision no and pass --precision bf16"
            )
        AcceleratorState._reset_state()
    return Accelerator(cpu=cpu, mixed_precision="no")


def check_distributed_type(accelerator: Any) -> None:
    """Refuse a launch the trainer does not support: it runs on one process or with DDP.

    The rollout generates with the whole model in every process, which FSDP and DeepSpeed
    ZeRO-3 shard away; ZeRO's own gradient accumulation would not follow the trainer's
    mini-batches.

    Raises:
        InvalidArgumentError: accelerate was launched with FSDP or DeepSpeed.
    """
    kind = str(accelerator.distributed_type).rsplit(".", 1)[-1]
    if kind in ("FSDP", "DEEPSPEED", "MEGATRON_LM"):
        raise InvalidArgumentError(
            f"palaestra train runs on one process or with DDP, not {kind}: launch with "
            "examples/accelerate/ddp.yaml; for memory, use --lora-rank, "
            "--gradient-checkpointing and --precision bf16"
        )
