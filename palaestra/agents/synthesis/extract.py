"""Finding the ``policy(obs)`` function in an LLM's reply, with feedback when there is none."""

from __future__ import annotations

import ast
import re

from palaestra.errors import PalaestraError

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
#: Longest program accepted, in characters.
MAX_CODE_CHARS = 20_000


class ReplyError(PalaestraError):
    """The reply holds no usable policy; the message is the feedback for the next attempt."""


def extract_policy(reply: str) -> str:
    """The Python source of the one ``policy(obs)`` function in ``reply``.

    The code is the fenced block (```` ```python ````) that defines ``policy``; a reply that
    is nothing but code is taken whole.

    Raises:
        ReplyError: No code, several ``policy`` definitions, a syntax error, or a
            signature other than one positional argument.
    """
    blocks = [body for language, body in _FENCE.findall(reply) if language.lower() in
              ("", "python", "py", "python3")]  # fmt: skip
    if not blocks:
        blocks = [reply]
    defining = [b for b in blocks if re.search(r"^\s*def\s+policy\s*\(", b, re.MULTILINE)]
    if not defining:
        raise ReplyError(
            "the reply has no code defining policy(obs); answer with one ```python block "
            "that defines def policy(obs): ... returning an action name"
        )
    if len(defining) > 1:
        raise ReplyError("the reply defines policy in several code blocks; give exactly one")
    code: str = defining[0].strip("\n")
    if len(code) > MAX_CODE_CHARS:
        raise ReplyError(f"the code is longer than {MAX_CODE_CHARS} characters")
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ReplyError(f"syntax error on line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:  # null bytes, on Python 3.11
        raise ReplyError(f"the code cannot be parsed: {exc}") from None
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "policy"]
    if len(functions) != 1:
        raise ReplyError(
            "define exactly one top-level function named policy"
            if functions
            else "policy must be a top-level function (def policy(obs): ...)"
        )
    args = functions[0].args
    positional = len(args.posonlyargs) + len(args.args)
    required_keywords = [d for d in args.kw_defaults if d is None]
    if (
        positional - len(args.defaults) > 1
        or (positional == 0 and args.vararg is None)
        or required_keywords
    ):
        raise ReplyError("wrong signature: policy must take exactly one argument, obs")
    return code
