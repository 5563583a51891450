"""palaestra environments: the text-env contract and one sub-package per family."""

from palaestra.envs.core import (
    INVALID_ACTION_PENALTY,
    InvalidAction,
    TextEnv,
    TextEnvInfo,
    TextSpace,
    Transition,
)
from palaestra.envs.registration import ENTRIES, EnvEntry, env_ids, register_envs

__all__ = [
    "ENTRIES",
    "INVALID_ACTION_PENALTY",
    "EnvEntry",
    "InvalidAction",
    "TextEnv",
    "TextEnvInfo",
    "TextSpace",
    "Transition",
    "env_ids",
    "register_envs",
]
