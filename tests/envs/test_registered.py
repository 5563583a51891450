"""Every registered palaestra id passes the public conformance suite."""

import subprocess
import sys

import gymnasium as gym
import pytest

import palaestra
import palaestra.testing


@pytest.mark.parametrize("env_id", palaestra.env_ids())
def test_conformance(env_id: str) -> None:
    palaestra.testing.check(env_id)


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
