"""Reasoning Gym's procedurally generated tasks as palaestra environments."""

from palaestra.envs.reasoning_gym.env import ReasoningGymEnv, extract_answer
from palaestra.envs.reasoning_gym.tasks import TASKS

__all__ = ["TASKS", "ReasoningGymEnv", "extract_answer"]
