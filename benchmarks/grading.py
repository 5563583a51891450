"""Grading throughput: palaestra's grader against calling math-verify directly.

Run: ``python benchmarks/grading.py``. Both grade the same 1,000 mixed (reply, gold) pairs in
this one process: integer, decimal, fraction, percentage and LaTeX answers (right and wrong),
intervals, sets, expressions, and a few pathological answers. The direct baseline is
``math_verify.verify(parse(gold), parse(reply))`` in the main thread, with the same timeout.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from palaestra.envs.math.grader import Grader
from palaestra.envs.math.problems import TASKS, generate

LATEX_PAIRS = [
    ("\\boxed{\\sqrt{8}}", "2\\sqrt{2}"),
    ("\\boxed{(1, 3]}", "(1,3]"),
    ("\\boxed{\\{3, 1, 2\\}}", "\\{1,2,3\\}"),
    ("\\boxed{2(x+1)}", "2x+2"),
    ("\\boxed{\\frac{\\pi}{2}}", "\\pi/2"),
    ("\\boxed{x^2 - 1}", "(x-1)(x+1)"),
]
PATHOLOGICAL = [
    "\\boxed{(10^{100})!}",
    "\\boxed{9^{9^{9^{9}}}}",
    "\\boxed{" + "\\sqrt{" * 200 + "2" + "}" * 200 + "}",
]


def make_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    pairs: list[tuple[str, str]] = []
    for i in range(n):
        kind = i % 20
        if kind == 19 and i // 20 < len(PATHOLOGICAL):
            pairs.append((PATHOLOGICAL[i // 20], "3"))
        elif kind in (16, 17, 18):
            pairs.append(LATEX_PAIRS[int(rng.integers(len(LATEX_PAIRS)))])
        else:
            problem = generate(TASKS[kind % 4], rng, 1 + kind % 3)
            answer = problem.answer if rng.random() < 0.6 else str(int(rng.integers(1, 999)))
            if "/" in answer and rng.random() < 0.5:
                num, den = answer.split("/")
                answer = f"\\frac{{{num}}}{{{den}}}"
            pairs.append((f"Reasoning...\nThe answer is \\boxed{{{answer}}}.", problem.answer))
    return pairs


def direct(pairs: list[tuple[str, str]], timeout: int) -> tuple[float, list[bool], float]:
    from math_verify import parse, verify

    for name in ("math_verify", "latex2sympy2_extended"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    verdicts, worst = [], 0.0
    start = time.perf_counter()
    for reply, gold in pairs:
        t = time.perf_counter()
        gold_text = gold if "$" in gold else f"${gold}$"
        verdicts.append(
            bool(
                verify(
                    parse(gold_text, parsing_timeout=timeout),
                    parse(reply, parsing_timeout=timeout),
                    timeout_seconds=timeout,
                )
            )
        )
        worst = max(worst, time.perf_counter() - t)
    return time.perf_counter() - start, verdicts, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--timeout", type=int, default=2)
    args = parser.parse_args()
    pairs = make_pairs(args.pairs)
    grader = Grader(timeout=args.timeout)
    grader.grade("\\boxed{\\sqrt{4}}", "2")  # start the workers before timing

    start = time.perf_counter()
    grades = grader.grade_many(pairs)
    ours = time.perf_counter() - start
    theirs, verdicts, worst_direct = direct(pairs, args.timeout)

    fast = sum(g.reason in {"exact match", "numeric match", "numbers differ"} for g in grades)
    agree = sum(g.correct == v for g, v in zip(grades, verdicts, strict=True))
    start = time.perf_counter()
    for reply in PATHOLOGICAL:
        grader.grade(reply, "3")
    worst_ours = (time.perf_counter() - start) / len(PATHOLOGICAL)
    print(f"{len(pairs)} pairs, timeout {args.timeout} s, {fast} decided by the fast path")
    print(f"palaestra grader : {ours:7.2f} s  ({len(pairs) / ours:8.1f} answers/s)")
    print(f"math-verify direct: {theirs:7.2f} s  ({len(pairs) / theirs:8.1f} answers/s)")
    print(f"speed-up: {theirs / ours:.2f}x; verdicts agree on {agree}/{len(pairs)}")
    print(
        f"pathological answers: mean {worst_ours:.2f} s each with palaestra; "
        f"slowest single direct call {worst_direct:.2f} s"
    )


if __name__ == "__main__":
    main()
