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

from autograder import build
from autograder.course import CourseState
from autograder.grade import sandbox
from autograder.grade.collect import MAX_STUDENT_ID, ZipLimits
from autograder.grade.pipeline import NO_SANDBOX_WARNING, Settings
from autograder.grade.sandbox import MiB
from autograder.records import terminal_safe


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


def release(state: CourseState, assignments: list[str]) -> None:
    state.root.mkdir(parents=True, exist_ok=True)
    for assignment in assignments:
        if assignment not in build.assignments():
            raise CliError(f"unknown assignment {assignment!r}; known: "
                           f"{', '.join(build.assignments())}")
        if not build.source_path(assignment).is_file():
            raise CliError(f"{build.source_path(assignment)} is missing: run `make build`")
        path = build.generate_release(assignment, release_dir=state.release,
                                      state_dir=state.root)
        print(f"released {assignment}: {path} (gradebook {state.gradebook})")


def cmd_release(args: argparse.Namespace, state: CourseState) -> None:
    release(state, args.assignments or build.assignments())


def collect_into(state: CourseState, source: Path, assignment: str, *, strict: bool = True,
                 limits: ZipLimits | None = None,
                 max_student_id: int = MAX_STUDENT_ID) -> None:
    from autograder.grade.collect import CollectError, collect

    try:
        done = collect(Path(source), assignment, state.submitted, strict=strict,
                       zip_limits=limits or ZipLimits(), max_student_id=max_student_id)
    except CollectError as exc:
        raise CliError(terminal_safe(exc, keep_newlines=True)) from exc
    for line in done.unmatched:
        print(f"skipped (unmatched): {terminal_safe(line)}")
    print(f"collected {len(done.students)} submission(s) of {assignment} into "
          f"{state.submitted}")


def cmd_collect(args: argparse.Namespace, state: CourseState) -> None:
    limits = ZipLimits(max_total_bytes=int(args.zip_max_mib * MiB),
                       max_entries=args.zip_max_entries, max_ratio=args.zip_max_ratio)
    collect_into(state, Path(args.source), args.assignment, strict=not args.skip_unmatched,
                 limits=limits, max_student_id=args.max_student_id)


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


def autograde(state: CourseState, settings: Settings, assignment: str | None = None,
              student: str | None = None) -> list:
    from autograder.grade import backends, pipeline
    from autograder.grade.backends import BackendError

    if settings.scheduler and settings.backend != "dask":
        raise CliError("--scheduler needs --backend dask")
    if settings.sandbox and settings.backend == "local":
        try:
            sandbox.check_available()
        except sandbox.SandboxUnavailable as exc:
            raise CliError(f"cannot grade in the sandbox: {exc}") from exc
    results = []
    todo = [a for a in _assignments(state, assignment) if state.students(a) or student]
    for name in _assignments(state, assignment):
        if name not in todo:
            print(f"{name}: no collected submissions")
    try:
        with backends.make(settings, state.logs / "workers") if todo else nullcontext() \
                as backend:
            for name in todo:
                results += pipeline.autograde(state, name, [student] if student else None,
                                              settings, backend=backend)
                _summary(state, name, results)
    except (FileNotFoundError, BackendError) as exc:
        raise CliError(str(exc)) from exc
    if not settings.sandbox:
        print(NO_SANDBOX_WARNING, file=sys.stderr)
    return results


def cmd_autograde(args: argparse.Namespace, state: CourseState) -> list:
    return autograde(state, _settings(args), args.assignment, args.student)


def _summary(state: CourseState, assignment: str, results: list) -> None:
    """The one-line summary of an assignment's grading run."""
    graded = [r for r in results if r.assignment == assignment]
    bad = [r for r in graded if r.status != "graded"]
    flagged = [r for r in graded if r.needs_review]
    print(f"{assignment}: graded {len(graded)} submission(s), {len(bad)} could not be "
          f"graded (score 0), {len(flagged)} flagged for manual review"

          f"{' (' + ', '.join(r.student for r in flagged) + ')' if flagged else ''}; "
          f"log: {state.logs / 'autograde.log'}")


def write_feedback(state: CourseState, assignment: str | None = None) -> None:
    from autograder.review import feedback

    for name in _assignments(state, assignment):
        paths = feedback.generate(state, name)
        print(f"{name}: {len(paths)} feedback file(s) in {state.feedback}")


def cmd_feedback(args: argparse.Namespace, state: CourseState) -> None:
    write_feedback(state, args.assignment)


def export(state: CourseState, assignment: str | None = None) -> None:
    from autograder.review import report

    for name in _assignments(state, assignment):
        if not state.record_dir(name).is_dir():
            print(f"{name}: nothing graded yet")
            continue
        csv_path, json_path = report.export(state, name)
        print(f"{name}: {csv_path}\n{' ' * len(name)}  {json_path}")


def cmd_export(args: argparse.Namespace, state: CourseState) -> None:
    export(state, args.assignment)


def cmd_report(args: argparse.Namespace, state: CourseState) -> None:
    from autograder.review import report

    for assignment in _assignments(state, args.assignment):
        print(f"== {assignment} ==")
        print(report.format_failures(report.failures(state, assignment)) or
              "nothing graded yet")
        review = report.format_flagged(report.flagged(state, assignment))
        if review:
            print(f"\n{review}")


def demo(state: CourseState, settings: Settings, assignment: str | None = None,
         limit: int | None = None) -> None:
    """Release, make example submissions, collect, autograde, feedback, export, summary."""
    from autograder.qa import examples
    from autograder.review import report
    from tfcourse.data import fetch_all

    start = time.monotonic()
    print("[demo] fetching data files")
    fetch_all()
    chosen = [assignment] if assignment else [
        a for a in build.assignments() if build.source_path(a).is_file()
    ]
    print(f"[demo] releasing {', '.join(chosen)} into {state.root}")
    release(state, chosen)
    for name in chosen:
        out = state.examples / name
        paths = examples.make(out, name, state.release, limit=limit)
        print(f"[demo] {name}: {len(paths)} example submissions in {out}")
        collect_into(state, out, name, strict=True)
    print(f"[demo] autograding with {settings.scheduler or f'{settings.workers} worker(s)'}"
          f"{' on Dask' if settings.backend == 'dask' else ''}"
          f"{'' if settings.sandbox else ' WITHOUT sandbox'}")
    autograde(state, settings)
    write_feedback(state)
    export(state)
    broken = []
    for name in chosen:
        data = report.table(state, name)
        print(f"\n== {name} ==")
        print(report.format_summary(data))
        reference = next((r for r in data["students"] if r["student"] == "reference"), None)
        if reference is not None and reference["total"] < data["max_total"]:
            broken.append(f"{name}: {reference['total']:g} / {data['max_total']:g}")
    print(f"\n[demo] done in {time.monotonic() - start:.0f} s; everything is in {state.root}")
    if broken:
        # The reference answers must get full marks; anything else is a grading fault (data
        # unreadable in the sandbox, a limit too tight, a broken check), never a student's.
        raise CliError("the reference submission lost points, so grading itself is broken: "
                       + "; ".join(broken) + f". See {state.logs}")


def cmd_demo(args: argparse.Namespace, state: CourseState) -> None:
    demo(state, _settings(args), args.assignment, args.limit)


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
                   help="each worker keeps a zygote that imported TensorFlow, Keras, NumPy, "
                        "pandas and ipykernel once and forks every submission's kernel into a "
                        "fresh sandbox of its own (default: on; --no-warm-kernels starts each "
                        "kernel cold with bwrap)")
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
