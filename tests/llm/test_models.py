"""Model specs resolve to the right source; the tiny model builds reproducibly, offline."""

from pathlib import Path
from typing import Any

import pytest
import torch

from palaestra.llm.models import (
    ModelLoadError,
    TinyModelConfig,
    build_tiny_model,
    load_model,
    resolve_model,
)


def test_tiny_round_trips_through_from_pretrained(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    assert type(model).__name__ == "LlamaForCausalLM"
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|pad|>"
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    assert model.config.vocab_size == len(tokenizer)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_tiny_build_is_reproducible(tmp_path: Path) -> None:
    config = TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1)
    a = build_tiny_model(config, folder=tmp_path / "a")
    b = build_tiny_model(config, folder=tmp_path / "b")
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
    from safetensors.torch import load_file

    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    c = build_tiny_model(
        TinyModelConfig(hidden_size=32, intermediate_size=64, num_layers=1, seed=1),
        folder=tmp_path / "c",
    )
    wc = load_file(c / "model.safetensors")
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_folder_and_gguf_specs(tmp_path: Path, tiny: tuple[Any, Any]) -> None:
    source = resolve_model("tiny")
    assert source.kind == "tiny" and (Path(source.location) / "config.json").is_file()
    folder = resolve_model(source.location)
    assert folder.kind == "folder"
    model, _ = load_model(source.location)
    assert model.config.hidden_size == tiny[0].config.hidden_size
    gguf = tmp_path / "weights.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model(str(gguf)).gguf_file == "weights.gguf"
    assert resolve_model("HuggingFaceTB/SmolLM2-360M-Instruct").kind == "hub"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty model spec"),
        ("/nonexistent/model", "not a model folder"),
        ("./missing.gguf", "no such GGUF file"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ModelLoadError, match=message):
        resolve_model(spec)


def test_folder_without_config(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        resolve_model(str(tmp_path))


def test_offline_hub_id_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    # huggingface_hub reads HF_HUB_OFFLINE once, at import (which an earlier test may have
    # done): without the constant, the loader retries the network until it times out.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="may be offline"):
        load_model("palaestra-nonexistent/model-that-is-not-cached")


def test_smollm2_loads_from_the_wheel(smollm2: tuple[Any, Any]) -> None:
    model, tokenizer = smollm2
    assert model.config.num_hidden_layers == 30
    assert tokenizer.eos_token == "<|im_end|>"
