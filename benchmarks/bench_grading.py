"""Benchmark the sandboxed grading pipeline: 1 worker vs 2 workers on the same submissions.

    python benchmarks/bench_grading.py [--assignment A] [--n 24] [--workers 1 2]

Makes ``n`` submissions (correct variants and mutants from examples/variants, cycled),
releases the assignment into a temporary course state, and grades everything once per worker
count with ``--force`` (same submissions, fresh grading). Prints the median seconds per
submission (as measured inside the worker: private course + nbgrader autograde + sandboxed
kernel), the wall time per run, and the speed-up. Prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder import build, variants
from autograder.pipeline import CourseState, Settings, autograde


def _default_assignment() -> str:
    for name in ("breast_cancer", "training_basics"):
        if build.source_path(name).is_file():
            return name
    return build.assignments()[0]


def make_submissions(state: CourseState, assignment: str, n: int) -> None:
    release_nb = nbformat.read(state.release / assignment / f"{assignment}.ipynb",
                               as_version=4)
    source_nb = nbformat.read(build.source_path(assignment), as_version=4)
    found = variants.discover(assignment) or [None]
    correct = [v for v in found if v is None or v.is_correct] or [None]
    mutants = [v for v in found if v is not None and not v.is_correct]
    mix = [correct[i % len(correct)] if i % 3 == 0 or not mutants else
           mutants[i % len(mutants)] for i in range(n)]
    for index, variant in enumerate(mix):
        folder = state.submitted / f"s{index:02d}" / assignment
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(variants.as_submission(release_nb, source_nb, variant),
                       folder / f"{assignment}.ipynb")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--assignment", default=_default_assignment())
    p.add_argument("--n", type=int, default=24)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--no-sandbox", action="store_true")
    args = p.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory(prefix="tfcourse-bench-") as tmp:
        state = CourseState(Path(tmp) / "state")
        state.root.mkdir(parents=True)
        build.generate_release(args.assignment, release_dir=state.release,
                               state_dir=state.root)
        make_submissions(state, args.assignment, args.n)
        print(f"{args.n} submissions of {args.assignment}; {os.cpu_count()} CPUs; "
              f"sandbox {'OFF' if args.no_sandbox else 'on'}; load average "
              f"{os.getloadavg()[0]:.1f} at start", flush=True)
        rows = []
        for workers in args.workers:
            settings = Settings(workers=workers, force=True, sandbox=not args.no_sandbox,
                                progress=sys.stderr.isatty())
            start = time.monotonic()
            results = autograde(state, args.assignment, settings=settings,
                                out=lambda _msg: None)
            wall = time.monotonic() - start
            per = [r.seconds for r in results]
            bad = [r for r in results if r.status != "graded"]
            rows.append((workers, wall, statistics.median(per), len(bad)))
            print(f"workers={workers}: wall {wall:7.1f} s  median {statistics.median(per):5.1f}"
                  f" s/submission  throughput {wall / len(results):5.1f} s/submission  "
                  f"not graded: {len(bad)}  (load avg {os.getloadavg()[0]:.1f})", flush=True)
        if len(rows) >= 2:
            base = rows[0][1]
            for workers, wall, _, _ in rows[1:]:
                print(f"speed-up {rows[0][0]} -> {workers} workers: {base / wall:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
