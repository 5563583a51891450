"""Batched sampling: deterministic, batch = single, log-probs and entropies exact."""

from typing import Any

import pytest
import torch

from palaestra.errors import InvalidArgumentError
from palaestra.llm.generation import SamplingConfig, generate


def ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids


def sample(
    model: Any, tokenizer: Any, prompts: list[list[int]], seed: int = 0, **kwargs: Any
) -> Any:
    return generate(
        model,
        prompts,
        sampling=SamplingConfig(**kwargs),
        stop_ids=[tokenizer.eos_token_id],
        pad_id=tokenizer.pad_token_id,
        generator=torch.Generator().manual_seed(seed),
    )


def test_same_seed_same_tokens(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    prompts = [ids(tokenizer, "Round 1 of 30."), ids(tokenizer, "Choose")]
    a = sample(model, tokenizer, prompts, seed=3, max_new_tokens=12)
    b = sample(model, tokenizer, prompts, seed=3, max_new_tokens=12)
    c = sample(model, tokenizer, prompts, seed=4, max_new_tokens=12)
    assert a == b and a != c


def test_batched_equals_one_at_a_time(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    prompts = [
        ids(tokenizer, "Round 1 of 30. Choose an arm"),
        ids(tokenizer, "Hi"),
        ids(tokenizer, "You are playing a 5-armed bandit with many rounds"),
    ]
    batch = sample(model, tokenizer, prompts, temperature=0, max_new_tokens=10)
    for prompt, together in zip(prompts, batch, strict=True):
        alone = sample(model, tokenizer, [prompt], temperature=0, max_new_tokens=10)[0]
        assert alone.token_ids == together.token_ids
        assert alone.logprobs == pytest.approx(together.logprobs, abs=1e-4)


def test_logprobs_and_entropies_match_a_teacher_forced_pass(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    prompt = ids(tokenizer, "Problem: Compute 3 + 4.")
    reply = sample(model, tokenizer, [prompt], temperature=0.7, max_new_tokens=12)[0]
    with torch.no_grad():
        logits = model(torch.tensor([prompt + reply.token_ids])).logits[0, len(prompt) - 1 : -1]
    log_probs = torch.log_softmax(logits.float() / 0.7, dim=-1)
    expected = log_probs.gather(1, torch.tensor(reply.token_ids)[:, None]).squeeze(1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    assert reply.logprobs == pytest.approx(expected.tolist(), abs=1e-4)
    assert reply.entropies == pytest.approx(entropy.tolist(), abs=1e-4)


def test_length_and_stop(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    reply = sample(model, tokenizer, [ids(tokenizer, "x")], max_new_tokens=3)[0]
    assert len(reply.token_ids) <= 3
    # Make the end-of-turn token the only choice: the reply stops at once, and keeps it.
    bias = torch.zeros(model.config.vocab_size)
    bias[tokenizer.eos_token_id] = 1e4
    hook = model.lm_head.register_forward_hook(lambda module, args, out: out + bias)
    try:
        stopped = sample(model, tokenizer, [ids(tokenizer, "x")], temperature=0, max_new_tokens=5)[
            0
        ]
    finally:
        hook.remove()
    assert stopped.token_ids == [tokenizer.eos_token_id] and stopped.finish_reason == "stop"
    assert reply.finish_reason in {"stop", "length"}


def test_top_k_one_is_greedy(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    prompt = [ids(tokenizer, "Compute 12 + 7.")]
    greedy = sample(model, tokenizer, prompt, temperature=0, max_new_tokens=8)[0]
    top1 = sample(model, tokenizer, prompt, top_k=1, max_new_tokens=8, seed=9)[0]
    assert greedy.token_ids == top1.token_ids
    nucleus = sample(model, tokenizer, prompt, top_p=1e-6, max_new_tokens=8, seed=9)[0]
    assert nucleus.token_ids == greedy.token_ids


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_k": -2}, "top_k"),
    ],
)
def test_config_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        SamplingConfig(**kwargs)


def test_empty_prompt_is_rejected(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    with pytest.raises(InvalidArgumentError, match="at least one token"):
        sample(model, tokenizer, [[]])
    assert sample(model, tokenizer, []) == []


def test_uses_the_current_cache_argument(tiny: tuple[Any, Any]) -> None:
    # transformers warns (FutureWarning) when the KV cache is passed under a name it is
    # about to remove; generation must use the name the installed version documents.
    import inspect
    import warnings

    from palaestra.llm.generation import cache_argument

    model, tokenizer = tiny
    name = cache_argument(model)
    assert name in inspect.signature(model.forward).parameters
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        results = sample(model, tokenizer, [ids(tokenizer, "Round 1.")], max_new_tokens=4)
    assert len(results[0].token_ids) > 0
