"""Environments on Ray actors: the same episodes with any number of actors, and after one dies."""

import subprocess
import sys
from collections.abc import Iterator

import gymnasium as gym
import pytest

ray = pytest.importorskip("ray")

from palaestra.agents import RandomAgent  # noqa: E402
from palaestra.distributed import RayEnvs  # noqa: E402
from palaestra.distributed.ray_envs import DistributedError  # noqa: E402
from palaestra.errors import InvalidArgumentError  # noqa: E402
from palaestra.rollout import Episode, play  # noqa: E402
from tests.distributed.toy import ToyError  # noqa: E402 - registers the toy environments

# One local cluster for the module, on one xdist worker (make test runs --dist loadgroup).
pytestmark = pytest.mark.xdist_group("ray")


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def episodes(
    envs: object, seeds: list[int], agent_class: type = RandomAgent, **kwargs: object
) -> list[dict]:
    played: list[Episode] = play([agent_class(seed=s) for s in seeds], envs, seeds, **kwargs)  # type: ignore[arg-type]
    return [e.to_dict() for e in played]


@pytest.mark.parametrize(
    ("env_id", "kwargs", "max_turns"),
    [("palaestra/Bandit-v0", {}, None), ("palaestra/TextWorld-v0", {}, 6)],
)
def test_the_same_episodes_with_any_number_of_actors(
    env_id: str, kwargs: dict, max_turns: int | None
) -> None:
    seeds = [3, 1, 4, 1, 5, 9]
    local = [gym.make(env_id, **kwargs) for _ in seeds]
    expected = episodes(local, seeds, max_turns=max_turns)
    for workers in (1, 4):
        pool = RayEnvs(env_id, len(seeds), workers=workers, env_kwargs=kwargs)
        try:
            assert episodes(pool, seeds, max_turns=max_turns) == expected, workers
            # A pool plays fewer episodes than it holds, and plays again.
            assert episodes(pool, seeds[:2], max_turns=max_turns) == expected[:2]
        finally:
            pool.close()


def test_a_killed_actor_is_replaced_and_its_episodes_replayed() -> None:
    seeds = list(range(8))
    expected = episodes([gym.make("palaestra/Bandit-v0") for _ in seeds], seeds)
    pool = RayEnvs("palaestra/Bandit-v0", len(seeds), workers=4)

    class Killer(RandomAgent):
        turns = 0

        def act(self, observation: str, info: dict) -> str:
            Killer.turns += 1
            if Killer.turns in (20, 90):  # mid-rollout, twice
                ray.kill(pool.actors[Killer.turns % 4])
            return super().act(observation, info)

    try:
        assert episodes(pool, seeds, Killer) == expected
        assert pool.restarts == 2
    finally:
        pool.close()


def test_an_environment_that_cannot_be_made_names_the_cause() -> None:
    with pytest.raises(DistributedError, match=r"could not start.*unknown argument 'bogus'"):
        RayEnvs("palaestra/Bandit-v0", 2, workers=1, env_kwargs={"bogus": 1})


def test_an_unreachable_cluster_fails_at_once() -> None:
    code = (
        "from palaestra.distributed import connect\n"
        "try:\n    connect('127.0.0.1:9')\nexcept Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    ).stdout
    assert out.startswith("DistributedError no Ray cluster answers at '127.0.0.1:9'")
    assert "ray start --head" in out


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from palaestra.errors import DependencyNotInstalled

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(DependencyNotInstalled, match=r"palaestra\[distributed\]"):
        RayEnvs("palaestra/Bandit-v0", 2, workers=1)


def test_an_environment_raises_as_itself_lowest_index_first() -> None:
    pool = RayEnvs("palaestra-tests/Raising-v0", 4, workers=2, env_kwargs={"fail_at": 2})
    try:
        pool.reset([0, 1, 2, 3])
        pool.step(dict.fromkeys(range(4), "a"))
        with pytest.raises(ToyError, match="boom at step 2"):
            pool.step({3: "a", 1: "a"})
        assert pool.env_id == "palaestra-tests/Raising-v0"
    finally:
        pool.close()


def test_an_environment_that_does_not_replay_the_same_stops_the_rollout() -> None:
    pool = RayEnvs("palaestra-tests/Drifting-v0", 2, workers=2)
    try:
        pool.reset([0, 1])
        pool.step({0: "a", 1: "a"})
        ray.kill(pool.actors[1])
        with pytest.raises(DistributedError, match=r"environment 1 .* did not replay the same"):
            pool.step({0: "a", 1: "a"})
    finally:
        pool.close()


def test_a_pool_needs_seeds_and_is_not_used_after_close() -> None:
    pool = RayEnvs("palaestra/Bandit-v0", 2, workers=1)
    with pytest.raises(InvalidArgumentError, match="needs a seed for every episode"):
        pool.reset([0, None])
    pool.close()
    pool.close()
    with pytest.raises(InvalidArgumentError, match="closed"):
        pool.reset([0, 1])


def test_bad_sizes() -> None:
    with pytest.raises(InvalidArgumentError, match="must be positive"):
        RayEnvs("palaestra/Bandit-v0", 0, workers=1)
    pool = RayEnvs("palaestra/Bandit-v0", 2, workers=1)
    try:
        with pytest.raises(InvalidArgumentError, match="3 seeds for a pool of 2"):
            pool.reset([0, 1, 2])
    finally:
        pool.close()


def test_a_training_run_on_actors_is_the_run_in_this_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from palaestra.algorithms import GRPO, GRPOConfig
    from palaestra.algorithms.trainer import Trainer
    from tests.algorithms.helpers import config, weights

    runs = []
    for workers in (0, 2):
        trainer = Trainer(
            config(tmp_path / str(workers), rollout_workers=workers), GRPO(GRPOConfig())
        )
        metrics = [trainer.iteration(i) for i in range(2)]
        runs.append(
            (
                [{k: v for k, v in m.items() if not k.endswith("_s")} for m in metrics],
                weights(trainer.policy),
            )
        )
        if workers:
            assert isinstance(trainer.envs, RayEnvs)
            trainer.envs.close()
    (local_metrics, local_weights), (ray_metrics, ray_weights) = runs
    assert ray_metrics == local_metrics
    assert all(bool((local_weights[n] == ray_weights[n]).all()) for n in local_weights)


def test_a_pool_lost_for_good_stops_the_run_naming_its_checkpoint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from palaestra.algorithms import GRPO, GRPOConfig
    from palaestra.algorithms.trainer import Trainer, TrainingError
    from tests.algorithms.helpers import config

    trainer = Trainer(config(tmp_path, rollout_workers=1), GRPO(GRPOConfig()))

    def lost(actions: dict) -> dict:
        raise DistributedError("the Ray actor holding palaestra/Bandit-v0 environments died")

    trainer.envs.step = lost  # type: ignore[method-assign, union-attr]
    with pytest.raises(TrainingError, match=r"failed on Ray: .*died; the last checkpoint is"):
        trainer.run()
