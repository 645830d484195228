"""Grading accuracy: do correct answers get full credit and does every mutant lose points
in its own exercise only?

``python -m autograder.qa.accuracy [--repeat 2] [--assignment A] [--json out.json]`` grades every
variant of ``examples/variants/`` (each in a fresh kernel, in fast mode, through the judge with
fresh challenges: :func:`autograder.qa.harness.run_judged`) and prints a table per exercise and
overall, then lists every misgraded case. With ``--repeat 2`` each variant is graded twice
(with different challenges) and any difference in outcomes is reported. Exit status 1 if
anything is misgraded.

* A correct variant is *graded right* when every test cell passes.
* A mutant is *caught* when every test cell named in its ``# fails:`` line fails.
* *Collateral points* are the points a mutant loses in test cells of exercises it does not
  change (a test cell belongs to the solution cell before it in the source notebook): one
  mistake must cost points in one exercise only. A mutant with collateral points is misgraded.
* A mutant's message is *named* when the failure message of its first ``fails`` cell contains
  its ``# message:`` (every mutant must declare one).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field

import nbformat

from autograder import build
from autograder.qa import harness, variants
from autograder.qa.harness import CellResult


@dataclass
class Outcome:
    variant: variants.Variant
    results: dict[str, CellResult]
    ok: bool
    why: str
    repeats: list[dict[str, bool]] = field(default_factory=list)
    collateral: float = 0.0
    named: bool = True

    @property
    def exercise(self) -> str:
        return ", ".join(sorted(self.variant.cells))

    @property
    def score(self) -> tuple[float, float]:
        got = sum(r.points for r in self.results.values() if r.passed)
        return got, sum(r.points for r in self.results.values())


def exercise_of(assignment: str) -> dict[str, str]:
    """grade id of each test cell -> the solution cell (exercise) it follows in the source."""
    owner: dict[str, str] = {}
    current = ""
    for cell in nbformat.read(build.source_path(assignment), as_version=4).cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            current = meta.get("grade_id", "")
        elif meta.get("grade") and meta.get("grade_id"):
            owner[meta["grade_id"]] = current
    return owner


def collateral(variant: variants.Variant, results: dict[str, CellResult],
               owners: dict[str, str]) -> float:
    """Points lost in test cells of exercises the variant does not change."""
    return sum(r.points for gid, r in results.items()
               if not r.passed and owners.get(gid) not in variant.cells)


def judge(variant: variants.Variant, results: dict[str, CellResult],
          owners: dict[str, str] | None = None) -> tuple[bool, str]:
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
    if not variant.message:
        return False, "the mutant declares no '# message:' (the mistake it must be told)"
    lost = collateral(variant, results, owners or {})
    if lost:
        others = sorted(gid for gid in failed if (owners or {}).get(gid) not in variant.cells)
        return False, (f"collateral: lost {lost:g} points in other exercises' cells {others}: "
                       f"{failed[others[0]].message[:200]}")
    return True, ""


def is_named(variant: variants.Variant, results: dict[str, CellResult]) -> bool:
    if variant.is_correct or not variant.fails or variant.fails[0] not in results:
        return True
    return bool(variant.message) and (
        variant.message.lower() in results[variant.fails[0]].message.lower())


def evaluate(assignments: list[str], repeat: int = 1, workers: int = 2) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for assignment in assignments:
        found = variants.discover(assignment)
        if not found:
            continue
        owners = exercise_of(assignment)
        runs = [harness.run_many(assignment, found, workers=workers) for _ in range(repeat)]
        for variant in found:
            results = runs[0][variant.name]
            ok, why = judge(variant, results, owners)
            passes = [{gid: r.passed for gid, r in run[variant.name].items()} for run in runs]
            if any(p != passes[0] for p in passes[1:]):
                ok, why = False, f"non-deterministic: outcomes differ between runs {passes}"
            lost = 0.0 if variant.is_correct else collateral(variant, results, owners)
            outcomes.append(Outcome(variant, results, ok, why, passes, lost,
                                    is_named(variant, results)))
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    # correct ok, correct total, mutants caught, mutants total, collateral points, named
    rows: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0.0, 0])
    for o in outcomes:  # a variant counts under every exercise it answers, once in ALL
        keys = [(o.variant.assignment, cell) for cell in sorted(o.variant.cells)]
        for key in (*keys, ("ALL", "")):
            counts = rows[key]
            if o.variant.is_correct:
                counts[0] += o.ok
                counts[1] += 1
            else:
                caught = o.ok or o.why.startswith("collateral")
                counts[2] += caught
                counts[3] += 1
                counts[4] += o.collateral
                counts[5] += o.named

    def pct(a: float, b: float) -> str:
        return f"{a:.0f}/{b:.0f} ({100 * a / b:.0f}%)" if b else "-"

    lines = [f"{'assignment':<16} {'exercise (solution cell)':<26} {'correct: full credit':>21} "
             f"{'mutants caught':>16} {'collateral pts':>14} {'message names it':>17}"]
    for (assignment, exercise), (cg, ct, mc, mt, lost, named) in sorted(
        rows.items(), key=lambda kv: (kv[0][0] == "ALL", kv[0])
    ):
        lines.append(f"{assignment:<16} {exercise[:26]:<26} {pct(cg, ct):>21} "
                     f"{pct(mc, mt):>16} {lost:>14g} {pct(named, mt):>17}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.qa.accuracy", description=__doc__,
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
                "score": o.score, "collateral": o.collateral, "named": o.named,
                "cells": {gid: {"passed": r.passed, "message": r.message}
                          for gid, r in o.results.items()},
            } for o in outcomes], fh, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
