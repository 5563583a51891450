"""Reasoning Gym envs: reasoning-gym's items and scores, attempts, mixes, bad input."""

import re
from collections import Counter

import gymnasium as gym
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reasoning_gym.utils import extract_answer as reasoning_gym_extract

import palaestra
from palaestra.agents import OracleAgent
from palaestra.envs.reasoning_gym import TASKS, ReasoningGymEnv, extract_answer
from palaestra.errors import InvalidArgumentError

RG_IDS = [i for i in palaestra.env_ids() if i.startswith("palaestra/RG-")]


def test_every_task_and_the_mixes_are_registered() -> None:
    assert {f"palaestra/RG-{task}-v0" for task in TASKS} | {
        "palaestra/RG-Mix-v0",
        "palaestra/RG-MixFeedback-v0",
    } == set(RG_IDS)
    assert len(TASKS) >= 100


@given(st.lists(st.sampled_from(["<answer>", "</answer>", "a", " ", "\n", "<", ">"])))
def test_answers_are_found_as_reasoning_gym_finds_them(parts: list[str]) -> None:
    text = "".join(parts)
    assert extract_answer(text) == reasoning_gym_extract(text)


def test_many_unclosed_answer_tags_pair_as_in_reasoning_gym() -> None:
    # reasoning-gym's lazy expression retries from each opener: quadratic; this is linear.
    text = "<answer>" * 20_000 + "x"
    assert extract_answer(text) is None
    # As in reasoning-gym, the first opener pairs with the closer.
    assert extract_answer(text + "</answer>") == "<answer>" * 19_999 + "x"


def test_an_episode_is_the_item_reasoning_gym_makes() -> None:
    import reasoning_gym

    env = gym.make("palaestra/RG-basic_arithmetic-v0")
    observation, info = env.reset(seed=3)
    assert info["rg_task"] == "basic_arithmetic"
    entry = reasoning_gym.create_dataset("basic_arithmetic", seed=info["rg_seed"], size=1)[0]
    assert observation == entry["question"]
    assert "<answer>" in info["instruction"]
    _, reward, terminated, _, info = env.step(f"So: <answer>{entry['answer']}</answer>")
    assert (reward, terminated, info["success"], info["score"]) == (1.0, True, True, 1.0)


@pytest.mark.parametrize("env_id", ["palaestra/RG-Mix-v0", "palaestra/RG-MixFeedback-v0"])
def test_the_oracle_wins_the_mixes(env_id: str) -> None:
    env = gym.make(env_id)
    records = palaestra.run_episodes(env, OracleAgent(env), episodes=8)
    assert all(r.success and r.total_reward == 1.0 for r in records)


def test_feedback_attempts_pay_the_best_discounted_score() -> None:
    env = gym.make("palaestra/RG-basic_arithmetic-v0", max_attempts=3, expose_ground_truth=True)
    _, info = env.reset(seed=0)
    gold = info["ground_truth"]
    assert info["answer_template"] == "<answer>{answer}</answer>"
    observation, reward, terminated, _, info = env.step("<answer>-0.5</answer>")
    assert (reward, terminated, info["invalid_action"]) == (0.0, False, False)
    assert "scored 0 out of 1" in observation and "2 attempts left" in observation
    # No answer block: invalid, and the attempt is used.
    observation, reward, terminated, _, info = env.step("I think it is 4")
    assert info["invalid_action"] and not terminated and "1 attempt left" in observation
    _, reward, terminated, _, info = env.step(f"<answer>{gold}</answer>")
    assert (reward, terminated, info["success"]) == (0.25, True, True)
    assert info["episode_metrics"] == {
        "score": 1.0,
        "correct": 1.0,
        "attempts": 3.0,
        "invalid_actions": 1.0,
    }


def test_a_worse_attempt_after_partial_credit_costs_nothing() -> None:
    # word_sorting gives no partial credit; spell_backward does (a prefix of the answer).
    env = gym.make("palaestra/RG-spell_backward-v0", max_attempts=3, expose_ground_truth=True)
    _, info = env.reset(seed=1)
    gold = info["ground_truth"]
    partial = gold[: len(gold) // 2]
    rewards = [env.step(f"<answer>{a}</answer>")[1] for a in (gold + "zz", partial, "")]
    assert 0.0 < rewards[0] < 1.0 and rewards[1:] == [0.0, 0.0]


def test_mix_weights_and_settings() -> None:
    env = ReasoningGymEnv(
        tasks={
            "basic_arithmetic": 3,
            "leg_counting": {"weight": 1, "config": {"min_animals": 1, "max_animals": 2}},
        }
    )
    drawn = Counter(env.reset(seed=seed)[1]["rg_task"] for seed in range(400))
    assert set(drawn) == {"basic_arithmetic", "leg_counting"}
    assert 240 < drawn["basic_arithmetic"] < 360
    level = ReasoningGymEnv(tasks={"basic_arithmetic": {"level": 0}})
    assert level.mix["basic_arithmetic"][1]
    # Weights near the float maximum do not sum to infinity.
    huge = ReasoningGymEnv(tasks={"basic_arithmetic": 1e308, "leg_counting": 1e308})
    assert huge.reset(seed=0)[1]["rg_task"] in huge.mix


def test_building_a_dataset_is_left_to_the_workers() -> None:
    # count_primes sieves up to max_n when its dataset is built (10**12 would take hours and
    # terabytes): making the env checks the settings only; resets build it in a worker.
    env = ReasoningGymEnv(task="count_primes", config={"max_n": 10**12})
    assert "count_primes" in env.mix


def test_a_scorer_that_runs_long_is_an_observation() -> None:
    env = gym.make("palaestra/RG-simple_integration-v0", scoring_timeout=1.0)
    env.reset(seed=3)
    observation, reward, terminated, _, info = env.step("<answer>9**9**9**9</answer>")
    assert (reward, terminated, info["invalid_action"]) == (0.0, True, False)
    assert info["score_error"] == "scoring timed out"
    assert "could not be scored: scoring timed out" in observation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "basic_arithmtic"}, "did you mean 'basic_arithmetic'"),
        ({"tasks": {"leg_countin": 1}}, "did you mean 'leg_counting'"),
        ({"tasks": {"leg_counting": {"wieght": 1}}}, "did you mean 'weight'"),
        ({"tasks": {"leg_counting": 0}}, "must be > 0"),
        ({"tasks": {"leg_counting": float("nan")}}, "must be > 0"),
        ({"tasks": {"leg_counting": "1"}}, "must be a number"),
        ({"tasks": {"leg_counting": {"level": "hard"}}}, "must be an int"),
        ({"tasks": {}}, "non-empty mapping"),
        ({"tasks": ["leg_counting"]}, "non-empty mapping"),
        ({"task": "leg_counting", "tasks": {"leg_counting": 1}}, "not both"),
        ({"config": {"min_animals": 1}}, "go with task="),
        ({"task": "leg_counting", "config": {"min_animal": 1}}, "did you mean 'min_animals'"),
        ({"task": "leg_counting", "config": "min_animals=1"}, "mapping of settings"),
        ({"task": 3}, "dataset name"),
        ({"task": "leg_counting", "max_attempts": 0}, "max_attempts"),
        ({"task": "leg_counting", "scoring_timeout": float("inf")}, "scoring_timeout"),
        ({"task": "leg_counting", "system_prompt": "defualt"}, "did you mean 'default'"),
        ({"task": "leg_counting", "config": {1: 2}}, "has no setting 1"),
        ({"task": "leg_counting", "scoring_timeout": "5"}, "scoring_timeout"),
        ({"task": "leg_counting", "attempt_discount": "0.5"}, "attempt_discount"),
    ],
)
def test_bad_arguments_give_clear_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        ReasoningGymEnv(**kwargs)  # type: ignore[arg-type]


def test_an_unknown_task_id_suggests_the_closest() -> None:
    with pytest.raises(gym.error.NameNotFound, match="Did you mean: `RG-basic_arithmetic`"):
        gym.make("palaestra/RG-basic_arithmtic-v0")


def test_tasks_without_a_reference_have_no_oracle() -> None:
    env = gym.make("palaestra/RG-rush_hour-v0")
    env.reset(seed=0)
    assert not env.unwrapped.has_oracle
    assert gym.make("palaestra/RG-Mix-v0").unwrapped.has_oracle
