"""Generation actors: the local agent's replies, new weights after an update, a dead actor
replaced, a trainer run that equals the one-process run, and vLLM's clear errors."""

import copy
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import pytest
import torch

ray = pytest.importorskip("ray")

from palaestra.algorithms import make_algorithm  # noqa: E402
from palaestra.algorithms.config import TrainConfig  # noqa: E402
from palaestra.algorithms.trainer import Trainer  # noqa: E402
from palaestra.distributed import DistributedError, PolicySource, RayGenerators  # noqa: E402
from palaestra.distributed.vllm_backend import require_vllm  # noqa: E402
from palaestra.errors import DependencyNotInstalled, InvalidArgumentError  # noqa: E402
from palaestra.llm.generation import SamplingConfig  # noqa: E402
from palaestra.llm.hf_agent import HFAgent  # noqa: E402
from palaestra.llm.prompting import PromptConfig  # noqa: E402
from palaestra.rollout import Turn, play  # noqa: E402

pytestmark = pytest.mark.xdist_group("ray")

SAMPLING = SamplingConfig(max_new_tokens=6)
KEYS = [(5, k) for k in range(5)]


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    # Logical CPUs: the module's actors and a trainer's stay placed at once.
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def generators() -> Iterator[RayGenerators]:
    remote = RayGenerators(
        PolicySource(model="tiny"),
        workers=2,
        sampling=SAMPLING,
        prompt=PromptConfig(),
        max_batch_size=5,
    )
    yield remote
    remote.close()


def perturbed(model: Any) -> Any:
    """A copy of ``model`` with every weight moved: the policy after an update."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model


def replies(agent: Any, seeds: list[int], horizon: int = 3) -> list[Any]:
    envs = [gym.make("palaestra/Bandit-v0", horizon=horizon) for _ in seeds]
    return play(agent, envs, seeds, keys=KEYS[: len(seeds)])


def same(ours: list[Any], theirs: list[Any]) -> None:
    for a, b in zip(ours, theirs, strict=True):
        assert [t.response_ids for t in a.turns] == [t.response_ids for t in b.turns]
        assert [t.action for t in a.turns] == [t.action for t in b.turns]
        for x, y in zip(a.turns, b.turns, strict=True):
            assert x.logprobs == pytest.approx(y.logprobs, abs=1e-4)


def test_actors_reply_as_the_local_agent_and_take_new_weights(
    tiny: tuple[Any, Any], generators: RayGenerators
) -> None:
    local = HFAgent(*tiny, sampling=SAMPLING)
    seeds = [0, 1, 2, 3, 4]
    same(replies(generators, seeds), replies(local, seeds))
    # An update: the actors get the new weights through the object store.
    model = perturbed(tiny[0])
    updated = HFAgent(model, tiny[1], sampling=SAMPLING)
    generators.load_weights({n: p.detach() for n, p in model.named_parameters()})
    try:
        after = replies(generators, seeds)
        same(after, replies(updated, seeds))
        assert [t.response_ids for e in after for t in e.turns] != [
            t.response_ids for e in replies(local, seeds) for t in e.turns
        ]
    finally:
        generators.load_weights({n: p.detach() for n, p in tiny[0].named_parameters()})
    with pytest.raises(InvalidArgumentError, match="not parameters"):
        generators.load_weights({"no.such.weight": torch.zeros(1)})


def test_a_killed_actor_is_replaced_and_its_episodes_go_on(
    tiny: tuple[Any, Any], generators: RayGenerators
) -> None:
    # Updated weights; episode 0 replays a given first turn, the others sample theirs; then
    # actor 0 is killed (its chats, caches and weights gone) and every episode takes a
    # second turn. The replacement loads the current weights, redoes its episodes' turns
    # (the replayed one as a replay, the sampled ones moving their streams on) and samples
    # what the local agent samples.
    model = perturbed(tiny[0])
    local = HFAgent(model, tiny[1], sampling=SAMPLING)
    reply = [*tiny[1]("B", add_special_tokens=False)["input_ids"], tiny[1].eos_token_id]
    given = Turn(observation="Round 1.", action="B", response="B", response_ids=reply,
                 logprobs=[-1.0] * len(reply), entropies=[1.0] * len(reply))  # fmt: skip
    instructions = [f"Play {k}" for k in range(5)]
    turns: dict[str, list[Any]] = {}
    generators.load_weights({n: p.detach() for n, p in model.named_parameters()})
    try:
        for name, agent in (("local", local), ("remote", generators)):
            agent.start(instructions, keys=KEYS)
            agent.replay(0, "Round 1.", {}, given)
            first = agent.respond(range(1, 5), ["Round 1."] * 4, [{}] * 4)
            if name == "remote":
                ray.kill(generators.actors[0])
            second = agent.respond(range(5), ["Round 2."] * 5, [{}] * 5)
            agent.finish()
            turns[name] = [t.response_ids for t in first + second]
    finally:
        generators.load_weights({n: p.detach() for n, p in tiny[0].named_parameters()})
    assert turns["remote"] == turns["local"]
    assert generators.restarts == 1


def test_a_run_with_generation_actors_is_the_one_process_run(tmp_path: Path) -> None:
    def run(workers: int) -> tuple[list[dict[str, float]], dict[str, torch.Tensor]]:
        config = TrainConfig(
            env="palaestra/Bandit-v0",
            env_kwargs='{"horizon": 2}',
            steps=2,
            groups=2,
            group_size=3,
            max_new_tokens=4,
            extract="choice",
            micro_batch_size=3,
            tensorboard=False,
            progress=False,
            out=tmp_path / str(workers),
            generation_workers=workers,
        )
        trainer = Trainer(config, make_algorithm("grpo"))
        try:
            rows = [trainer.iteration(k) for k in range(2)]
        finally:
            trainer.close()
        return rows, {n: p.detach().clone() for n, p in trainer.policy.named_parameters()}

    (rows, weights), (remote_rows, remote_weights) = run(0), run(2)
    assert all(row["weight_sync_s"] >= 0 for row in remote_rows)
    for row, remote in zip(rows, remote_rows, strict=True):
        for key in ("return", "response_tokens", "loss", "entropy", "grad_norm"):
            assert remote[key] == pytest.approx(row[key], abs=1e-5), key
    assert max(float((weights[n] - remote_weights[n]).abs().max()) for n in weights) <= 1e-5


def test_an_actor_that_cannot_load_the_model_gives_the_cause(tmp_path: Path) -> None:
    with pytest.raises(DistributedError, match=r"could not start: .*no-such-model"):
        RayGenerators(
            PolicySource(model=str(tmp_path / "no-such-model")),
            workers=1,
            sampling=SAMPLING,
            prompt=PromptConfig(),
            max_batch_size=2,
        )


def test_vllm_errors_say_what_to_install() -> None:
    with pytest.raises(DependencyNotInstalled, match=r"pip install 'palaestra\[vllm\]'"):
        require_vllm()
    old = SimpleNamespace(__version__="0.6.0", __name__="vllm", LLM=object, SamplingParams=object)
    with pytest.raises(
        DependencyNotInstalled, match=r"vllm 0.6.0 lacks LLM.collective_rpc.*>=0.11"
    ):
        require_vllm(old)
    with pytest.raises(InvalidArgumentError, match="lora_rank 0"):
        PolicySource(model="tiny", backend="vllm", lora_rank=8)
    with pytest.raises(InvalidArgumentError, match="set generation_workers"):
        TrainConfig(generation_backend="vllm")
    with pytest.raises(InvalidArgumentError, match="backend must be one of"):
        PolicySource(model="tiny", backend="sglang")
