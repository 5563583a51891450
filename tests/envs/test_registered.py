"""Every registered palaestra id passes the public conformance suite."""

import subprocess
import sys

import gymnasium as gym
import pytest

import palaestra
import palaestra.testing

#: Reasoning Gym tasks whose generator takes 0.05-1 s an item on some seeds (searches,
#: puzzle solvers, sympy); the conformance suite makes about 200 items. ``make test-all``.
SLOW_RG = frozenset(
    {"countdown", "futoshiki", "intermediate_integration", "knight_swap",
     "polynomial_equations", "puzzle24", "quantum_lock", "rearc", "rubiks_cube", "sokoban",
     "sudoku", "zebra_puzzles"}
)  # fmt: skip


def conformance_cases() -> list[object]:
    """Every id; the generated text games on small pools (generation is their cost).

    ALFWorld's per-type ids are ALFWorld-v0 with one ``task_type`` (the same engine, and
    games that ALFWorld-v0 also plays): they run with ``make test-all``, as do the Reasoning
    Gym tasks of :data:`SLOW_RG` (the mixes play them in the default run).
    """
    cases: list[object] = []
    for env_id in palaestra.env_ids():
        if env_id == "palaestra/OpenEnv-v0":
            # A client of a server given by url=: tests/integrations/test_openenv.py runs the
            # suite on it against a live `palaestra serve-env`.
            continue
        kwargs: dict[str, object] = {}
        marks: list[pytest.MarkDecorator] = []
        if env_id.startswith("palaestra/ALFWorld-"):
            kwargs = {"pool_size": 2}
            if env_id not in ("palaestra/ALFWorld-v0", "palaestra/ALFWorld-Unseen-v0"):
                marks = [pytest.mark.slow]
        elif env_id.startswith("palaestra/TextWorld-"):
            kwargs = {"pool_size": 4}
        elif env_id.removeprefix("palaestra/RG-").removesuffix("-v0") in SLOW_RG:
            marks = [pytest.mark.slow]
        cases.append(pytest.param(env_id, kwargs, id=env_id, marks=marks))
    return cases


@pytest.mark.parametrize(("env_id", "kwargs"), conformance_cases())
def test_conformance(env_id: str, kwargs: dict[str, object]) -> None:
    palaestra.testing.check(env_id, kwargs=kwargs)


@pytest.mark.parametrize("env_id", palaestra.env_ids())
def test_registered_in_gymnasium(env_id: str) -> None:
    assert env_id in gym.registry
    assert env_id.startswith("palaestra/")


def test_make_with_module_prefix_without_import() -> None:
    code = (
        "import gymnasium as gym, sys\n"
        "assert 'palaestra' not in sys.modules\n"
        "env = gym.make('palaestra:palaestra/Bandit-v0')\n"
        "obs, info = env.reset(seed=0)\n"
        "print(type(env.unwrapped).__name__, 'instruction' in info)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["BanditEnv", "True"]


def test_unknown_id_suggests_closest() -> None:
    with pytest.raises(gym.error.NameNotFound, match="Did you mean: `Bandit`"):
        gym.make("palaestra/Bandt-v0")


def test_unknown_kwarg_names_field_and_suggests() -> None:
    with pytest.raises(
        palaestra.errors.InvalidArgumentError, match="'n_arm'; did you mean 'n_arms'"
    ):
        gym.make("palaestra/Bandit-v0", n_arm=3)


def test_registration_is_idempotent() -> None:
    before = len(gym.registry)
    palaestra.envs.register_envs()
    assert len(gym.registry) == before
