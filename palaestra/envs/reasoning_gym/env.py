"""Reasoning Gym's tasks as palaestra environments: one answer, or several with feedback."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from palaestra.envs.attempts import AttemptsEnv, is_number
from palaestra.envs.core import InvalidAction, Transition
from palaestra.envs.reasoning_gym import items
from palaestra.envs.reasoning_gym.tasks import TASKS
from palaestra.errors import InvalidArgumentError, did_you_mean

#: The system prompts reasoning-gym ships (``reasoning_gym.utils.SYSTEM_PROMPTS``).
PROMPTS = ("default", "DeepSeekZero", "simple", "direct")

#: Tasks whose datasets give no reference answer and no example solution: no oracle.
NO_REFERENCE = frozenset({"boxnet", "rush_hour"})

#: Metadata fields that hold a solution where the entry's ``answer`` is ``None``.
_EXAMPLE_FIELDS = ("possible_answer", "example_answer", "example_correct_answer")

_OPEN, _CLOSE = "<answer>", "</answer>"

#: Characters of an answer repeated in ``info`` and feedback.
_SHOWN_CHARS = 200


def extract_answer(text: str) -> str | None:
    """The answer in the last ``<answer>...</answer>`` block, stripped; ``None`` if none.

    The same blocks as ``reasoning_gym.utils.extract_answer`` (whose regular expression
    pairs each opener with the first closer after it, then searches on after that closer),
    found with ``str.find`` in one pass, so the time is linear in the text where the lazy
    expression is quadratic on many unclosed openers.
    """
    answer, position = None, 0
    while (start := text.find(_OPEN, position)) >= 0:
        end = text.find(_CLOSE, start + len(_OPEN))
        if end < 0:
            break
        answer, position = text[start + len(_OPEN) : end].strip(), end + len(_CLOSE)
    return answer


class ReasoningGymEnv(AttemptsEnv):
    r"""A Reasoning Gym task (or a weighted mix of them), scored by reasoning-gym itself.

    **Task.** A problem that reasoning-gym generates: ``task`` names one of its datasets
    (``palaestra/RG-<task>-v0``), ``tasks`` a weighted mix (``palaestra/RG-Mix-v0``).
    Each episode draws a reasoning-gym seed (and, in a mix, a task) from the episode's
    generator; the problem is ``reasoning_gym.create_dataset(task, seed=seed, size=1,
    **config)[0]``, byte for byte, and the reset ``info`` names both (``rg_task``,
    ``rg_seed``) so anyone can regenerate it with reasoning-gym. Generation runs in a worker
    whose hash seed is fixed and whose global generators (``random``, numpy's) are seeded
    with the item's seed (:mod:`~palaestra.envs.reasoning_gym.items`): five tasks iterate
    over sets of strings and ``codeio`` calls ``random``, so reasoning-gym called in a
    process of one's own gives their items only under the same conditions.

    **Observation.** The question; after a wrong attempt, the score and the question again.

    **Action.** The reply, with the final answer in ``<answer>...</answer>`` (the last such
    block counts, as in reasoning-gym's ``extract_answer``). A reply without one is an
    invalid action and uses up an attempt.

    **Reward.** The dataset's own ``score_answer`` (in [0, 1], partial credit where the
    task gives it), run in a worker process with a time bound (``scoring_timeout``; a
    scorer that runs past it or raises scores 0 and the observation says so). A bound in
    seconds depends on the machine: an answer whose scoring takes about as long as the
    bound can score on a fast machine and time out on a loaded one. With several
    attempts, attempt ``k`` is worth ``attempt_discount ** (k - 1)`` times its score and
    each step pays what it adds to the best so far, so the return is the best discounted
    score, and a wrong answer after a good one costs nothing.

    **Episode end.** A score of 1, or ``max_attempts`` attempts. ``success`` = a score of
    1. ``episode_metrics``: ``score`` (the best), ``correct``, ``attempts``,
    ``invalid_actions``.

    **Privileged.** ``oracle_action()`` answers with the dataset's reference answer, or the
    example solution in its metadata where the task accepts many answers (``boxnet`` and
    ``rush_hour`` have neither: no oracle). With ``expose_ground_truth=True`` every
    ``info`` carries ``ground_truth``.

    Args:
        task: A reasoning-gym dataset name.
        tasks: A mix instead: ``{name: weight}`` or ``{name: {"weight": w, "config":
            {...}, "level": n}}``. ``None`` with no ``task``: every task with a reference
            answer, equally weighted.
        config: Settings of ``task``'s dataset (its config dataclass's fields).
        level: A difficulty level of reasoning-gym's curriculum for ``task`` (0 is the
            easiest; above the top level, the top level); ``config`` overrides it.
        max_attempts: Attempts per problem.
        attempt_discount: Factor per extra attempt.
        scoring_timeout: Seconds ``score_answer`` may take on one answer.
        system_prompt: Which of reasoning-gym's system prompts is the instruction.
        expose_ground_truth: Put the reference answer in ``info["ground_truth"]``.
        invalid_action_penalty: Reward of a reply without an answer block.
        **kwargs: Other :class:`~palaestra.envs.core.TextEnv` arguments.

    Version History:
        * v0: Initial version (reasoning-gym 0.1.25).
    """

    def __init__(
        self,
        *,
        task: str | None = None,
        tasks: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        level: int | None = None,
        max_attempts: int = 1,
        attempt_discount: float = 0.5,
        scoring_timeout: float = 5.0,
        system_prompt: str = "default",
        expose_ground_truth: bool = False,
        invalid_action_penalty: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            max_attempts=max_attempts,
            attempt_discount=attempt_discount,
            invalid_action_penalty=invalid_action_penalty,
            **kwargs,
        )
        if not (is_number(scoring_timeout) and 0.0 < scoring_timeout <= 600.0):
            raise InvalidArgumentError(
                f"scoring_timeout must be in (0, 600] seconds, got {scoring_timeout!r}"
            )
        if system_prompt not in PROMPTS:
            raise InvalidArgumentError(
                f"system_prompt must be one of {PROMPTS}, got {system_prompt!r}"
                f"{did_you_mean(str(system_prompt), PROMPTS)}"
            )
        if task is not None and tasks is not None:
            raise InvalidArgumentError("give task= (one task) or tasks= (a mix), not both")
        if task is not None:
            self.mix = {task: (1.0, _settings(task, config, level))}
        else:
            if config is not None or level is not None:
                raise InvalidArgumentError(
                    "config= and level= go with task=; in a mix, give them per task: "
                    'tasks={"name": {"weight": 1, "config": {...}, "level": 0}}'
                )
            self.mix = _parse_mix(tasks)
        names = list(self.mix)
        # Scaled by the largest first: weights near the float maximum would sum to inf.
        largest = max(weight for weight, _ in self.mix.values())
        scaled = [self.mix[name][0] / largest for name in names]
        total = math.fsum(scaled)
        self._names = names
        self._weights = [weight / total for weight in scaled]
        self.scoring_timeout = scoring_timeout
        # A step scores in a worker within the timeout (plus half a second). A worker that
        # ran past it is replaced, and the next step waits for its successor to import
        # reasoning-gym and rebuild the dataset: about 2 s, more on a loaded machine.
        self.max_step_seconds = scoring_timeout + 5.0
        self.system_prompt = system_prompt
        self.expose_ground_truth = expose_ground_truth
        self.item: items.Item | None = None
        self._best_score = 0.0
        self._best_value = 0.0

    # ------------------------------------------------------------------ TextEnv

    @property
    def has_oracle(self) -> bool:
        """Whether every task played has a reference answer or an example solution."""
        return not NO_REFERENCE.intersection(self._names)

    @property
    def max_return(self) -> float:
        """A first-attempt answer that scores 1."""
        return 1.0

    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        name = self._names[0]
        if len(self._names) > 1:
            name = self._names[int(self.np_random.choice(len(self._names), p=self._weights))]
        seed = int(self.np_random.integers(2**31))
        self.item = items.generate(name, self.mix[name][1], seed)
        self._attempts = 0
        self._best_score = self._best_value = 0.0
        info: dict[str, Any] = {
            "instruction": self._instruction(),
            "rg_task": name,
            "rg_seed": seed,
        }
        self._add_ground_truth(info)
        return self.item.question, info

    def _parse_action(self, text: str) -> str:
        answer = extract_answer(text)
        if answer is None:
            raise InvalidAction("no final answer found; give it as <answer>...</answer>")
        return answer

    def _step(self, action: str) -> Transition:
        item = self._current()
        self._attempts += 1
        [score] = items.score_many([(item, action)], timeout=self.scoring_timeout + 0.5)
        value = score.value * self.attempt_discount ** (self._attempts - 1)
        reward = max(0.0, value - self._best_value)
        self._best_value = max(self._best_value, value)
        self._best_score = max(self._best_score, score.value)
        info: dict[str, Any] = {"answer": action[:_SHOWN_CHARS], "score": score.value}
        if score.error is not None:
            info["score_error"] = score.error
        self._add_ground_truth(info)
        if score.value >= 1.0:
            return Transition("Correct!", reward, True, info)
        verdict = (
            f"Your answer could not be scored: {score.error}."
            if score.error is not None
            else f"Your answer scored {score.value:.3g} out of 1."
        )
        return Transition(self._feedback(verdict), reward, self._out_of_attempts(), info)

    def _success(self) -> bool:
        return self._best_score >= 1.0

    def _metrics(self) -> dict[str, float]:
        return {
            "score": self._best_score,
            "correct": float(self._best_score >= 1.0),
            "attempts": float(self._attempts),
        }

    def oracle_action(self) -> str:
        """The reference answer, or the example solution in the metadata (privileged).

        Raises:
            NotImplementedError: The task gives neither (``boxnet``, ``rush_hour``).
        """
        answer = reference_answer(self._current())
        if answer is None:
            raise NotImplementedError(f"{self._current().task} gives no reference answer")
        return f"<answer>{answer}</answer>"

    # ------------------------------------------------------------------ helpers

    def _current(self) -> items.Item:
        if self.item is None:
            raise InvalidArgumentError("no problem yet: call reset() first")
        return self.item

    def _question_text(self) -> str:
        return self._current().question

    def _instruction(self) -> str:
        from reasoning_gym.utils import SYSTEM_PROMPTS

        text = str(SYSTEM_PROMPTS[self.system_prompt]).strip()
        if self.max_attempts > 1:
            text += (
                f"\nYou have {self.max_attempts} attempts; after an answer that is not fully "
                "correct you are told its score and may try again."
            )
        return text

    def _add_ground_truth(self, info: dict[str, Any]) -> None:
        if self.expose_ground_truth and self.item is not None:
            info["ground_truth"] = reference_answer(self.item)
            info["answer_template"] = "<answer>{answer}</answer>"


def reference_answer(item: items.Item) -> str | None:
    """The dataset's answer, or the example solution its metadata gives, as text."""
    if item.answer is not None:
        return item.answer
    metadata = item.entry.get("metadata", {})
    for name in _EXAMPLE_FIELDS:
        if metadata.get(name) is not None:
            example = metadata[name]
            return example if isinstance(example, str) else items.as_json(example)
    return None


def _settings(task: str, config: Mapping[str, Any] | None, level: int | None) -> dict[str, Any]:
    """A task's dataset settings: the curriculum's at ``level``, then ``config``; checked."""
    if not isinstance(task, str):
        raise InvalidArgumentError(f"a task is a reasoning-gym dataset name, got {task!r}")
    if config is not None and not isinstance(config, Mapping):
        raise InvalidArgumentError(f"config must be a mapping of settings, got {config!r}")
    settings = items.curriculum_settings(task, level) if level is not None else {}
    settings.update(config or {})
    items.check_task(task, settings)
    return settings


def _parse_mix(tasks: Mapping[str, Any] | None) -> dict[str, tuple[float, dict[str, Any]]]:
    """``{name: (weight, settings)}`` from a ``tasks=`` argument, every part checked."""
    if tasks is None:
        return {name: (1.0, {}) for name in TASKS if name not in NO_REFERENCE}
    if not isinstance(tasks, Mapping) or not tasks:
        raise InvalidArgumentError(
            f"tasks must be a non-empty mapping of task names to weights, got {tasks!r}"
        )
    mix: dict[str, tuple[float, dict[str, Any]]] = {}
    for name, spec in tasks.items():
        options = spec if isinstance(spec, Mapping) else {"weight": spec}
        unknown = sorted(set(options) - {"weight", "config", "level"})
        if unknown:
            raise InvalidArgumentError(
                f"tasks[{name!r}] has an unknown key {unknown[0]!r}"
                f"{did_you_mean(str(unknown[0]), ['weight', 'config', 'level'])} "
                "Keys: weight, config, level."
            )
        weight = options.get("weight", 1.0)
        if not is_number(weight):
            raise InvalidArgumentError(f"the weight of {name!r} must be a number, got {weight!r}")
        if not (math.isfinite(weight) and weight > 0):
            raise InvalidArgumentError(f"the weight of {name!r} must be > 0, got {weight}")
        level = options.get("level")
        if level is not None and (isinstance(level, bool) or not isinstance(level, int)):
            raise InvalidArgumentError(f"the level of {name!r} must be an int, got {level!r}")
        mix[name] = (float(weight), _settings(name, options.get("config"), level))
    return mix
