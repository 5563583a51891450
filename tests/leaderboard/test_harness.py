"""Suites, the evaluation harness (resume included) and replay verification against forgeries."""

import json
from pathlib import Path

import pytest

from palaestra.errors import InvalidArgumentError
from palaestra.leaderboard import (
    Mismatch,
    Results,
    bootstrap,
    evaluate,
    hidden_seeds,
    load_results,
    load_suite,
    parse_suite,
    verify,
)

from .conftest import SMALL


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    return evaluate("random", SMALL, tmp_path_factory.mktemp("r") / "r.json", progress=False)


def test_shipped_suite_covers_every_family() -> None:
    suite = load_suite("palaestra-v1")
    assert {t.family for t in suite.tasks} == {
        "bandits", "math", "textworld", "alfworld", "social", "search"
    }  # fmt: skip
    assert len(suite.hash) == 64
    with pytest.raises(InvalidArgumentError, match="unknown suite 'palaestra-v0'"):
        load_suite("palaestra-v0")


#: palaestra-v1's hash: results files on it stay valid whatever suites come after it.
V1_HASH = "0882d1226c126b3afe43a448ba13163cf124fd2ceca377249e50037bcabd992c"


def test_v2_is_v1_and_reasoning_gym() -> None:
    v1, v2 = load_suite("palaestra-v1"), load_suite("palaestra-v2")
    assert v1.hash == V1_HASH
    assert v2.tasks[: len(v1.tasks)] == v1.tasks
    assert {t.family for t in v2.tasks[len(v1.tasks) :]} == {"rg"}


def test_reasoning_gym_results_replay_and_hidden_seeds_differ(tmp_path: Path) -> None:
    v2 = load_suite("palaestra-v2")
    results = evaluate("oracle", v2, tmp_path / "rg.json", families=["rg"], progress=False)
    assert {e.task for e in results.episodes} == {t.name for t in v2.select(["rg"])}
    assert all(e.success for e in results.episodes)
    verify(results, v2)
    secret = {t.name: hidden_seeds(v2, t, b"server secret") for t in v2.tasks}
    with pytest.raises(Mismatch, match="not an episode of the suite"):
        verify(results, v2, seeds=secret)


def test_hash_follows_every_task_field() -> None:
    base = {"id": "s", "tasks": [{"name": "a", "family": "f", "env": "palaestra/Bandit-v0",
                                  "episodes": 2}]}  # fmt: skip
    hashes = {parse_suite(base).hash}
    for change in ({"episodes": 3}, {"kwargs": {"horizon": 4}}, {"env": "palaestra/Bandit-v1"}):
        variant = json.loads(json.dumps(base))
        variant["tasks"][0].update(change)
        hashes.add(parse_suite(variant).hash)
    assert len(hashes) == 4


@pytest.mark.parametrize(
    "data",
    [None, [], {"id": 3}, {"id": "s"}, {"id": "s", "tasks": []}, {"id": "s", "tasks": [1]},
     {"id": "s", "tasks": [{"name": "a"}]},
     {"id": "s", "tasks": [{"name": "a", "family": "f", "env": "e", "episodes": 0}]},
     {"id": "s", "tasks": [{"name": "a", "family": "f", "env": "e", "episodes": 1}] * 2}],
)  # fmt: skip
def test_malformed_suites(data: object) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_suite(data)


def test_results_file_and_aggregates(results: Results) -> None:
    assert results.suite_hash == SMALL.hash and len(results.episodes) == 5
    assert set(results.tasks) == {"bandit", "pd"}
    task = results.tasks["bandit"]
    assert task.reward.low <= task.reward.mean <= task.reward.high and task.reward.n == 3
    assert bootstrap([1.0, 1.0]).low == 1.0 and bootstrap([]).n == 0


def test_honest_results_verify(results: Results) -> None:
    verify(results, SMALL)


def forged(results: Results, **episode_changes: object) -> Results:
    data = results.model_dump()
    data["episodes"][0].update(episode_changes)
    return Results.model_validate(data)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda r: forged(r, rewards=[9.0] * len(r.episodes[0].rewards)), "claimed"),
        (lambda r: forged(r, seed=r.episodes[0].seed + 500), "not an episode of the suite"),
        (lambda r: forged(r, success=not r.episodes[0].success), "success is"),
        (lambda r: forged(r, actions=r.episodes[0].actions[:-1]), "rewards as actions"),
        (
            lambda r: forged(
                r, actions=r.episodes[0].actions[:2], rewards=r.episodes[0].rewards[:2]
            ),
            "the episode does not end: after its 2 actions",
        ),
        (lambda r: r.model_copy(update={"episodes": r.episodes[1:]}), "episode missing"),
        (lambda r: r.model_copy(update={"episodes": [*r.episodes, r.episodes[0]]}), "twice"),
        (lambda r: r.model_copy(update={"suite_hash": "0" * 64}), "results are for suite"),
    ],
)
def test_forgeries_are_caught(results: Results, change: object, reason: str) -> None:
    with pytest.raises(Mismatch, match=reason):
        verify(change(results), SMALL)  # type: ignore[operator]


def test_parallel_workers_give_the_same_results(tmp_path: Path, results: Results) -> None:
    parallel = evaluate("random", SMALL, tmp_path / "w.json", workers=2, progress=False)
    assert parallel.episodes == results.episodes and parallel.tasks == results.tasks


def test_whole_tasks_may_be_left_out(tmp_path: Path) -> None:
    partial = evaluate("random", SMALL, tmp_path / "p.json", families=["social"], progress=False)
    assert {e.task for e in partial.episodes} == {"pd"}
    verify(partial, SMALL)


def test_hidden_seeds_replace_the_public_ones(results: Results) -> None:
    secret = {t.name: hidden_seeds(SMALL, t, b"server secret") for t in SMALL.tasks}
    assert secret["bandit"] != SMALL.seeds(SMALL.tasks[0])
    with pytest.raises(Mismatch, match="not an episode of the suite"):
        verify(results, SMALL, seeds=secret)


class _StoppedError(Exception):
    """Stands for the run being killed (pytest handles KeyboardInterrupt itself)."""


def test_resume_skips_finished_episodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r.json"
    import palaestra.leaderboard.harness as harness

    real, calls, stop = harness.run_episode, [], [True]

    def counting(env: object, agent: object, *, seed: int) -> object:
        calls.append(seed)
        if len(calls) == 3 and stop and stop.pop():
            raise _StoppedError  # the run is stopped in its third episode
        return real(env, agent, seed=seed)  # type: ignore[arg-type]

    monkeypatch.setattr(harness, "run_episode", counting)
    with pytest.raises(_StoppedError):
        evaluate("random", SMALL, out, progress=False)
    partial = out.with_name("r.json.partial.jsonl")
    partial.write_text(partial.read_text() + '{"task": "bandit", "se')  # a torn last line
    calls.clear()
    results = evaluate("random", SMALL, out, progress=False)
    assert len(calls) == 3 and len(results.episodes) == 5  # two were kept
    assert load_results(out) == results and not partial.exists()
    verify(results, SMALL)


def test_resume_refuses_another_agents_partial_run(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    out.with_name("r.json.partial.jsonl").write_text('{"agent": "oracle"}\n')
    with pytest.raises(InvalidArgumentError, match="another agent or suite"):
        evaluate("random", SMALL, out, progress=False)


@pytest.mark.parametrize(
    "content",
    ["{", "[]", '{"schema_version": 2}', json.dumps({"schema_version": 1, "suite": "x" * 200}),
     '{"episodes": [{"task": "<script>alert(1)</script>"}]}'],
)  # fmt: skip
def test_malformed_results_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InvalidArgumentError, match=r"bad\.json is not a palaestra results file"):
        load_results(path)


def test_cli_evaluate_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from palaestra.cli import main

    out = tmp_path / "results.json"
    argv = ["leaderboard", "evaluate", "--agent", "random", "--tasks", "bandits", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    assert "bandit" in capsys.readouterr().out
    assert main(["leaderboard", "verify", str(out)]) == 0
    data = json.loads(out.read_text())
    data["episodes"][0]["rewards"][0] += 1
    out.write_text(json.dumps(data))
    assert main(["leaderboard", "verify", str(out)]) == 2
    assert "claimed" in capsys.readouterr().out


@pytest.mark.parametrize("workers", [1, 2])
def test_failing_episodes_stop_the_run_with_a_reason(tmp_path: Path, workers: int) -> None:
    from palaestra.errors import PalaestraError

    with pytest.raises(PalaestraError, match="no-such-agent"):
        evaluate("no-such-agent", SMALL, tmp_path / "x.json", workers=workers, progress=False)


@pytest.mark.parametrize(
    ("agent", "settings", "message"),
    [
        ("random", {"workers": 2, "rollout_workers": 2}, "workers=2 and rollout_workers=2: choose"),
        ("random", {"rollout_workers": -1}, "rollout_workers must be >= 0"),
        ("random", {"ray_address": "127.0.0.1:6379"}, "ray_address needs rollout_workers > 0"),
        ("oracle", {"rollout_workers": 2}, "oracle agent reads the state of the environment"),
    ],
)
def test_ray_settings_that_cannot_work_are_refused_before_anything_is_written(
    tmp_path: Path, agent: str, settings: dict, message: str
) -> None:
    out = tmp_path / "r.json"
    with pytest.raises(InvalidArgumentError, match=message):
        evaluate(agent, SMALL, out, progress=False, **settings)
    assert list(tmp_path.iterdir()) == []


def test_a_local_model_loads_once_and_replays_its_seeds(tmp_path: Path) -> None:
    from palaestra.leaderboard.harness import local_model

    local_model.cache_clear()
    first = evaluate("hf:tiny", SMALL, tmp_path / "a.json", families=["bandits"], progress=False)
    again = evaluate("hf:tiny", SMALL, tmp_path / "b.json", families=["bandits"], progress=False)
    assert local_model.cache_info().misses == 1
    assert [e.actions for e in first.episodes] == [e.actions for e in again.episodes]
    verify(first, SMALL)


def test_overall_counts_tasks_not_played_as_zero(results: Results) -> None:
    from palaestra.leaderboard.scoring import score_results

    played = {t.name: t.family for t in SMALL.tasks}
    both = score_results(results, played).overall
    with_missing = score_results(results, {**played, "never-played": "other"}).overall
    assert both is not None and with_missing is not None
    assert with_missing.n == both.n + 1
    assert with_missing.mean == pytest.approx(both.mean * both.n / (both.n + 1))


def test_the_bootstrap_resamples_in_batches_as_in_one_call() -> None:
    import numpy as np

    from palaestra.leaderboard.scoring import BOOTSTRAP_SAMPLES, bootstrap

    data = np.random.default_rng(3).random(3000)  # 333 resamples a batch
    whole = np.random.default_rng(0).choice(data, size=(BOOTSTRAP_SAMPLES, data.size))
    low, high = np.percentile(whole.mean(axis=1), [2.5, 97.5])
    aggregate = bootstrap(list(data))
    assert (aggregate.low, aggregate.high) == (low, high)
