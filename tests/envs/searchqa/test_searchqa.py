"""SearchQA: invented world, BM25 search, F1 reward, oracle, ground truth on request."""

import gymnasium as gym
import pytest

import palaestra
from palaestra.agents import OracleAgent
from palaestra.envs.searchqa import build_world, word_f1
from palaestra.errors import InvalidArgumentError


@pytest.mark.parametrize(
    ("prediction", "gold", "f1"),
    [
        ("Milo Ostdexmi", "Milo Ostdexmi", 1.0),
        ("the milo ostdexmi.", "Milo Ostdexmi", 1.0),
        ("Milo", "Milo Ostdexmi", 2 * 1.0 * 0.5 / 1.5),  # precision 1, recall 1/2
        ("Milo Smith Jones", "Milo Ostdexmi", 2 * (1 / 3) * 0.5 / (1 / 3 + 0.5)),
        ("nobody", "Milo Ostdexmi", 0.0),
        ("", "Milo", 0.0),
    ],
)
def test_word_f1(prediction: str, gold: str, f1: float) -> None:
    assert word_f1(prediction, gold) == pytest.approx(f1)


def test_world_is_seeded_and_invented() -> None:
    a, b, c = build_world(0), build_world(0), build_world(1)
    assert a.documents == b.documents and a.documents != c.documents
    assert len(a.documents) > 60


def test_oracle_wins_with_two_searches() -> None:
    env = gym.make("palaestra/SearchQA-v0")
    records = palaestra.run_episodes(env, OracleAgent(env), episodes=10)
    assert all(r.success and r.total_reward == 1.0 and r.metrics["searches"] == 2 for r in records)


def test_first_hop_alone_does_not_reveal_the_answer() -> None:
    env = gym.make("palaestra/SearchQA-v0")
    for seed in range(10):
        env.reset(seed=seed)
        question = env.unwrapped.question
        first = env.step(f"search[{question.hops[0]}]")[0]
        assert question.hops[1] in first
        assert (
            f"founded by {question.answer}" not in first
            and f"city in {question.answer}" not in first
        )


def test_partial_answer_gets_partial_reward_and_limits() -> None:
    env = gym.make("palaestra/SearchQA-v0", max_searches=1, expose_ground_truth=True)
    obs, info = env.reset(seed=3)
    gold = info["ground_truth"]
    assert gold not in obs
    env.step("search[anything]")
    obs, reward, terminated, _, info = env.step("search[more]")
    assert info["invalid_action"] and "searches are used" in obs and not terminated
    _, reward, terminated, _, info = env.step(f"answer[{gold.split()[0]}]")
    assert terminated
    assert reward == pytest.approx(word_f1(gold.split()[0], gold))
    assert reward > 0
    assert info["ground_truth"] == gold


@pytest.mark.parametrize(
    "action", ["search[]", "answer[ ]", "search something", "[answer]", "ANSWER[x"]
)
def test_malformed_actions_are_invalid(action: str) -> None:
    env = gym.make("palaestra/SearchQA-v0")
    env.reset(seed=0)
    assert env.step(action)[4]["invalid_action"] is True


def test_ground_truth_hidden_by_default_and_bad_arguments() -> None:
    env = gym.make("palaestra/SearchQA-v0")
    _, info = env.reset(seed=0)
    assert "ground_truth" not in info
    with pytest.raises(InvalidArgumentError, match="top_k must be at least 1"):
        gym.make("palaestra/SearchQA-v0", top_k=0)
    with pytest.raises(InvalidArgumentError, match="people must be at least 4"):
        gym.make("palaestra/SearchQA-v0", people=2)
