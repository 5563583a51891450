"""Multi-turn RL algorithms for LLM agents, over one shared trainer.

``ALGORITHMS`` maps the names ``palaestra train NAME`` accepts to an algorithm class and
its default config (presets such as ``dapo`` are GRPO with other defaults). Clip-Cov and
KL-Cov are loss options of every algorithm (``covariance_control``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from palaestra.algorithms.aepo_agentic import AgenticAEPO, AgenticAEPOConfig
from palaestra.algorithms.aepo_arbitrary import ArbitraryAEPO, ArbitraryAEPOConfig
from palaestra.algorithms.base import Algorithm, LossContext, PolicyLossConfig
from palaestra.algorithms.epo import EPO, EPOConfig
from palaestra.algorithms.gigpo import GiGPO, GiGPOConfig
from palaestra.algorithms.grpo import DAPO, DR_GRPO, GRPO, GRPOConfig
from palaestra.algorithms.igpo import IGPO, IGPOConfig
from palaestra.algorithms.ppo import PPO, PPOConfig
from palaestra.algorithms.rloo import RLOO, RLOOConfig
from palaestra.algorithms.salt import SALT, SALTConfig
from palaestra.algorithms.spear import SPEAR, SPEARConfig
from palaestra.errors import UnknownNameError, did_you_mean

ALGORITHMS: dict[str, tuple[type[Algorithm], PolicyLossConfig]] = {
    "grpo": (GRPO, GRPOConfig()),
    "dr_grpo": (GRPO, DR_GRPO),
    "dapo": (GRPO, DAPO),
    "rloo": (RLOO, RLOOConfig()),
    "ppo": (PPO, PPOConfig()),
    "gigpo": (GiGPO, GiGPOConfig()),
    "epo": (EPO, EPOConfig()),
    "salt": (SALT, SALTConfig()),
    "aepo_agentic": (AgenticAEPO, AgenticAEPOConfig()),
    "igpo": (IGPO, IGPOConfig()),
    "aepo_arbitrary": (ArbitraryAEPO, ArbitraryAEPOConfig()),
    "spear": (SPEAR, SPEARConfig()),
}


def default_config(name: str) -> PolicyLossConfig:
    """The default config of algorithm ``name``.

    Raises:
        UnknownNameError: No such algorithm; the message suggests the closest.
    """
    if name not in ALGORITHMS:
        raise UnknownNameError(
            f"unknown algorithm {name!r}{did_you_mean(name, ALGORITHMS)} "
            f"(choose from {', '.join(ALGORITHMS)})"
        )
    return ALGORITHMS[name][1]


def make_algorithm(
    name: str, config: PolicyLossConfig | None = None, **overrides: Any
) -> Algorithm:
    """Algorithm ``name`` with ``config`` (default: its own) and field ``overrides``."""
    base = config or default_config(name)
    return ALGORITHMS[name][0](replace(base, **overrides) if overrides else base)


__all__ = [
    "ALGORITHMS",
    "DAPO",
    "DR_GRPO",
    "EPO",
    "GRPO",
    "IGPO",
    "PPO",
    "RLOO",
    "SALT",
    "SPEAR",
    "AgenticAEPO",
    "AgenticAEPOConfig",
    "Algorithm",
    "ArbitraryAEPO",
    "ArbitraryAEPOConfig",
    "EPOConfig",
    "GRPOConfig",
    "GiGPO",
    "GiGPOConfig",
    "IGPOConfig",
    "LossContext",
    "PPOConfig",
    "PolicyLossConfig",
    "RLOOConfig",
    "SALTConfig",
    "SPEARConfig",
    "default_config",
    "make_algorithm",
]
