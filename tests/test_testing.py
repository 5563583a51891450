"""The conformance suite accepts a correct env and pins its message for each broken one."""

import os
import random
import re
import threading
import time
from typing import Any

import pytest

import palaestra.testing
from palaestra.envs.core import InvalidAction, Transition
from palaestra.errors import ConformanceError
from tests.envs.test_core import Counter


def test_correct_env_passes() -> None:
    palaestra.testing.check(Counter(target=5))


class NoInstruction(Counter):
    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        obs, _ = super()._reset(options)
        return obs, {}


class IgnoresSeed(Counter):
    def _reset(self, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        self.count = 0
        return "count 0", {"instruction": "say up"}


class GlobalRandom(Counter):
    def _step(self, action: str) -> Transition:
        self.count += 1
        return Transition(f"count {self.count}", random.random(), self.count >= self.target, {})


class CrashesOnNumbers(Counter):
    def _parse_action(self, text: str) -> str:
        if text.isdigit():
            return str(1 / 0)
        return super()._parse_action(text)


class Unpicklable(Counter):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lock = threading.Lock()


class AcceptsAnything(Counter):
    def _parse_action(self, text: str) -> str:
        return text


class WrongOracle(Counter):
    def oracle_action(self) -> str:
        return "down"


class UndefinedOracleSuccess(Counter):
    def _success(self) -> bool:
        return False


class Backtracking(Counter):
    """A parser with two adjacent optional whitespace runs: quadratic on long runs."""

    def _parse_action(self, text: str) -> str:
        match = re.fullmatch(r"\s*([a-z]+)\s*\s*[.!]?", text, re.I)
        if match is None:
            raise InvalidAction("say up")
        return super()._parse_action(match.group(1))


class PrintsFromNativeCode(Counter):
    """Writes to descriptor 1 itself, past sys.stdout, as an interpreter in C does."""

    def _step(self, action: str) -> Transition:
        os.write(1, b"[engine] debug line\n")
        return super()._step(action)


class ReadsEscapesAsCommands(Counter):
    """Takes a leading backslash as a command of its own (and accepts it)."""

    def _parse_action(self, text: str) -> str:
        return "up" if text.startswith("\\") else super()._parse_action(text)


class SlowOnEscapes(Counter):
    """Spends a long time on an escape (an interpreter printing its help in a loop)."""

    def _parse_action(self, text: str) -> str:
        if text.startswith("\\"):
            time.sleep(0.2)
        return super()._parse_action(text)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            PrintsFromNativeCode(),
            r"output: step\('\w+'\) wrote 20 bytes to the process's standard output or error",
        ),
        (ReadsEscapesAsCommands(), "hostile: action 'escape_help' was not marked invalid_action"),
        (SlowOnEscapes(), r"step_time: action 'escape_help' \(5 characters\) took \d+ ms"),
        (NoInstruction(), "NoInstruction: api: reset\\(\\) info has no text 'instruction'"),
        (IgnoresSeed(), "seeds: five different seeds gave the same episode"),
        (GlobalRandom(), "determinism: two copies with the same seed and actions differ"),
        (CrashesOnNumbers(), "hostile: action 'number_for_word' raised ZeroDivisionError"),
        (
            Unpicklable(),
            "api: the environment cannot be deep-copied \\(cannot pickle '_thread.lock'",
        ),
        (AcceptsAnything(), "hostile: action 'other_scripts' was not marked invalid_action"),
        (WrongOracle(target=3, max_invalid_actions=2), "oracle: the oracle did not succeed"),
        (UndefinedOracleSuccess(), "oracle: the oracle did not succeed on seed 0"),
        (
            Backtracking(),
            r"step_time: action 'spaces_between' \(16382 characters\) took \d+ ms to step; "
            r"the limit is 50 ms",
        ),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else "",
)
def test_broken_env_is_caught(env: Counter, message: str) -> None:
    with pytest.raises(ConformanceError, match=message):
        palaestra.testing.check(env)


class FreeText(AcceptsAnything):
    free_text_actions = True

    def _step(self, action: str) -> Transition:
        if action != "up":
            return Transition("I don't understand that.", 0.0, False, {})
        return super()._step(action)


def test_free_text_env_may_accept_semantic_but_not_structural() -> None:
    palaestra.testing.check(FreeText())


def test_hostile_battery_covers_the_documented_kinds() -> None:
    labels = set(palaestra.testing.HOSTILE_ACTIONS)
    assert {
        "empty",
        "one_megabyte",
        "binary_bytes",
        "control_characters",
        "other_scripts",
        "prompt_injection",
        "number_for_word",
    } <= labels
    assert len(palaestra.testing.HOSTILE_ACTIONS["one_megabyte"]) == 1 << 20
    escapes = set(palaestra.testing.INTERPRETER_ESCAPES.values())
    assert {"\\help", "\\q", "\\sf0", "\\mp", "#restart", "$quit", "/quit", "!help",
            "@restart"} <= escapes  # fmt: skip
    assert escapes <= set(palaestra.testing.HOSTILE_ACTIONS.values())


def test_invalid_action_signal_never_escapes() -> None:
    env = Counter()
    env.reset(seed=0)
    with pytest.raises(InvalidAction):
        env._parse_action("down")
    assert env.step("down")[4]["invalid_action"] is True


def test_pathological_actions_fit_the_limit() -> None:
    actions = palaestra.testing.pathological_actions(200)
    assert all(0 < len(a) <= 200 for a in actions.values())
    assert {"spaces_between", "boxed_openers", "python_openers", "digits"} <= set(actions)
    assert len(palaestra.testing.pathological_actions(65_536)["digits"]) == 10_000
