"""The policy a run trains: loaded on its device, with the run's memory and LoRA switches."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from palaestra.agents.models import load_model
from palaestra.algorithms.config import TrainConfig
from palaestra.errors import InvalidArgumentError


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


def with_lora(model: Any, rank: int, alpha: int) -> Any:
    """``model`` with LoRA adapters of ``rank`` on every linear layer."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise InvalidArgumentError("lora_rank > 0 needs peft: pip install peft") from exc
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules="all-linear")
    return get_peft_model(model, config)


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
