r"""Grading throughput: palaestra's grader against math-verify called directly.

Run: ``python benchmarks/grading.py [--pairs 1000] [--rounds 3]``. Two mixes of (reply, gold)
pairs:

* ``generated``: palaestra's generated problems answered in ``\boxed{}`` (integers,
  fractions, right and wrong), with a LaTeX pair in every seven;
* ``half-latex``: half generated as above, half replies in the styles models write:
  LaTeX without a box, intervals, inequalities, sets, several boxes, equations, words,
  each with its own numbers.

Three pathological replies (a power tower, a huge factorial, nested roots) are timed apart,
the slowest reported for each side. The figures depend on the cores the process may use
(printed): palaestra's math-verify checks run in one worker per core.

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
#: Replies in the styles models write: (reply, gold) templates over integers a, b, c, so
#: that no two pairs are the same text (math-verify caches its last parses).
STYLED = [
    ("The answer is $\\frac{{{a}}}{{{b}}}$.", "\\frac{{{a}}}{{{b}}}"),
    ("Thus the only solution is\n$$f(y) = {a}y$$", "f(y) = {a}y"),
    ("$$({a}, +\\infty)$$", "({a}, +\\infty)"),
    ("The interval is $[-{a}, {b})$.", "[-{a}, {b}]"),
    ("So $x \\in (-{a}, {b})$.", "-{a} < x < {b}"),
    (
        "\\boxed{{({a}, {b})}} \\quad \\text{{and}} \\quad \\boxed{{({c}, {b})}}",
        "({a}, {b}), ({c}, {b})",
    ),
    ("\\boxed{{{a}}},\\boxed{{{b}}},\\boxed{{{c}}}", "\\{{{c},{b},{a}\\}}"),
    ("We find $\\frac{{NO}}{{BO}}=\\frac{{1}}{{\\sqrt{{{a}}}}}$", "\\frac{{1}}{{\\sqrt{{{a}}}}}"),
    ("The ratio is $V_{{1}}:V_{{2}}={a}:{b}$", "{a}:{b}"),
    ("The range is $(-\\infty, -{a}) \\cup ({b}, \\infty)$.", "(-\\infty,-{a})\\cup({b},\\infty)"),
    ("The answer is $x^2 + {a}x + {b}$.", "(x+{a})(x+{b})"),
    ("We get \\[x = \\frac{{{a}}}{{{b}}}\\]", "\\frac{{{c}}}{{{b}}}"),
    ("The area is ${a}\\pi$ square units.", "{b}\\pi"),
    (
        "Final Answer: The final answer is $\\frac{{\\sqrt{{{a}}}}}{{{b}}}$. I hope it is correct.",
        "\\frac{{\\sqrt{{{a}}}}}{{{b}}}",
    ),
    ("The answer is: {a}", "{a}"),
    ("So in total {a} clips.\n#### {a}", "{a}"),
    (
        "The matrix is $\\begin{{pmatrix}} {a} & {b} \\\\ {c} & 4 \\end{{pmatrix}}$.",
        "\\begin{{pmatrix}} {a} & {b} \\\\ {c} & 4 \\end{{pmatrix}}",
    ),
    ("**Final Answer**\n\\[\n\\boxed{{{a}^\\circ}}\n\\]", "{a}"),
    ("**Final Answer**\n\\[\n\\boxed{{{a}\\%}}\n\\]", "\\frac{{{a}}}{{100}}"),
    ("The answer is $\\sqrt{{{a}}} + {b}$.", "{b} + \\sqrt{{{a}}}"),
]


def styled(rng: np.random.Generator) -> tuple[str, str]:
    """One reply in a model's style, right or wrong."""
    reply, gold = STYLED[int(rng.integers(len(STYLED)))]
    a, b, c = (int(x) for x in rng.integers(2, 60, size=3))
    return reply.format(a=a, b=b, c=c), gold.format(a=a, b=b, c=c)


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
        if mix == "half-latex" and i % 2:
            pairs.append(styled(rng))
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


def pathological_seconds(side: str, timeout: int) -> float:
    """The slowest pathological reply on one side, in seconds (in this process)."""
    worst = 0.0
    grade = grade_palaestra if side == "palaestra" else grade_direct
    for reply in PATHOLOGICAL:
        worst = max(worst, grade([(reply, "3")], timeout)[0])
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
        if args.mix == "pathological":
            seconds, verdicts, fast = pathological_seconds(args.side, args.timeout), [], 0
        else:
            grade = grade_palaestra if args.side == "palaestra" else grade_direct
            seconds, verdicts, fast = grade(make_pairs(args.mix, args.pairs), args.timeout)
        print(json.dumps({"seconds": seconds, "verdicts": verdicts, "fast": fast}))
        return

    print(
        f"{args.pairs} pairs per mix, timeout {args.timeout} s, "
        f"{len(os.sched_getaffinity(0))} cores usable, "
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
    slowest = {
        s: run_side(s, "pathological", 0, args.timeout)[0] for s in ("palaestra", "math-verify")
    }
    print(
        f"\npathological replies (power tower, huge factorial, nested roots), the slowest: "
        f"{slowest['palaestra']:.2f} s with palaestra, {slowest['math-verify']:.2f} s direct "
        f"(timeout {args.timeout} s)"
    )


if __name__ == "__main__":
    main()
