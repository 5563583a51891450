"""Every palaestra environment id, registered in Gymnasium's own registry.

Entry points are strings so that ``import palaestra`` stays light: an engine such as
TextWorld is imported only when one of its environments is made.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from palaestra.envs.reasoning_gym.tasks import TASKS as RG_TASKS
from palaestra.errors import InvalidArgumentError, UnknownNameError, did_you_mean

NAMESPACE = "palaestra"


@dataclass(frozen=True)
class EnvEntry:
    """One registered environment id.

    Attributes:
        id: The Gymnasium id, ``palaestra/Name-vN``.
        entry_point: ``"module:Class"`` of the environment.
        description: One line for ``palaestra envs`` and the README table.
        kwargs: Constructor arguments that make this variant.
        max_episode_steps: Time limit (Gymnasium's ``TimeLimit``), if the task has none.
    """

    id: str
    entry_point: str
    description: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    max_episode_steps: int | None = None


_BANDIT = "palaestra.envs.bandit:BanditEnv"

ENTRIES: tuple[EnvEntry, ...] = (
    EnvEntry("palaestra/Bandit-v0", _BANDIT, "5-armed Bernoulli bandit, 50 rounds"),
    EnvEntry(
        "palaestra/Bandit-TwoArmed-v0",
        _BANDIT,
        "2-armed Bernoulli bandit, 30 rounds",
        {"n_arms": 2, "horizon": 30},
    ),
    EnvEntry(
        "palaestra/Bandit-Hard-v0",
        _BANDIT,
        "5-armed Bernoulli bandit whose best arm is only 0.1 better, 100 rounds",
        {"n_arms": 5, "horizon": 100, "gap": 0.1},
    ),
    EnvEntry(
        "palaestra/Bandit-Gaussian-v0",
        _BANDIT,
        "5-armed Gaussian bandit (standard normal means, unit noise), 50 rounds",
        {"distribution": "gaussian"},
    ),
    EnvEntry(
        "palaestra/ContextualBandit-v0",
        "palaestra.envs.bandit:ContextualBanditEnv",
        "4-armed bandit whose best arm depends on one of 3 visitor contexts, 60 rounds",
        {"n_arms": 4, "n_contexts": 3, "horizon": 60},
    ),
)


_MATH = "palaestra.envs.math:MathEnv"

ENTRIES += (
    EnvEntry(
        "palaestra/Math-v0", _MATH, "one math problem (generated, all four kinds), one answer"
    ),
    EnvEntry(
        "palaestra/Math-Arithmetic-v0",
        _MATH,
        "integer arithmetic, one answer",
        {"task": "arithmetic"},
    ),
    EnvEntry(
        "palaestra/Math-Word-v0", _MATH, "GSM8K-style multi-step word problems", {"task": "word"}
    ),
    EnvEntry(
        "palaestra/Math-Fractions-v0",
        _MATH,
        "fraction arithmetic in lowest terms",
        {"task": "fractions"},
    ),
    EnvEntry("palaestra/Math-Linear-v0", _MATH, "one linear equation in x", {"task": "linear"}),
    EnvEntry(
        "palaestra/Math-Hard-v0",
        _MATH,
        "the hardest generated problems (difficulty 3)",
        {"difficulty": 3},
    ),
    EnvEntry(
        "palaestra/MathFeedback-v0",
        _MATH,
        "three attempts, told when wrong; reward halves per extra attempt",
        {"max_attempts": 3, "difficulty": 2},
    ),
    EnvEntry(
        "palaestra/MathTool-v0",
        "palaestra.envs.math:MathToolEnv",
        "run Python in a sandbox (up to 4 calls), then answer",
        {"difficulty": 3},
    ),
)


ENTRIES += (
    EnvEntry(
        "palaestra/SearchQA-v0",
        "palaestra.envs.searchqa:SearchQAEnv",
        "2-hop questions about invented entities; search[query] a BM25 index, answer[text]",
        max_episode_steps=10,
    ),
)

_TEXTWORLD = "palaestra.envs.textworld:TextWorldEnv"

ENTRIES += (
    EnvEntry(
        "palaestra/TextWorld-v0",
        _TEXTWORLD,
        "TextWorld 'simple' house chores: a key, doors and an object to put away",
        max_episode_steps=50,
    ),
    EnvEntry(
        "palaestra/TextWorld-CoinCollector-v0",
        _TEXTWORLD,
        "TextWorld coin collector, level 5: find the coin through a maze of rooms",
        {"challenge": "coin_collector", "settings": {"level": 5}},
        max_episode_steps=50,
    ),
    EnvEntry(
        "palaestra/TextWorld-TreasureHunter-v0",
        _TEXTWORLD,
        "TextWorld treasure hunter, level 5: find and take the named object",
        {"challenge": "treasure_hunter", "settings": {"level": 5}},
        max_episode_steps=50,
    ),
    EnvEntry(
        "palaestra/TextWorld-Cooking-v0",
        _TEXTWORLD,
        "TextWorld cooking: read the recipe, gather, cut and cook 2 ingredients in 6 rooms",
        {
            "challenge": "cooking",
            "settings": {"recipe": 2, "take": 2, "go": 6, "open": True, "cook": True, "cut": True},
        },
        max_episode_steps=80,
    ),
    EnvEntry(
        "palaestra/TextWorld-Custom-v0",
        _TEXTWORLD,
        "TextWorld custom world: 5 rooms, 10 objects, a 5-step quest (settings change them)",
        {"challenge": "custom"},
        max_episode_steps=50,
    ),
)

_ALFWORLD = "palaestra.envs.alfworld:ALFWorldEnv"

ENTRIES += (
    EnvEntry(
        "palaestra/ALFWorld-v0",
        _ALFWORLD,
        "ALFWorld household tasks, all six types, generated offline (train floor plans)",
        max_episode_steps=50,
    ),
    EnvEntry(
        "palaestra/ALFWorld-Unseen-v0",
        _ALFWORLD,
        "ALFWorld tasks in floor plans never used for the train split",
        {"split": "unseen"},
        max_episode_steps=50,
    ),
    *(
        EnvEntry(
            f"palaestra/ALFWorld-{name}-v0",
            _ALFWORLD,
            f"ALFWorld {task.replace('_', ' ')} tasks",
            {"task_type": task},
            max_episode_steps=50,
        )
        for name, task in (
            ("Pick", "pick_and_place_simple"),
            ("Look", "look_at_obj_in_light"),
            ("Clean", "pick_clean_then_place_in_recep"),
            ("Heat", "pick_heat_then_place_in_recep"),
            ("Cool", "pick_cool_then_place_in_recep"),
            ("PickTwo", "pick_two_obj_and_place"),
        )
    ),
)

_MATRIX_GAME = "palaestra.envs.social:MatrixGameEnv"

#: The iterated social dilemmas: (name, game, extra kwargs, description).
SOCIAL_GAMES: tuple[tuple[str, str, dict[str, Any], str], ...] = (
    ("PrisonersDilemma", "prisoners_dilemma", {}, "iterated prisoner's dilemma, 10 rounds"),
    ("StagHunt", "stag_hunt", {}, "iterated stag hunt, 10 rounds"),
    ("Chicken", "chicken", {}, "iterated chicken, 10 rounds"),
    ("PublicGoods", "public_goods", {}, "4-player public goods game (multiplier 1.6), 10 rounds"),
)

ENTRIES += tuple(
    EnvEntry(
        f"palaestra/{name}-v0",
        _MATRIX_GAME,
        f"{description} against a scripted tit-for-tat (opponent= changes it)",
        {"game": game, **extra},
    )
    for name, game, extra, description in SOCIAL_GAMES
)

#: The sequential dilemmas on a grid: (name, game, description).
GRID_GAMES: tuple[tuple[str, str, str], ...] = (
    ("Gathering", "gathering", "Gathering: 2 players, apples that regrow, a tag beam, 100 steps"),
    ("Cleanup", "cleanup", "Cleanup: 2 players, apples grow only while the river is clean"),
)

ENTRIES += tuple(
    EnvEntry(
        f"palaestra/{name}-v0",
        "palaestra.envs.social:GridGameEnv",
        f"{description}; against a greedy harvester",
        {"game": game},
    )
    for name, game, description in GRID_GAMES
)


_RG = "palaestra.envs.reasoning_gym:ReasoningGymEnv"

ENTRIES += (
    EnvEntry(
        "palaestra/RG-Mix-v0",
        _RG,
        "Reasoning Gym: every task with a reference answer, equally weighted (tasks= reweights)",
    ),
    EnvEntry(
        "palaestra/RG-MixFeedback-v0",
        _RG,
        "Reasoning Gym mix, three attempts, told the score; reward halves per extra attempt",
        {"max_attempts": 3},
    ),
    *(
        EnvEntry(f"palaestra/RG-{task}-v0", _RG, f"Reasoning Gym {task}", {"task": task})
        for task in RG_TASKS
    ),
)

ENTRIES += (
    EnvEntry(
        "palaestra/MCPTool-v0",
        "palaestra.envs.mcp:MCPToolEnv",
        "questions answered with the tools of an MCP server (stdio; palaestra's search by default)",
        max_episode_steps=10,
    ),
)

ENTRIES += (
    EnvEntry(
        "palaestra/OpenEnv-v0",
        "palaestra.integrations.openenv_env:OpenEnvEnv",
        "any OpenEnv server as a text env (url= its address; `palaestra serve-env` makes one)",
    ),
)


def register_pettingzoo() -> None:
    """Register the multi-agent games in PettingZoo's parallel registry (idempotent)."""
    import pettingzoo

    for name, game, extra, _ in SOCIAL_GAMES:
        env_id = f"palaestra/{name}-v0"
        if env_id not in pettingzoo.parallel_registry:
            pettingzoo.register(
                "parallel",
                env_id,
                "palaestra.envs.social:MatrixGameParallelEnv",
                kwargs={"game": game, **extra},
            )
    for name, game, _ in GRID_GAMES:
        env_id = f"palaestra/{name}-v0"
        if env_id not in pettingzoo.parallel_registry:
            pettingzoo.register(
                "parallel",
                env_id,
                "palaestra.envs.social:GridGameParallelEnv",
                kwargs={"game": game},
            )


def register_envs() -> None:
    """Register every palaestra id with Gymnasium (idempotent).

    Every id gets :class:`~palaestra.envs.wrappers.EpisodeEndInfo` outside the time limit,
    so a truncated step carries ``success`` and ``episode_metrics`` like a terminated one,
    also under ``gym.make(id, max_episode_steps=N)``.
    """
    from palaestra.envs.wrappers.episode_end import EpisodeEndInfo

    for entry in ENTRIES:
        if entry.id not in gym.registry:
            gym.register(
                id=entry.id,
                entry_point=entry.entry_point,
                kwargs=dict(entry.kwargs),
                max_episode_steps=entry.max_episode_steps,
                additional_wrappers=(EpisodeEndInfo.wrapper_spec(),),
            )
    register_pettingzoo()


def env_ids() -> list[str]:
    """Return every registered palaestra id, in registration order."""
    return [entry.id for entry in ENTRIES]


def entry(env_id: str) -> EnvEntry:
    """Return the registry entry of ``env_id``.

    Raises:
        UnknownNameError: ``env_id`` is not a palaestra id; the message suggests the closest.
    """
    for candidate in ENTRIES:
        if candidate.id == env_id:
            return candidate
    raise UnknownNameError(
        f"unknown environment {env_id!r}{did_you_mean(env_id, env_ids())} "
        "(`palaestra envs` lists them)"
    )


def parse_env_kwargs(text: str) -> dict[str, Any]:
    """``gym.make`` keyword arguments given as a JSON object (on a command line, in a config).

    Raises:
        InvalidArgumentError: ``text`` is not JSON, or not an object.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"env_kwargs is not valid JSON: {exc.msg}") from exc
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"env_kwargs must be a JSON object, got {text[:200]!r}")
    return value
