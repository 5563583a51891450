"""Scaling out on Ray: environments held by actors, stepped by the one rollout loop.

:class:`RayEnvs` is an :class:`~palaestra.rollout.EnvPool`: ``play(agent, RayEnvs(...),
seeds)`` plays episodes whose environments live in Ray actors, on this machine or across a
cluster, while the agent generates for every episode in one batch where it is.
"""

from palaestra.distributed.ray_envs import DistributedError, RayEnvs, connect

__all__ = ["DistributedError", "RayEnvs", "connect"]
