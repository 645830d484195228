"""Peak memory of the grader (main process + grading workers) on the bad-submission catalogue.

    python benchmarks/bench_grader_memory.py [--workers 2] [--flood-mib 150]

Builds every case of ``examples/bad_submissions/catalogue.py`` from the
``training_basics`` release (as ``tests/test_bad_submissions.py`` does), adds one submission
that displays two rich outputs of ``--flood-mib`` MiB each (the reported 2 x 150 MB case),
collects them, grades them in one sandboxed batch with the catalogue's limits, then writes
feedback. A thread samples the resident memory (RSS) of this process and of each grading
worker every 0.1 s (kernels are not counted: they run sandboxed under their own limits).
Prints the peak of the sum, each process's peak and the wall time; target: under 1.5 GB.
It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder import build, cli  # noqa: E402
from autograder.course import CourseState  # noqa: E402
from autograder.qa import variants  # noqa: E402
from examples.bad_submissions.catalogue import ASSIGNMENT, CASES, Builder  # noqa: E402

MiB = 1 << 20
FLOOD = '''from IPython.display import display
_big = "x" * ({mib} * 1024 * 1024)
for _ in range(2):
    display({{"text/plain": _big}}, raw=True)
del _big'''


class Sampler(threading.Thread):
    """Peak RSS of this process + its grading workers (not their kernels' sandboxes)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.me = psutil.Process()
        self.peak_total = 0
        self.peaks: dict[str, int] = {}
        self.stop = threading.Event()

    def _graders(self) -> list[psutil.Process]:
        procs = [self.me]
        for child in self.me.children(recursive=False):
            with contextlib.suppress(psutil.Error):
                if "multiprocessing" in " ".join(child.cmdline()):  # spawn workers
                    procs.append(child)
        return procs

    def run(self) -> None:
        while not self.stop.is_set():
            total = 0
            for proc in self._graders():
                with contextlib.suppress(psutil.Error):
                    rss = proc.memory_info().rss
                    total += rss
                    name = "main" if proc.pid == self.me.pid else f"worker {proc.pid}"
                    self.peaks[name] = max(self.peaks.get(name, 0), rss)
            self.peak_total = max(self.peak_total, total)
            time.sleep(0.1)


def _run(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(argv)
    if code != 0:
        raise SystemExit(f"{argv[0]} failed ({code}):\n{out.getvalue()}")
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--flood-mib", type=int, default=150)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-mem-"))
    state = CourseState(root / "state")
    os.environ["TFCOURSE_STATE_DIR"] = str(state.root)
    _run(["release", ASSIGNMENT])
    inbox = root / "inbox"
    release = nbformat.read(build.release_path(ASSIGNMENT, state.release), as_version=4)
    source = nbformat.read(build.source_path(ASSIGNMENT), as_version=4)

    def builder(name: str) -> Builder:
        return Builder(student=name, inbox=inbox, submitted=state.submission_dir(ASSIGNMENT, name),
                       release=release, source=source, repo_root=build.REPO_ROOT,
                       state_root=state.root)

    for case in CASES:
        if not case.exchange:
            case.build(builder(case.name))
    flood = variants.as_submission(release, source, None)
    flood.cells.insert(2, nbformat.v4.new_code_cell(FLOOD.format(mib=args.flood_mib)))
    inbox.mkdir(parents=True, exist_ok=True)
    nbformat.write(flood, inbox / f"rich_flood_{ASSIGNMENT}.ipynb")
    _run(["collect", str(inbox), "--assignment", ASSIGNMENT, "--skip-unmatched"])
    for case in CASES:
        if case.exchange:
            case.build(builder(case.name))
    sampler = Sampler()
    sampler.start()
    start = time.monotonic()
    _run(["autograde", "--assignment", ASSIGNMENT, "--workers", str(args.workers),
          "--cell-timeout", "20", "--notebook-timeout", "120", "--memory-gib", "3",
          "--max-processes", "256", "--cpu-seconds", "300", "--no-progress"])
    graded = time.monotonic() - start
    _run(["feedback", "--assignment", ASSIGNMENT])
    sampler.stop.set()
    sampler.join()
    n = len(list((state.grades / ASSIGNMENT).glob("*.json")))
    print(f"{n} submissions graded (the collected catalogue cases + one with 2 x "
          f"{args.flood_mib} MiB rich output), {args.workers} workers: {graded:.0f} s, "
          "then feedback")
    print(f"peak RSS, main + workers (sampled every 0.1 s): {sampler.peak_total / MiB:.0f} MiB"
          f" (target < 1536 MiB)")
    for name, peak in sorted(sampler.peaks.items()):
        print(f"  {name:<14} {peak / MiB:7.0f} MiB")
    biggest = max((p.stat().st_size for p in state.autograded.rglob("*.ipynb")), default=0)
    print(f"largest autograded notebook: {biggest / 1024:.0f} KiB; state in {state.root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
