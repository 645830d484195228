"""Benchmark the sandboxed grading pipeline: workers, backends, where a submission's time goes.

    python benchmarks/bench_grading.py [--assignment A] [--n 24] [--workers 1 2]
    python benchmarks/bench_grading.py --backend dask        # local vs Dask, 2 workers each
    python benchmarks/bench_grading.py --breakdown 4 --no-runs    # only the time breakdown

Makes ``n`` submissions (correct variants and mutants from examples/variants, cycled),
releases the assignment into a temporary course state, and grades everything with ``--force``
(same submissions, fresh grading) once per worker count (``--backend local``) or once with the
local pool and once on a Dask LocalCluster with the same worker count (``--backend dask``).
Prints the median seconds per submission (as measured inside the worker: private course +
nbgrader autograde + sandboxed kernel + judge), the wall time per run, the speed-up or the
Dask / local wall-time ratio, and the time of the single writer per result.

``--breakdown K`` grades K submissions one after the other in this process, with timers
around each stage, and prints where a submission's time goes: the worker's own work (private
course, nbgrader's other preprocessors, judge's challenges), sandbox + kernel start, the setup
cell's imports, the notebook's other cells, the test cells (observers), the judge's verdicts,
recording (the writer, main process) and the backend's dispatch. Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import nbformat

from autograder import build
from autograder.course import CourseState  # noqa: E402
from autograder.grade import sandbox
from autograder.grade.backends import local
from autograder.grade.pipeline import Settings, autograde
from autograder.qa import variants

IMPORTS = re.compile(r"^\s*(import|from)\s+(tensorflow|keras|numpy|pandas)\b", re.M)


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


@contextlib.contextmanager
def timed(owner: object, name: str, into: dict[str, float], label: str,
          classify: object = None) -> Iterator[None]:
    """Add the time of every call of ``owner.name`` (sync or async) to ``into[label]``
    (``classify(*args)`` may return another label)."""
    import inspect

    original = getattr(owner, name)

    def pick(args: tuple) -> str:
        return (classify(*args) if callable(classify) else None) or label

    if inspect.iscoroutinefunction(original):
        async def wrapper(*args, **kwargs):  # noqa: ANN202
            start = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                into[pick(args)] += time.perf_counter() - start
    else:
        def wrapper(*args, **kwargs):  # noqa: ANN202
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                into[pick(args)] += time.perf_counter() - start
    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _cell_kind(_self: object, cell: dict, *_args: object) -> str:
    from autograder.grade.preprocessors import grade_id_of

    if grade_id_of(cell):
        return "test cells (observers)"
    if IMPORTS.search(cell.get("source", "")):
        return "setup cell (imports)"
    return "notebook cells"


def breakdown(state: CourseState, assignment: str, k: int, settings: Settings) -> list[dict]:
    """Grade ``k`` submissions in this process with timers; one dict of seconds per stage.
    With ``settings.warm_kernels`` the first is not counted (it also starts the worker's
    zygote, whose imports are paid once per grading process)."""
    from nbclient import NotebookClient

    from autograder.grade import pipeline, worker
    from autograder.grade.preprocessors import SurvivingExecute
    from autograder.judge import protocol

    site = sandbox.build_site(state.run / "site")
    snapshot = pipeline.snapshot_gradebook(state)
    students = state.students(assignment)[:k]
    jobs, _ = pipeline.plan(state, assignment, students, Settings(**{
        **settings.__dict__, "force": True}), site, snapshot)
    for job in jobs:
        job.warm_kernel = settings.warm_kernels
    run_root = Path(tempfile.mkdtemp(prefix=f"{local.RUN_PREFIX}{os.getpid()}-"))
    rows = []
    import warnings

    import nbgrader.apps  # noqa: F401 (imported once per worker, not per submission)

    warnings.filterwarnings("ignore")  # nbgrader's SQLAlchemy notices, as in the workers

    try:
        for job in jobs:
            stages: dict[str, float] = defaultdict(float)
            with contextlib.ExitStack() as stack:
                for owner, name, label, classify in (
                    # nbconvert's Execute runs the sync wrappers (bound to the coroutines at
                    # class creation), so those are what is timed
                    (NotebookClient, "start_new_kernel", "sandbox + kernel start", None),
                    (NotebookClient, "start_new_kernel_client", "sandbox + kernel start",
                     None),
                    (NotebookClient, "_cleanup_kernel", "kernel shutdown", None),
                    (SurvivingExecute, "execute_cell", "notebook cells", _cell_kind),
                    (protocol, "judge_all", "judge verdicts", None),
                ):
                    stack.enter_context(timed(owner, name, stages, label, classify))
                staged, folder, _ = local.stage_job(job, run_root,
                                                       settings.limits.scratch_bytes)
                try:
                    result = worker.grade(staged)
                finally:
                    sandbox.release_scratch(folder)
            stages["worker's own work"] = result["seconds"] - sum(stages.values())
            stages["total (in the worker)"] = result["seconds"]
            rows.append(dict(stages))
    finally:
        from autograder.grade import warm

        warm.discard()
        sandbox.release_scratch(run_root)
    return rows[1:] if settings.warm_kernels and len(rows) > 1 else rows


def run(state: CourseState, assignment: str, settings: Settings) -> dict:
    """Grade everything once; wall time, per-submission seconds and the writer's time."""
    from autograder.grade.writer import Writer

    recording: dict[str, float] = defaultdict(float)
    with timed(Writer, "record", recording, "recording"):
        start = time.monotonic()
        results = autograde(state, assignment, settings=settings, out=lambda _msg: None)
        wall = time.monotonic() - start
    per = [r.seconds for r in results]
    return {"wall": wall, "median": statistics.median(per), "n": len(results),
            "bad": sum(r.status != "graded" for r in results),
            "recording": recording["recording"] / max(1, len(results)),
            "load": os.getloadavg()[0]}


def _print_run(label: str, row: dict) -> None:
    print(f"{label}: wall {row['wall']:7.1f} s  median {row['median']:5.1f} s/submission  "
          f"throughput {row['wall'] / row['n']:5.1f} s/submission  not graded: {row['bad']}  "
          f"recording {1000 * row['recording']:.0f} ms/result  (load avg {row['load']:.1f})",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--assignment", default=_default_assignment())
    p.add_argument("--n", type=int, default=24)
    p.add_argument("--workers", type=int, nargs="+", default=None,
                   help="worker counts (default: 1 2 for local, 2 for dask)")
    p.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="dask: grade with the local pool and on a Dask LocalCluster, same "
                        "workers, and print the wall-time ratio")
    p.add_argument("--breakdown", type=int, default=3, metavar="K",
                   help="submissions graded in-process with timers (0: none)")
    p.add_argument("--no-runs", action="store_true", help="only the breakdown")
    p.add_argument("--no-sandbox", action="store_true")
    p.add_argument("--warm", choices=("both", "on", "off"), default="both",
                   help="runs and breakdown with warm kernels, cold ones, or both (default)")
    args = p.parse_args(argv)
    workers = args.workers or ([2] if args.backend == "dask" else [1, 2])

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
        base = {"force": True, "sandbox": not args.no_sandbox,
                "progress": sys.stderr.isatty()}
        rows: dict[str, dict] = {}
        modes = {"both": [False, True], "on": [True], "off": [False]}[args.warm]
        if not args.no_runs:
            for count in workers:
                for warm in modes:
                    tag = f"{count} worker(s), {'warm' if warm else 'cold'} kernels"
                    rows[f"local, {tag}"] = run(state, args.assignment, Settings(
                        workers=count, warm_kernels=warm, **base))
                    _print_run(f"local, {tag}", rows[f"local, {tag}"])
                    if args.backend == "dask":
                        rows[f"dask, {tag}"] = run(state, args.assignment, Settings(
                            workers=count, backend="dask", warm_kernels=warm, **base))
                        _print_run(f"dask (LocalCluster), {tag}", rows[f"dask, {tag}"])
                        ratio = rows[f"dask, {tag}"]["wall"] / rows[f"local, {tag}"]["wall"]
                        print(f"dask / local wall time, {tag}: {ratio:.2f}")
                if len(modes) == 2:
                    cold = rows[f"local, {count} worker(s), cold kernels"]
                    hot = rows[f"local, {count} worker(s), warm kernels"]
                    print(f"warm / cold, {count} worker(s): median per submission "
                          f"{hot['median']:.1f} / {cold['median']:.1f} s = "
                          f"{hot['median'] / cold['median']:.2f}; wall "
                          f"{hot['wall'] / cold['wall']:.2f}")
            if len(workers) >= 2:
                mode = "warm" if modes == [True] else "cold"
                first = rows[f"local, {workers[0]} worker(s), {mode} kernels"]
                for count in workers[1:]:
                    row = rows[f"local, {count} worker(s), {mode} kernels"]
                    print(f"speed-up {workers[0]} -> {count} workers ({mode} kernels): "
                          f"{first['wall'] / row['wall']:.2f}x")
        if args.breakdown:
            order = ["sandbox + kernel start", "setup cell (imports)", "notebook cells",
                     "test cells (observers)", "judge verdicts", "kernel shutdown",
                     "worker's own work", "total (in the worker)"]
            for warm in modes:
                stages = breakdown(state, args.assignment, args.breakdown + warm,
                                   Settings(workers=max(workers), warm_kernels=warm, **base))
                print(f"\nwhere a submission's time goes, {'WARM' if warm else 'cold'} kernels "
                      f"(median of {len(stages)}, graded one after the other in-process; "
                      f"load avg {os.getloadavg()[0]:.1f}):")
                total = statistics.median(s["total (in the worker)"] for s in stages)
                for name in order:
                    value = statistics.median(s.get(name, 0.0) for s in stages)
                    print(f"  {name:28s} {value:6.2f} s  {100 * value / total:5.1f} %")
            for label, row in rows.items():
                workers_n = int(label.split(", ")[1].split()[0])
                dispatch = row["wall"] * workers_n / row["n"] - row["median"]
                print(f"  recording: {1000 * row['recording']:4.0f} ms per result (main "
                      f"process); dispatch + idle per submission {dispatch:5.2f} s  [{label}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
