"""Grading accuracy: do correct answers get full credit and does every mutant lose points?

``python -m autograder.accuracy [--repeat 2] [--assignment A] [--json out.json]`` grades every
variant of ``examples/variants/`` (each in a fresh kernel, in fast mode, with the hidden
tests of the source notebook) and prints a confusion table per exercise and overall, then
lists every misgraded case. With ``--repeat 2`` each variant is graded twice and any
difference in scores is reported as non-determinism. Exit status 1 if anything is misgraded.

A correct variant is *graded right* when every test cell passes. A mutant is *caught* when
it loses points and every test cell named in its ``# fails:`` line fails; when its
``# message:`` is set, the failure message must also contain it, so the student is told the
mistake by name.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field

from autograder import build, harness, variants
from autograder.harness import CellResult


@dataclass
class Outcome:
    variant: variants.Variant
    results: dict[str, CellResult]
    ok: bool
    why: str
    repeats: list[dict[str, bool]] = field(default_factory=list)

    @property
    def exercise(self) -> str:
        return ", ".join(sorted(self.variant.cells))

    @property
    def score(self) -> tuple[float, float]:
        got = sum(r.points for r in self.results.values() if r.passed)
        return got, sum(r.points for r in self.results.values())


def judge(variant: variants.Variant, results: dict[str, CellResult]) -> tuple[bool, str]:
    """Is this variant graded right? Returns (ok, explanation when not)."""
    failed = {gid: r for gid, r in results.items() if not r.passed}
    if not results:
        return False, "no test cell results (the notebook did not run)"
    if variant.is_correct:
        if failed:
            first = next(iter(failed.values()))
            return False, f"correct answer lost points in {sorted(failed)}: {first.message}"
        return True, ""
    missing = [gid for gid in variant.fails if gid not in results]
    if missing:
        return False, f"fixture names unknown test cells {missing}"
    passed_wrongly = [gid for gid in variant.fails if gid not in failed]
    if passed_wrongly:
        return False, f"mutant passed {passed_wrongly}"
    if variant.message:
        first = results[variant.fails[0]].message
        if variant.message.lower() not in first.lower():
            return False, (f"failure message does not name the mistake: wanted "
                           f"'{variant.message}', got '{first[:200]}'")
    return True, ""


def evaluate(assignments: list[str], repeat: int = 1, workers: int = 2) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for assignment in assignments:
        found = variants.discover(assignment)
        if not found:
            continue
        runs = [harness.run_many(assignment, found, workers=workers) for _ in range(repeat)]
        for variant in found:
            results = runs[0][variant.name]
            ok, why = judge(variant, results)
            passes = [{gid: r.passed for gid, r in run[variant.name].items()} for run in runs]
            if any(p != passes[0] for p in passes[1:]):
                ok, why = False, f"non-deterministic: outcomes differ between runs {passes}"
            outcomes.append(Outcome(variant, results, ok, why, passes))
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    rows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for o in outcomes:  # a variant counts under every exercise it answers, once in ALL
        keys = [(o.variant.assignment, cell) for cell in sorted(o.variant.cells)]
        for key in (*keys, ("ALL", "")):
            counts = rows[key]
            if o.variant.is_correct:
                counts[0] += o.ok
                counts[1] += 1
            else:
                counts[2] += o.ok
                counts[3] += 1

    def pct(a: int, b: int) -> str:
        return f"{a}/{b} ({100 * a / b:.0f}%)" if b else "-"

    lines = [f"{'assignment':<16} {'exercise (solution cell)':<44} {'correct: full credit':>21} "
             f"{'mutants caught':>17}"]
    for (assignment, exercise), (cg, ct, mc, mt) in sorted(
        rows.items(), key=lambda kv: (kv[0][0] == "ALL", kv[0])
    ):
        lines.append(f"{assignment:<16} {exercise[:44]:<44} {pct(cg, ct):>21} {pct(mc, mt):>17}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.accuracy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", action="append", help="default: all")
    parser.add_argument("--repeat", type=int, default=2, help="grade each variant N times")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="also write the outcomes to this file")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    outcomes = evaluate(args.assignment or build.assignments(), args.repeat, args.workers)
    print(table(outcomes))
    bad = [o for o in outcomes if not o.ok]
    print(f"\n{len(outcomes)} variants ({sum(o.variant.is_correct for o in outcomes)} correct, "
          f"{sum(not o.variant.is_correct for o in outcomes)} mutants), graded {args.repeat}x "
          f"in {time.perf_counter() - start:.0f} s")
    if bad:
        print("\nMISGRADED:")
        for o in bad:
            print(f"  {o.variant.assignment}/{o.variant.name} ({o.variant.kind}: "
                  f"{o.variant.description}): {o.why}")
    else:
        print("no misgraded case")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([{
                "assignment": o.variant.assignment, "variant": o.variant.name,
                "kind": o.variant.kind, "description": o.variant.description,
                "exercise": o.exercise, "ok": o.ok, "why": o.why,
                "score": o.score,
                "cells": {gid: {"passed": r.passed, "message": r.message}
                          for gid, r in o.results.items()},
            } for o in outcomes], fh, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
