"""HFAgent: batched episodes with exact token records, through lists and vector envs."""

from typing import Any

import gymnasium as gym
import pytest

import palaestra
from palaestra.llm.generation import Generation, SamplingConfig
from palaestra.llm.hf_agent import HFAgent
from palaestra.llm.prompting import PromptConfig
from palaestra.rollout import play, run_episodes
from palaestra.rollout.records import PrefixError, concat_tokens


def agent(tiny: tuple[Any, Any], **kwargs: Any) -> HFAgent:
    model, tokenizer = tiny
    kwargs.setdefault("sampling", SamplingConfig(max_new_tokens=6))
    return HFAgent(model, tokenizer, **kwargs)


def test_play_records_exact_tokens(tiny: tuple[Any, Any]) -> None:
    envs = [gym.make("palaestra/Bandit-TwoArmed-v0", horizon=5) for _ in range(3)]
    episodes = play(agent(tiny), envs, [0, 0, 1], groups=[7, 7, 8])
    assert [e.group for e in episodes] == [7, 7, 8]
    for episode in episodes:
        assert episode.env_id == "palaestra/Bandit-TwoArmed-v0" and len(episode.turns) == 5
        assert episode.terminated and "regret" in episode.metrics
        for turn in episode.turns:
            assert len(turn.response_ids) == len(turn.logprobs) == len(turn.entropies) > 0
            assert all(lp <= 0 for lp in turn.logprobs)
            assert "turn" in turn.info
        ids, mask, turn_of = concat_tokens(episode)
        assert [t for t, m in zip(ids, mask, strict=True) if m] == [
            t for turn in episode.turns for t in turn.response_ids
        ]
        assert max(turn_of) == 4
        assert episode.total_reward == pytest.approx(sum(t.reward for t in episode.turns))


def test_same_seed_same_rollout(tiny: tuple[Any, Any]) -> None:
    def rollout() -> list[list[int]]:
        envs = [gym.make("palaestra/Bandit-TwoArmed-v0", horizon=3) for _ in range(2)]
        return [t.response_ids for e in play(agent(tiny, seed=5), envs, [0, 1]) for t in e.turns]

    assert rollout() == rollout()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_env(tiny: tuple[Any, Any], mode: str) -> None:
    vector = gym.make_vec(
        "palaestra/Bandit-TwoArmed-v0",
        num_envs=3,
        vectorization_mode=mode,
        horizon=4,
        vector_kwargs={"shared_memory": False} if mode == "async" else {},
    )
    try:
        episodes = play(agent(tiny, seed=2), vector, [0, 1, 2])
    finally:
        vector.close()
    listed = play(
        agent(tiny, seed=2),
        [gym.make("palaestra/Bandit-TwoArmed-v0", horizon=4) for _ in range(3)],
        [0, 1, 2],
    )
    assert [len(e.turns) for e in episodes] == [4, 4, 4]
    assert [e.total_reward for e in episodes] == [e.total_reward for e in listed]
    assert [e.metrics for e in episodes] == [e.metrics for e in listed]


def test_unextractable_and_endless_replies_are_invalid_actions(tiny: tuple[Any, Any]) -> None:
    # A tag-format agent whose replies never contain a tag, cut at the token limit.
    player = agent(
        tiny, prompt=PromptConfig(extract="tag"), sampling=SamplingConfig(max_new_tokens=4)
    )
    episode = play(player, [gym.make("palaestra/Bandit-v0", horizon=3)], [0])[0]
    assert all(t.action == "" and t.invalid_action for t in episode.turns)
    assert episode.metrics["invalid_actions"] == 3.0
    assert {t.finish_reason for t in episode.turns} <= {"length", "stop"}


def test_max_turns_and_prompt_limit(tiny: tuple[Any, Any]) -> None:
    player = agent(tiny)
    episode = play(player, [gym.make("palaestra/Bandit-v0")], [0], max_turns=2)[0]
    assert len(episode.turns) == 2 and not episode.terminated
    player.max_prompt_tokens = 400  # the prompt outgrows this after a few turns
    short = play(player, [gym.make("palaestra/Bandit-v0")], [0])[0]
    assert 0 < len(short.turns) < 50 and not short.terminated


class ScriptedDecoder:
    """Replies with fixed texts (tokenized, end-of-turn token added), like a decoder."""

    def __init__(self, tokenizer: Any, replies: list[str]) -> None:
        self.tokenizer, self.replies = tokenizer, iter(replies)

    def generate(self, prompts: list[list[int]], **_: Any) -> list[Generation]:
        results = []
        for _ in prompts:
            ids = self.tokenizer(next(self.replies), add_special_tokens=False)["input_ids"]
            ids = [*ids, self.tokenizer.eos_token_id]
            results.append(Generation(ids, [-0.5] * len(ids), [1.0] * len(ids), "stop"))
        return results


def test_windowed_history_needs_per_turn_layout(
    tiny: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scripted replies through HFAgent.play: what the model would sample cannot matter.
    # With a window of one past turn, turn 1's prompt still holds turn 0 whole (re-rendered
    # from the same text), and turn 2's prompt drops turn 0: the first that cannot extend.
    tokenizer = tiny[1]
    player = agent(tiny, prompt=PromptConfig(history=1))
    replies = ["A", "B", "A", "B"]
    monkeypatch.setattr(player, "decoder", lambda: ScriptedDecoder(tokenizer, replies))
    episode = play(player, [gym.make("palaestra/Bandit-v0", horizon=4)], [0])[0]
    assert [t.action for t in episode.turns] == replies
    assert episode.turns[1].prompt_ids[: len(episode.turns[0].prompt_ids)] == (
        episode.turns[0].prompt_ids
    )
    with pytest.raises(PrefixError, match="turn 2"):
        concat_tokens(episode)
    full = agent(tiny)  # the full history extends every prompt
    monkeypatch.setattr(full, "decoder", lambda: ScriptedDecoder(tokenizer, replies))
    _, mask, _ = concat_tokens(play(full, [gym.make("palaestra/Bandit-v0", horizon=4)], [0])[0])
    assert sum(mask) == sum(len(t.response_ids) for t in episode.turns)


def test_agent_protocol_and_run(tiny: tuple[Any, Any]) -> None:
    player = agent(tiny)
    record = palaestra.run_episode(gym.make("palaestra/Bandit-TwoArmed-v0"), player, seed=0)
    assert record.length == 30
    records = run_episodes("palaestra/Math-v0", player, seeds=[0, 1, 2], batch_size=3)
    assert [r.seed for r in records] == [0, 1, 2] and all(r.length == 1 for r in records)


def test_ground_truth_reaches_the_episode(tiny: tuple[Any, Any]) -> None:
    env = gym.make("palaestra/Math-v0", expose_ground_truth=True)
    episode = play(agent(tiny), [env], [3])[0]
    assert episode.ground_truth == env.unwrapped.problem.answer
    assert episode.ground_truth not in episode.turns[0].observation.split(":")[0]


def test_mismatched_envs_and_seeds(tiny: tuple[Any, Any]) -> None:
    with pytest.raises(palaestra.errors.InvalidArgumentError, match="2 environments for 3 seeds"):
        play(agent(tiny), [gym.make("palaestra/Bandit-v0")] * 2, [0, 1, 2])


def test_cache_reuse_across_turns_matches_fresh_prefill(tiny: tuple[Any, Any]) -> None:
    # Greedy play reuses each episode's KV cache from turn to turn (episodes also end at
    # different turns); every turn must equal a fresh, single-prompt generation.
    player = agent(tiny, sampling=SamplingConfig(max_new_tokens=5, temperature=0))
    envs = [gym.make("palaestra/Bandit-TwoArmed-v0", horizon=h) for h in (2, 5, 4)]
    episodes = play(player, envs, [0, 1, 2])
    assert [len(e.turns) for e in episodes] == [2, 5, 4]
    for episode in episodes:
        for turn in episode.turns:
            fresh = player.decoder().generate([turn.prompt_ids])[0]
            assert fresh.token_ids == turn.response_ids
            assert fresh.logprobs == pytest.approx(turn.logprobs, abs=1e-4)


def test_too_many_episodes_for_one_batch(tiny: tuple[Any, Any]) -> None:
    player = agent(tiny, max_batch_size=2)
    with pytest.raises(palaestra.errors.InvalidArgumentError, match="exceed max_batch_size=2"):
        play(player, [gym.make("palaestra/Bandit-v0") for _ in range(3)], [0, 1, 2])
    assert len(run_episodes("palaestra/Math-v0", player, seeds=[0, 1, 2], batch_size=2)) == 3


def test_a_saved_model_plays_with_the_settings_it_was_saved_with(
    tiny: tuple[Any, Any], tmp_path: Any
) -> None:
    model, tokenizer = tiny
    trained = HFAgent(
        model,
        tokenizer,
        sampling=SamplingConfig(max_new_tokens=4, temperature=0.5),
        prompt=PromptConfig(extract="choice", history=2),
    )
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    trained.save_settings(tmp_path)
    loaded = HFAgent.from_spec(str(tmp_path))
    assert loaded.prompt == trained.prompt and loaded.sampling == trained.sampling
    override = HFAgent.from_spec(str(tmp_path), prompt=PromptConfig())
    assert override.prompt == PromptConfig()


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"prompt": {}}', '{"prompt": {"extract": "nope"}, "sampling": {}}',
     '{"prompt": {"history": -1}, "sampling": {"max_new_tokens": 0}}',
     '{"prompt": {"unknown": 1}, "sampling": {}}'],
)  # fmt: skip
def test_damaged_settings_files_are_clear_errors(
    tiny: tuple[Any, Any], tmp_path: Any, text: str
) -> None:
    from palaestra.errors import InvalidArgumentError
    from palaestra.llm.hf_agent import SETTINGS_FILE

    model, tokenizer = tiny
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    (tmp_path / SETTINGS_FILE).write_text(text)
    with pytest.raises(InvalidArgumentError, match="not a palaestra agent settings file"):
        HFAgent.from_spec(str(tmp_path))


def test_the_old_play_method_warns_and_plays(tiny: tuple[Any, Any]) -> None:
    envs = [gym.make("palaestra/Bandit-TwoArmed-v0", horizon=3) for _ in range(2)]
    with pytest.warns(DeprecationWarning, match="palaestra.play"):
        old = agent(tiny, seed=4).play(envs, [0, 1])
    new = play(agent(tiny, seed=4), envs, [0, 1])
    assert [e.actions for e in old] == [e.actions for e in new]
