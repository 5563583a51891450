"""Scaling out on Ray: environments held by actors, stepped by the one rollout loop.

:class:`RayEnvs` is an :class:`~palaestra.rollout.EnvPool`: ``play(agent, RayEnvs(...),
seeds)`` plays episodes whose environments live in Ray actors, on this machine or across a
cluster. :class:`RayGenerators` is a batch agent whose replies generation actors sample,
each with a copy of the policy that the trainer updates after every step (``hf`` or
``vllm`` backend).
"""

from palaestra.distributed.ray_envs import DistributedError, RayEnvs, connect
from palaestra.distributed.ray_generation import PolicySource, RayGenerators

__all__ = ["DistributedError", "PolicySource", "RayEnvs", "RayGenerators", "connect"]
