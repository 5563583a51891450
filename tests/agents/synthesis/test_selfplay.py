"""Self-play evaluation in the sandbox: references, determinism, and attacks contained."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from palaestra.agents.synthesis import REFERENCE_POLICIES, evaluate_policy, social_game
from palaestra.agents.synthesis.selfplay import Evaluation
from palaestra.errors import InvalidArgumentError
from palaestra.sandbox.policy import PolicyLimits

LIMITS = PolicyLimits(call_cpu_seconds=0.2, call_wall_seconds=1.0, episode_wall_seconds=10.0)
SUBCLASSES = "().__class__.__base__.__subclasses__()"
OS = f"[c for c in {SUBCLASSES} if c.__name__ == '_wrap_close'][0].__init__.__globals__"


def evaluate(code: str, env_id: str = "palaestra/Gathering-v0", episodes: int = 1) -> Evaluation:
    game = social_game(env_id)
    return evaluate_policy(code, game, episodes=episodes, seed=0, limits=LIMITS)


@pytest.fixture(scope="module")
def greedy() -> Evaluation:
    return evaluate(REFERENCE_POLICIES["greedy"])


@pytest.mark.parametrize(
    ("env_id", "reference"),
    [("palaestra/Gathering-v0", "greedy"), ("palaestra/Cleanup-v0", "cleaner-harvester")],
)
def test_reference_policies_beat_random(env_id: str, reference: str) -> None:
    good = evaluate(REFERENCE_POLICIES[reference], env_id, episodes=3)
    floor = evaluate(REFERENCE_POLICIES["random"], env_id, episodes=3)
    assert good.reward > 1.5 * floor.reward, (good.reward, floor.reward)
    assert sum(good.failures.values()) == 0


def test_the_role_split_beats_greed_in_cleanup() -> None:
    split = evaluate(REFERENCE_POLICIES["cleaner-harvester"], "palaestra/Cleanup-v0", 3)
    greedy = evaluate(REFERENCE_POLICIES["greedy"], "palaestra/Cleanup-v0", 3)
    assert split.reward > greedy.reward
    assert split.metrics["sustainability"] > greedy.metrics["sustainability"]


def test_same_seed_same_evaluation() -> None:
    code = REFERENCE_POLICIES["random"]
    assert evaluate(code, "palaestra/Cleanup-v0") == evaluate(code, "palaestra/Cleanup-v0")


def test_matrix_games_play_programs_too() -> None:
    tit_for_tat = (
        "def policy(obs):\n    if not obs['others_moves'][0]:\n        return 'cooperate'\n"
        "    return obs['others_moves'][0][-1]"
    )
    result = evaluate(tit_for_tat, "palaestra/PrisonersDilemma-v0")
    assert result.metrics["equality"] == 1.0 and sum(result.failures.values()) == 0
    assert result.reward == 3.0 * social_game("palaestra/PrisonersDilemma-v0").horizon


def test_only_social_games_are_accepted() -> None:
    with pytest.raises(InvalidArgumentError, match="not a social dilemma"):
        social_game("palaestra/Bandit-v0")


def _wrapped(attack: str) -> str:
    """The greedy reference with ``attack`` run first on every call: if the attack is
    contained, the failure is counted and the step plays 'stay'."""
    reference = REFERENCE_POLICIES["greedy"].replace("def policy(obs):", "def greedy(obs):")
    return f"{reference}\n\ndef policy(obs):\n{attack}\n    return greedy(obs)\n"


ATTACKS = {
    # The env, the other players and the metrics are not in the policy's process at all.
    "env-internals": f"    [c for c in {SUBCLASSES} if c.__name__ == 'GridGameParallelEnv'][0]",
    "metrics": f"    [c for c in {SUBCLASSES} if c.__name__ == 'Evaluation'][0]",
    "import-os": "    import os",
    "import-sys": "    import sys",
    "import-subprocess": "    import subprocess",
    "import-socket": "    import socket",
    "builtin-import": "    __builtins__['__import__']('os')",
    "open": "    open('/etc/passwd')",
    "os-open": f"    {OS}['open']('/etc/passwd', 0)",
    "real-open": f"    {OS}['__builtins__']['open']('/etc/passwd')",
    "listdir": f"    {OS}['listdir']('/')",
    "fork": f"    {OS}['fork']()",
    "system": f"    {OS}['system']('true')",
    "kill-parent": f"    {OS}['kill']({OS}['getppid'](), 9)",
    "code-patch": "    greedy.__code__ = (lambda obs: 'zap').__code__",
}


@pytest.mark.parametrize("attack", list(ATTACKS), ids=list(ATTACKS))
def test_attacks_are_contained_and_counted(attack: str, greedy: Evaluation) -> None:
    result = evaluate(_wrapped(ATTACKS[attack]))
    failed = result.failures["error"] + result.failures["load"]
    assert failed == result.steps, (attack, result.failures, result.errors)
    assert result.reward == 0.0  # every step played 'stay'
    # The harness is intact: the reference scores as before.
    assert evaluate(REFERENCE_POLICIES["greedy"]) == greedy


def test_files_cannot_be_written_or_shared() -> None:
    # A folder anyone may write to, so only the sandbox stands between policy and file.
    folder = Path(tempfile.mkdtemp(prefix="palaestra-share-"))
    folder.chmod(0o777)
    target = folder / "shared.txt"
    try:
        write = f"    {OS}['__builtins__']['open']('{target}', 'w').write('secret')"
        code = _wrapped(write)
        result = evaluate(code)
        assert result.failures["error"] == result.steps
        assert "not allowed" in result.errors["error"]
        assert not target.exists()
    finally:
        shutil.rmtree(folder)


def test_infinite_loops_and_memory_bombs_are_contained(greedy: Evaluation) -> None:
    loop = evaluate(_wrapped("    while True:\n        pass"))
    assert loop.failures["timeout"] == loop.steps
    bomb = evaluate(_wrapped("    x = bytearray(8 << 30)"))
    assert bomb.failures["memory"] == bomb.steps
    assert evaluate(REFERENCE_POLICIES["greedy"]) == greedy


def test_players_share_no_state() -> None:
    # A global call counter: shared between the two players it would grow twice per step.
    code = (
        "calls = 0\n"
        "def policy(obs):\n"
        "    global calls\n"
        "    calls += 1\n"
        "    return 'stay' if calls == obs['step'] + 1 else 'SHARED'\n"
    )
    result = evaluate(code)
    assert result.failures["invalid"] == 0 and result.steps == 200


def test_patching_builtins_stays_in_the_patching_process(greedy: Evaluation) -> None:
    code = _wrapped("    __builtins__['len'] = lambda x: 0\n    __builtins__['max'] = None")
    result = evaluate(code)
    assert result.steps == 200  # ran to the end; whatever it broke was its own
    assert evaluate(REFERENCE_POLICIES["greedy"]) == greedy


def test_tampering_with_rewards_changes_nothing(greedy: Evaluation) -> None:
    # The reward travels in the harness only; a policy can write what it likes in its
    # own process (here: its copy of the observation) and score what its actions earn.
    code = _wrapped("    obs['apples'] = 10**9\n    obs['reward'] = 10**9")
    assert evaluate(code) == greedy
