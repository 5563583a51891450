r"""Grading throughput: palaestra's grader against math-verify called directly.

Run: ``python benchmarks/grading.py [--pairs 1000] [--rounds 3]``. Two mixes of (reply, gold)
pairs:

* ``generated``: palaestra's generated problems answered in ``\boxed{}`` (integers,
  fractions, right and wrong), with a LaTeX pair in every seven and three pathological
  replies (a power tower, a huge factorial, nested roots);
* ``half-latex``: half generated as above, half replies in the styles models write:
  LaTeX without a box, intervals, inequalities, sets, several boxes, equations, words.

Each side grades a mix in a process of its own, started fresh for every round (rounds
interleaved, the median reported), after a warm-up that starts palaestra's workers or
imports math-verify. The direct side is ``verify(parse(gold), parse(reply))`` with the gold
as ``$gold$``, in that process's main thread, with the same timeout. The verdicts of the two
sides are compared pair by pair.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time

import numpy as np

PATHOLOGICAL = [
    "\\boxed{(10^{100})!}",
    "\\boxed{9^{9^{9^{9}}}}",
    "\\boxed{" + "\\sqrt{" * 200 + "2" + "}" * 200 + "}",
]
LATEX_PAIRS = [
    ("\\boxed{\\sqrt{8}}", "2\\sqrt{2}"),
    ("\\boxed{(1, 3]}", "(1,3]"),
    ("\\boxed{\\{3, 1, 2\\}}", "\\{1,2,3\\}"),
    ("\\boxed{2(x+1)}", "2x+2"),
    ("\\boxed{\\frac{\\pi}{2}}", "\\pi/2"),
    ("\\boxed{x^2 - 1}", "(x-1)(x+1)"),
]
STYLED_PAIRS = [
    ("The answer is $odd$.", "odd"),
    ("The parity is $\\text{Even}$.", "\\text{Even}"),
    ("Thus the only solution is\n$$f(y) = y$$", "f(y) = y"),
    ("$$(1, +\\infty)$$", "(1, +\\infty)"),
    ("The interval is $[-2, 3)$.", "[-2, 3]"),
    ("So $a \\in (-793, 10)$.", "-793 < a < 10"),
    ("\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}", "(2, 2), (6, 2)"),
    ("\\boxed{1},\\boxed{2},\\boxed{3}", "\\{1,2,3\\}"),
    ("We find $\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}$", "\\frac{1}{\\sqrt{6}}"),
    ("The ratio is $V_{1}:V_{2}=11:21$", "11:21"),
    ("The range is $(-\\infty, -1) \\cup (1, \\infty)$.", "(-\\infty,-1)\\cup(1,\\infty)"),
    ("The answer is $x^2 + 2x + 1$.", "(x+1)^2"),
    ("We get \\[x = \\frac{5}{2}\\]", "\\frac{5}{2}"),
    ("The area is $16\\pi$ square units.", "8\\pi"),
    (
        "Final Answer: The final answer is $\\frac{\\sqrt{3}}{2}$. I hope it is correct.",
        "\\frac{\\sqrt{3}}{2}",
    ),
    ("The answer is: 18", "18"),
    ("So in total 72 clips.\n#### 72", "72"),
    (
        "The matrix is $\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}$.",
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
    ),
    ("**Final Answer**\n\\[\n\\boxed{45^\\circ}\n\\]", "45"),
    ("**Final Answer**\n\\[\n\\boxed{50\\%}\n\\]", "\\frac{1}{2}"),
]


def generated(rng: np.random.Generator, index: int) -> tuple[str, str]:
    """One generated problem answered in a box, right 60% of the time."""
    from palaestra.envs.math.problems import TASKS, generate

    problem = generate(TASKS[index % 4], rng, 1 + index % 3)
    answer = problem.answer if rng.random() < 0.6 else str(int(rng.integers(1, 999)))
    if "/" in answer and rng.random() < 0.5:
        numerator, denominator = answer.split("/")
        answer = f"\\frac{{{numerator}}}{{{denominator}}}"
    return f"Reasoning...\nThe answer is \\boxed{{{answer}}}.", problem.answer


def make_pairs(mix: str, n: int, seed: int = 0) -> list[tuple[str, str]]:
    """The ``mix`` of ``n`` pairs (the same for the same seed)."""
    rng = np.random.default_rng(seed)
    pairs: list[tuple[str, str]] = []
    for i in range(n):
        if i < len(PATHOLOGICAL) and mix == "generated":
            pairs.append((PATHOLOGICAL[i], "3"))
        elif mix == "half-latex" and i % 2:
            pairs.append(STYLED_PAIRS[int(rng.integers(len(STYLED_PAIRS)))])
        elif mix == "generated" and i % 7 == 6:
            pairs.append(LATEX_PAIRS[int(rng.integers(len(LATEX_PAIRS)))])
        else:
            pairs.append(generated(rng, i))
    return pairs


def grade_palaestra(pairs: list[tuple[str, str]], timeout: int) -> tuple[float, list[bool], int]:
    from palaestra.envs.math.grader import Grader

    grader = Grader(timeout=timeout)
    grader.grade_many([("\\boxed{\\sqrt{4}}", "2")] * 4)  # start the workers
    start = time.perf_counter()
    grades = grader.grade_many(pairs)
    seconds = time.perf_counter() - start
    fast = sum(g.reason.startswith("fast path") for g in grades)
    return seconds, [g.correct for g in grades], fast


def grade_direct(pairs: list[tuple[str, str]], timeout: int) -> tuple[float, list[bool], int]:
    from math_verify import parse, verify

    for name in ("math_verify", "latex2sympy2_extended"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    verify(parse("$2$"), parse("\\boxed{\\sqrt{4}}"))  # warm up
    verdicts = []
    start = time.perf_counter()
    for reply, gold in pairs:
        gold_text = gold if "$" in gold or "\\boxed" in gold else f"${gold}$"
        gold_parsed = parse(gold_text, parsing_timeout=timeout)
        reply_parsed = parse(reply, parsing_timeout=timeout)
        verdicts.append(bool(verify(gold_parsed, reply_parsed, timeout_seconds=timeout)))
    return time.perf_counter() - start, verdicts, 0


def run_side(side: str, mix: str, pairs: int, timeout: int) -> tuple[float, list[bool], int]:
    """Grade in a fresh process; returns its seconds, verdicts and fast-path count."""
    command = [sys.executable, __file__, "--side", side, "--mix", mix, "--pairs", str(pairs)]
    command += ["--timeout", str(timeout)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    return float(result["seconds"]), list(result["verdicts"]), int(result["fast"])


def pathological_seconds(timeout: int) -> float:
    """The slowest of the pathological replies through palaestra's grader, in seconds."""
    from palaestra.envs.math.grader import Grader

    grader = Grader(timeout=timeout)
    grader.grade("\\boxed{\\sqrt{4}}", "2")
    worst = 0.0
    for reply in PATHOLOGICAL:
        start = time.perf_counter()
        grader.grade(reply, "3")
        worst = max(worst, time.perf_counter() - start)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=int, default=2)
    parser.add_argument("--side", choices=["palaestra", "math-verify"], help=argparse.SUPPRESS)
    parser.add_argument("--mix", default="generated", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:  # a child: grade one mix, print one JSON line
        grade = grade_palaestra if args.side == "palaestra" else grade_direct
        seconds, verdicts, fast = grade(make_pairs(args.mix, args.pairs), args.timeout)
        print(json.dumps({"seconds": seconds, "verdicts": verdicts, "fast": fast}))
        return

    print(
        f"{args.pairs} pairs per mix, timeout {args.timeout} s, {os.cpu_count()} cores, "
        f"{args.rounds} rounds per side (median)"
    )
    for mix in ("generated", "half-latex"):
        times: dict[str, list[float]] = {"palaestra": [], "math-verify": []}
        verdicts: dict[str, list[bool]] = {}
        fast = 0
        for _ in range(args.rounds):
            for side, side_times in times.items():
                seconds, verdicts[side], count = run_side(side, mix, args.pairs, args.timeout)
                side_times.append(seconds)
                fast = max(fast, count)
        ours, theirs = (
            statistics.median(times["palaestra"]),
            statistics.median(times["math-verify"]),
        )
        agree = sum(a == b for a, b in zip(*verdicts.values(), strict=True))
        print(f"\n{mix}: {fast} of {args.pairs} decided by the fast path")
        print(f"  palaestra grader  : {ours:7.2f} s  ({args.pairs / ours:8.1f} replies/s)")
        print(f"  math-verify direct: {theirs:7.2f} s  ({args.pairs / theirs:8.1f} replies/s)")
        print(f"  speed-up {theirs / ours:.2f}x; verdicts agree on {agree}/{args.pairs}")
    print(
        f"\npathological replies: the slowest took {pathological_seconds(args.timeout):.2f} s "
        f"with palaestra (timeout {args.timeout} s)"
    )


if __name__ == "__main__":
    main()
