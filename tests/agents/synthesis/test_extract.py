"""Extracting policy(obs) from replies, and the feedback for replies that have none."""

from __future__ import annotations

import pytest

from palaestra.agents.synthesis import ReplyError, extract_policy

GOOD = "def policy(obs):\n    return 'stay'"


@pytest.mark.parametrize(
    "reply",
    [
        f"Here it is:\n```python\n{GOOD}\n```\nGood luck.",
        f"```\n{GOOD}\n```",
        f"```py\n{GOOD}\n```",
        GOOD,
        f"```text\nnot code\n```\n```python\nimport math\n\n{GOOD}\n```",
        f"```python\ndef helper(x):\n    return x\n```\n```python\n{GOOD}\n```",
        "```python\ndef policy(obs, memory=None):\n    return 'stay'\n```",
        "```python\ndef policy(*args):\n    return 'stay'\n```",
    ],
    ids=["fenced", "bare-fence", "py", "code-only", "text-block", "two-blocks", "default",
         "varargs"],
)  # fmt: skip
def test_the_policy_is_found(reply: str) -> None:
    assert "def policy(" in extract_policy(reply)


@pytest.mark.parametrize(
    ("reply", "feedback"),
    [
        ("", "no code defining policy"),
        ("I would move towards the apples.", "no code defining policy"),
        ("```python\ndef act(obs):\n    return 'stay'\n```", "no code defining policy"),
        (f"```python\n{GOOD}\n```\n```python\n{GOOD}\n```", "several code blocks"),
        (f"```python\n{GOOD}\n\n{GOOD}\n```", "exactly one top-level function"),
        ("```python\ndef policy(obs):\n    return (\n```", "syntax error on line"),
        ("```python\ndef policy(obs, rng):\n    return 'stay'\n```", "wrong signature"),
        ("```python\ndef policy():\n    return 'stay'\n```", "wrong signature"),
        ("```python\ndef policy(obs, *, k):\n    return 'stay'\n```", "wrong signature"),
        ("```python\nclass A:\n    def policy(self, obs):\n        return 1\n```",
         "top-level function"),
        ("```python\n" + "x = 1\n" * 5000 + GOOD + "\n```", "longer than"),
        ("\x00\xff```python\n\x00def policy(obs):\n```", "no code defining policy"),
        ("```python\ndef policy(obs):\n    return '\x00'\n```", "null bytes"),
    ],
    ids=["empty", "prose", "wrong-name", "two-blocks", "two-defs", "syntax", "two-args",
         "no-args", "keyword-only", "method", "huge", "binary", "null-byte"],
)  # fmt: skip
def test_unusable_replies_become_feedback(reply: str, feedback: str) -> None:
    with pytest.raises(ReplyError, match=feedback):
        extract_policy(reply)
