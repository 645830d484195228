"""The instructor's grading CLI: ``python -m autograder <subcommand>``.

    release   [A ...]                      nbgrader generate_assignment into the course state
    collect   FOLDER_OR_ZIP --assignment A copy notebooks into submitted/<student>/A/
    autograde [--assignment A] [--student S] [--workers N] [--force] [--no-sandbox]
              [--backend local|dask] [--scheduler tcp://HOST:PORT]
    feedback  [--assignment A]             HTML feedback per student (no hidden tests)
    export    [--assignment A]             CSV + JSON of the grades (one row per student)
    report    [--assignment A]             per test cell: how many failed, common messages;
                                           submissions flagged for manual review, and why
    demo      [--assignment A] [--limit N] all of the above on the bundled examples

Everything is written under course_state/ (or $TFCOURSE_STATE_DIR).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from autograder import build, sandbox
from autograder.collect import MAX_STUDENT_ID, ZipLimits
from autograder.pipeline import COURSE_ID, NO_SANDBOX_WARNING, CourseState, Settings
from autograder.sandbox import MiB


class CliError(RuntimeError):
    """A user error: printed without a traceback, exit status 2."""


def _assignments(state: CourseState, chosen: str | None) -> list[str]:
    known = build.assignments()
    if chosen:
        if chosen not in known:
            raise CliError(f"unknown assignment {chosen!r}; known: {', '.join(known)}")
        return [chosen]
    released = [a for a in known if (state.release / a).is_dir()]
    return released or known


def cmd_release(args: argparse.Namespace, state: CourseState) -> None:
    state.root.mkdir(parents=True, exist_ok=True)
    for assignment in args.assignments or build.assignments():
        if assignment not in build.assignments():
            raise CliError(f"unknown assignment {assignment!r}; known: "
                           f"{', '.join(build.assignments())}")
        if not build.source_path(assignment).is_file():
            raise CliError(f"{build.source_path(assignment)} is missing: run `make build`")
        path = build.generate_release(assignment, release_dir=state.release,
                                      state_dir=state.root)
        print(f"released {assignment}: {path} (gradebook {state.gradebook})")


def cmd_collect(args: argparse.Namespace, state: CourseState) -> None:
    from autograder.collect import CollectError, ZipLimits, collect
    from autograder.report import terminal_safe

    default = ZipLimits()  # demo has no zip options
    limits = ZipLimits(
        max_total_bytes=int(getattr(args, "zip_max_mib", default.max_total_bytes / MiB) * MiB),
        max_entries=getattr(args, "zip_max_entries", default.max_entries),
        max_ratio=getattr(args, "zip_max_ratio", default.max_ratio))
    try:
        done = collect(Path(args.source), args.assignment, state.submitted,
                       strict=not args.skip_unmatched, zip_limits=limits,
                       max_student_id=args.max_student_id)
    except CollectError as exc:
        raise CliError(terminal_safe(exc, keep_newlines=True)) from exc
    for line in done.unmatched:
        print(f"skipped (unmatched): {terminal_safe(line)}")
    print(f"collected {len(done.students)} submission(s) of {args.assignment} into "
          f"{state.submitted}")


def _settings(args: argparse.Namespace) -> Settings:
    limits = sandbox.SandboxConfig(
        cpu_seconds=args.cpu_seconds, memory_bytes=int(args.memory_gib * sandbox.GiB),
        max_processes=args.max_processes, threads=args.threads,
        tmp_bytes=int(args.tmp_mib * MiB), scratch_bytes=int(args.scratch_mib * MiB),
        max_output_bytes=int(args.max_output_mib * MiB),
    )
    return Settings(
        workers=args.workers, sandbox=not args.no_sandbox, force=args.force,
        cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
        limits=limits, progress=not args.no_progress, max_attempts=args.max_attempts,
        max_student_id=args.max_student_id, worker_log_bytes=int(args.worker_log_mib * MiB),
        backend=args.backend, scheduler=args.scheduler or "", warm_kernels=args.warm_kernels,
    )


def cmd_autograde(args: argparse.Namespace, state: CourseState) -> list:
    from autograder import backends, pipeline
    from autograder.backends import BackendError

    settings = _settings(args)
    if settings.scheduler and settings.backend != "dask":
        raise CliError("--scheduler needs --backend dask")
    if settings.sandbox and settings.backend == "local":
        try:
            sandbox.check_available()
        except sandbox.SandboxUnavailable as exc:
            raise CliError(f"cannot grade in the sandbox: {exc}") from exc
    results = []
    todo = [a for a in _assignments(state, args.assignment)
            if state.students(a) or args.student]
    for assignment in _assignments(state, args.assignment):
        if assignment not in todo:
            print(f"{assignment}: no collected submissions")
    try:
        with backends.make(settings, state.logs / "workers") if todo else nullcontext() \
                as backend:
            for assignment in todo:
                students = [args.student] if args.student else None
                results += pipeline.autograde(state, assignment, students, settings,
                                              backend=backend)
                _summary(state, assignment, results)
    except (FileNotFoundError, BackendError) as exc:
        raise CliError(str(exc)) from exc
    if not settings.sandbox:
        print(NO_SANDBOX_WARNING, file=sys.stderr)
    return results


def _summary(state: CourseState, assignment: str, results: list) -> None:
    """The one-line summary of an assignment's grading run."""
    graded = [r for r in results if r.assignment == assignment]
    bad = [r for r in graded if r.status != "graded"]
    flagged = [r for r in graded if r.needs_review]
    print(f"{assignment}: graded {len(graded)} submission(s), {len(bad)} could not be "
          f"graded (score 0), {len(flagged)} flagged for manual review"
          f"{' (' + ', '.join(r.student for r in flagged) + ')' if flagged else ''}; "
          f"log: {state.logs / 'autograde.log'}")


def cmd_feedback(args: argparse.Namespace, state: CourseState) -> None:
    from autograder import feedback

    for assignment in _assignments(state, args.assignment):
        paths = feedback.generate(state.root, assignment)
        print(f"{assignment}: {len(paths)} feedback file(s) in {state.feedback}")


def cmd_export(args: argparse.Namespace, state: CourseState) -> None:
    from autograder import report

    for assignment in _assignments(state, args.assignment):
        if not (state.grades / assignment).is_dir():
            print(f"{assignment}: nothing graded yet")
            continue
        csv_path, json_path = report.export(state.db_url, COURSE_ID, state.root, assignment,
                                            state.exports)
        print(f"{assignment}: {csv_path}\n{' ' * len(assignment)}  {json_path}")


def cmd_report(args: argparse.Namespace, state: CourseState) -> None:
    from autograder import report

    for assignment in _assignments(state, args.assignment):
        print(f"== {assignment} ==")
        print(report.format_failures(report.failures(state.root, assignment)) or
              "nothing graded yet")
        review = report.format_flagged(report.flagged(state.root, assignment))
        if review:
            print(f"\n{review}")


def cmd_demo(args: argparse.Namespace, state: CourseState) -> None:
    from autograder import report

    start = time.monotonic()
    print("[demo] fetching data files")
    from tfcourse.data import fetch_all

    fetch_all()
    chosen = [args.assignment] if args.assignment else [
        a for a in build.assignments() if build.source_path(a).is_file()
    ]
    args.assignments = chosen
    print(f"[demo] releasing {', '.join(chosen)} into {state.root}")
    cmd_release(args, state)
    from autograder import examples

    for assignment in chosen:
        out = state.root / "examples" / assignment
        paths = examples.make(out, assignment, state.release, limit=args.limit)
        print(f"[demo] {assignment}: {len(paths)} example submissions in {out}")
        args.source, args.assignment, args.skip_unmatched = str(out), assignment, False
        cmd_collect(args, state)
    args.assignment, args.student = None, None
    print(f"[demo] autograding with {args.scheduler or f'{args.workers} worker(s)'}"
          f"{' on Dask' if args.backend == 'dask' else ''}"
          f"{'' if not args.no_sandbox else ' WITHOUT sandbox'}")
    cmd_autograde(args, state)
    cmd_feedback(args, state)
    cmd_export(args, state)
    broken = []
    for assignment in chosen:
        data = report.table(state.db_url, COURSE_ID, state.root, assignment)
        print(f"\n== {assignment} ==")
        print(report.format_summary(data))
        reference = next((r for r in data["students"] if r["student"] == "reference"), None)
        if reference is not None and reference["total"] < data["max_total"]:
            broken.append(f"{assignment}: {reference['total']:g} / {data['max_total']:g}")
    print(f"\n[demo] done in {time.monotonic() - start:.0f} s; everything is in {state.root}")
    if broken:
        # The reference answers must get full marks; anything else is a grading fault (data
        # unreadable in the sandbox, a limit too tight, a broken check), never a student's.
        raise CliError("the reference submission lost points, so grading itself is broken: "
                       + "; ".join(broken) + f". See {state.root / 'logs'}")


def _grading_options(p: argparse.ArgumentParser) -> None:
    defaults = sandbox.SandboxConfig()
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="parallel grading workers (default: number of CPUs)")
    p.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="where grading runs: local process pool (default) or a Dask cluster")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="--backend dask: address of a running Dask scheduler (default: start "
                        "a LocalCluster of --workers processes on this machine)")
    p.add_argument("--warm-kernels", action=argparse.BooleanOptionalAction,
                   default=Settings.warm_kernels,
                   help="each worker starts the next submission's sandboxed kernel (TensorFlow, "
                        "Keras, NumPy, pandas imported) while it grades the current one; a "
                        "kernel is never reused")
    p.add_argument("--force", action="store_true", help="regrade unchanged submissions")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run student code UNCONFINED (trusted notebooks only; warns)")
    p.add_argument("--cell-timeout", type=int,
                   default=int(os.environ.get("TFCOURSE_CELL_TIMEOUT", "120")),
                   help="seconds per cell (nbgrader Execute.timeout)")
    p.add_argument("--notebook-timeout", type=int, default=900,
                   help="wall-clock seconds per submission (the worker is killed)")
    p.add_argument("--cpu-seconds", type=int, default=defaults.cpu_seconds,
                   help="CPU-time limit of the kernel (RLIMIT_CPU)")
    p.add_argument("--memory-gib", type=float, default=defaults.memory_bytes / sandbox.GiB,
                   help="address-space limit of the kernel in GiB (RLIMIT_AS)")
    p.add_argument("--max-processes", type=int, default=defaults.max_processes,
                   help="processes+threads of the kernel's uid (RLIMIT_NPROC)")
    p.add_argument("--threads", type=int, default=0,
                   help="TensorFlow threads per kernel (default: CPUs / workers)")
    p.add_argument("--tmp-mib", type=float, default=defaults.tmp_bytes / MiB,
                   help="size of the kernel's private tmpfs /tmp in MiB")
    p.add_argument("--scratch-mib", type=float, default=defaults.scratch_bytes / MiB,
                   help="size of the kernel's scratch filesystem (home, cwd) in MiB")
    p.add_argument("--max-output-mib", type=float, default=defaults.max_output_bytes / MiB,
                   help="outputs (stream + rich) kept per notebook in MiB; later ones are "
                        "dropped with an 'output truncated' note")
    p.add_argument("--worker-log-mib", type=float, default=Settings.worker_log_bytes / MiB,
                   help="a worker log is rotated past this size in MiB (one old copy kept)")
    p.add_argument("--max-attempts", type=int, default=Settings.max_attempts,
                   help="grade a submission that times out or crashes at most this often "
                        "(then final, with the reason; --force grades it again)")
    _student_id_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _student_id_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-student-id", type=int, default=MAX_STUDENT_ID,
                   help="longest accepted student id (characters: letters, digits, . _ -)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("release", help="generate the release and register it in the gradebook")
    s.add_argument("assignments", nargs="*")
    s = sub.add_parser("collect", help="collect submissions from a folder or zip")
    s.add_argument("source", help="folder or .zip of notebooks")
    s.add_argument("--assignment", required=True)
    s.add_argument("--skip-unmatched", action="store_true",
                   help="collect what matches and list the rest instead of failing")
    zip_defaults = ZipLimits()
    s.add_argument("--zip-max-mib", type=float, default=zip_defaults.max_total_bytes / MiB,
                   help="refuse a zip that expands past this many MiB")
    s.add_argument("--zip-max-entries", type=int, default=zip_defaults.max_entries,
                   help="refuse a zip with more entries")
    s.add_argument("--zip-max-ratio", type=float, default=zip_defaults.max_ratio,
                   help="refuse a zip whose entry (above 1 MiB) expands more than this")
    _student_id_option(s)
    s = sub.add_parser("autograde", help="grade collected submissions in the sandbox")
    s.add_argument("--assignment")
    s.add_argument("--student")
    _grading_options(s)
    for name, text in (("feedback", "write HTML feedback"), ("export", "CSV/JSON of grades"),
                       ("report", "failures per test cell")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--assignment")
    s = sub.add_parser("demo", help="release, make examples, collect, grade, feedback, export")
    s.add_argument("--assignment", help="default: every assignment with a source notebook")
    s.add_argument("--limit", type=int, default=5,
                   help="at most this many variant submissions per assignment")
    _grading_options(s)
    return p


COMMANDS = {
    "release": cmd_release, "collect": cmd_collect, "autograde": cmd_autograde,
    "feedback": cmd_feedback, "export": cmd_export, "report": cmd_report, "demo": cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    state = CourseState.default()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        COMMANDS[args.command](args, state)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: graded submissions are saved; run the command again to resume",
              file=sys.stderr)
        return 130
    return 0
