"""ALFWorld household tasks: an offline task generator and ALFWorld's own text engine."""

from palaestra.envs.alfworld.env import ALFWorldEnv
from palaestra.envs.alfworld.games import DATA_ENV, generated_game, official_games
from palaestra.envs.alfworld.generator import (
    MAX_PLAN_STEPS,
    SPLITS,
    TASK_ALIASES,
    TASK_TYPES,
    GenerationError,
    Task,
    generate_task,
    solve,
)

__all__ = [
    "DATA_ENV",
    "MAX_PLAN_STEPS",
    "SPLITS",
    "TASK_ALIASES",
    "TASK_TYPES",
    "ALFWorldEnv",
    "GenerationError",
    "Task",
    "generate_task",
    "generated_game",
    "official_games",
    "solve",
]
