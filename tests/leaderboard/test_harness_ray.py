"""The harness on Ray env actors: the serial path's results, resumable, clear failures."""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import palaestra.leaderboard.harness as harness  # noqa: E402
from palaestra.leaderboard import Results, evaluate, parse_suite, verify  # noqa: E402

from .conftest import SMALL  # noqa: E402

# One local cluster for the module, on one xdist worker (make test runs --dist loadgroup).
pytestmark = pytest.mark.xdist_group("ray")


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def waves(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, list[int]]]:
    """The env id and seeds of every wave the harness plays, as it plays them."""
    played: list[tuple[str | None, list[int]]] = []
    real = harness.play

    def recording(agent: object, envs: object, seeds: list[int], **kwargs: object) -> object:
        played.append((envs.env_id, list(seeds)))  # type: ignore[attr-defined]
        return real(agent, envs, seeds, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(harness, "play", recording)
    return played


def same(ray_results: Results, serial: Results) -> None:
    assert ray_results.episodes == serial.episodes  # tasks, seeds, actions, rewards, metrics
    assert ray_results.tasks == serial.tasks and ray_results.overall == serial.overall


def test_a_scripted_agent_plays_the_serial_episodes(
    tmp_path: Path, waves: list[tuple[str | None, list[int]]]
) -> None:
    serial = evaluate("random", SMALL, tmp_path / "serial.json", progress=False)
    waves.clear()
    on_ray = evaluate("random", SMALL, tmp_path / "ray.json", rollout_workers=2, progress=False)
    same(on_ray, serial)
    # One wave per task here: 8 episodes per actor hold each task's seeds.
    assert waves == [
        ("palaestra/Bandit-v0", SMALL.seeds(SMALL.tasks[0])),
        ("palaestra/PrisonersDilemma-v0", SMALL.seeds(SMALL.tasks[1])),
    ]
    verify(on_ray, SMALL)


#: Three two-round bandits: the tiny model's replies are slow on a loaded CPU.
SHORT = parse_suite(
    {"id": "short", "tasks": [{"name": "bandit", "family": "bandits", "env": "palaestra/Bandit-v0",
                               "kwargs": {"horizon": 2}, "episodes": 3}]}
)  # fmt: skip


def test_a_local_model_plays_a_wave_as_one_batch_with_the_serial_replies(
    tmp_path: Path, waves: list[tuple[str | None, list[int]]]
) -> None:
    serial = evaluate("hf:tiny", SHORT, tmp_path / "serial.json", progress=False)
    waves.clear()
    on_ray = evaluate("hf:tiny", SHORT, tmp_path / "ray.json", rollout_workers=2, progress=False)
    same(on_ray, serial)
    assert waves == [("palaestra/Bandit-v0", SHORT.seeds(SHORT.tasks[0]))]  # one batch of three
    assert len({tuple(e.actions) for e in on_ray.episodes}) == 3  # each seed samples its own
    verify(on_ray, SHORT)


class _StoppedError(Exception):
    """Stands for the run being killed (pytest handles KeyboardInterrupt itself)."""


def test_an_interrupted_run_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, waves: list[tuple[str | None, list[int]]]
) -> None:
    serial = evaluate("random", SMALL, tmp_path / "serial.json", progress=False)
    monkeypatch.setattr(harness, "WAVE_PER_WORKER", 1)  # waves of 2 on 2 actors
    recording = harness.play

    def stopping(*args: object, **kwargs: object) -> object:
        if len(waves) == 1:
            raise _StoppedError  # the run is stopped in its second wave
        return recording(*args, **kwargs)  # type: ignore[operator]

    out = tmp_path / "r.json"
    waves.clear()
    monkeypatch.setattr(harness, "play", stopping)
    with pytest.raises(_StoppedError):
        evaluate("random", SMALL, out, rollout_workers=2, progress=False)
    partial = out.with_name("r.json.partial.jsonl")
    assert len(partial.read_text().splitlines()) == 1 + 2  # the header and the first wave
    monkeypatch.setattr(harness, "play", recording)
    waves.clear()
    resumed = evaluate("random", SMALL, out, rollout_workers=2, progress=False)
    bandit, pd = (SMALL.seeds(task) for task in SMALL.tasks)
    assert waves == [("palaestra/Bandit-v0", bandit[2:]), ("palaestra/PrisonersDilemma-v0", pd)]
    same(resumed, serial)
    assert not partial.exists()


def test_an_unreachable_cluster_fails_at_once(tmp_path: Path) -> None:
    argv = ["leaderboard", "evaluate", "--tasks", "bandits", "--out", str(tmp_path / "r.json")]
    argv += ["--rollout-workers", "2", "--ray-address", "127.0.0.1:9", "--no-progress"]
    start = time.monotonic()
    run = subprocess.run(  # a process of its own: this one is connected to a cluster
        [sys.executable, "-m", "palaestra.cli", *argv], capture_output=True, text=True, timeout=120
    )
    out = " ".join(run.stdout.split())
    assert run.returncode == 2, run.stderr
    assert out.startswith("error: no Ray cluster answers at '127.0.0.1:9'")
    assert "ray start --head" in out
    assert time.monotonic() - start < 60  # Ray itself would retry for minutes


def test_without_ray_the_cli_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from palaestra.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)
    argv = ["leaderboard", "evaluate", "--tasks", "bandits", "--out", str(tmp_path / "r.json")]
    assert main([*argv, "--rollout-workers", "2", "--no-progress"]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("error: rollout workers on Ray needs ray: pip install")
    assert "palaestra[distributed]" in out
