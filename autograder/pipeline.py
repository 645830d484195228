"""Autograde every collected submission: plan jobs, run N sandboxed workers, record results.

* :class:`CourseState` names every folder of the runtime state (``course_state/`` or
  ``$TFCOURSE_STATE_DIR``); nothing of the pipeline writes anywhere else.
* :func:`plan` makes one :class:`~autograder.worker.GradeJob` per submission whose key (hash of
  the submitted files, the release and the source notebook) differs from its grade record.
* :func:`run_jobs` keeps ``workers`` worker processes busy (:func:`autograder.worker.serve`),
  kills one that exceeds the per-notebook wall-clock limit (its sandboxed kernel dies with it,
  ``bwrap --die-with-parent``), replaces crashed workers, and hands each result to the single
  :class:`~autograder.writer.Writer` as soon as it arrives.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from autograder import build, sandbox
from autograder.sandbox import SandboxConfig
from autograder.worker import GradeJob, GradeResult, static_flags

COURSE_ID = "tf_custom_training"
NO_SANDBOX_WARNING = (
    "WARNING: grading WITHOUT the sandbox (--no-sandbox): student code runs with your "
    "permissions and can read the hidden tests, the gradebook and other students' work. "
    "Only use this for trusted notebooks."
)


@dataclass(frozen=True)
class CourseState:
    """The folders of nbgrader's runtime state (layout of nbgrader_config.py)."""

    root: Path

    @classmethod
    def default(cls) -> CourseState:
        return cls(Path(os.environ.get("TFCOURSE_STATE_DIR") or build.REPO_ROOT / "course_state"))

    @property
    def gradebook(self) -> Path:
        return self.root / "gradebook.db"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.gradebook}"

    @property
    def release(self) -> Path:
        return self.root / "release"

    @property
    def submitted(self) -> Path:
        return self.root / "submitted"

    @property
    def autograded(self) -> Path:
        return self.root / "autograded"

    @property
    def feedback(self) -> Path:
        return self.root / "feedback"

    @property
    def grades(self) -> Path:
        return self.root / "grades"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def run(self) -> Path:
        return self.root / "run"

    def release_dir(self, assignment: str) -> Path:
        """The generated release of ``assignment`` (state copy first, else the repo's)."""
        own = self.release / assignment
        return own if own.is_dir() else build.RELEASE / assignment

    def submission_dir(self, assignment: str, student: str) -> Path:
        return self.submitted / student / assignment

    def students(self, assignment: str) -> list[str]:
        if not self.submitted.is_dir():
            return []
        return sorted(p.name for p in self.submitted.iterdir()
                      if (p / assignment).is_dir())


def logger(state: CourseState, name: str = "autograde") -> logging.Logger:
    """A logger writing per-submission status lines to ``logs/<name>.log``."""
    state.logs.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger(f"tfcourse.{name}.{state.root}")
    if not log.handlers:
        handler = logging.FileHandler(state.logs / f"{name}.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def _hash_tree(digest: hashlib._Hash, folder: Path) -> None:
    if not folder.is_dir():
        digest.update(b"<missing>")
        return
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")


def submission_key(state: CourseState, assignment: str, student: str) -> str:
    """Hash of the submitted files, the release and the source notebook (hidden tests)."""
    digest = hashlib.sha256()
    _hash_tree(digest, state.submission_dir(assignment, student))
    _hash_tree(digest, state.release_dir(assignment))
    source = build.source_path(assignment)
    digest.update(source.read_bytes() if source.is_file() else b"<no source>")
    return digest.hexdigest()[:24]


@dataclass
class Settings:
    """How to grade (CLI options)."""

    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    sandbox: bool = True
    force: bool = False
    cell_timeout: int = 120
    notebook_timeout: int = 900  # wall clock per submission (kills the worker)
    limits: SandboxConfig = field(default_factory=SandboxConfig)
    progress: bool = True


def plan(
    state: CourseState, assignment: str, students: Iterable[str] | None, settings: Settings,
    site_dir: Path, snapshot: Path,
) -> tuple[list[GradeJob], list[str]]:
    """Jobs to run and students skipped because their grade record is up to date."""
    import json

    jobs: list[GradeJob] = []
    skipped: list[str] = []
    limits = settings.limits
    if settings.sandbox and not limits.threads:
        cores = os.cpu_count() or 1
        limits = SandboxConfig(**{**limits.to_dict(),
                                  "threads": max(1, cores // settings.workers)})
    for student in students if students is not None else state.students(assignment):
        sub = state.submission_dir(assignment, student)
        if not sub.is_dir():
            raise FileNotFoundError(f"no submission of {assignment} by {student} in {sub}; "
                                    f"run `python -m autograder collect` first")
        key = submission_key(state, assignment, student)
        record = state.grades / assignment / f"{student}.json"
        if not settings.force and record.is_file():
            try:
                old = json.loads(record.read_text())
                # graded and error (a broken notebook) are final for this key; a timeout or a
                # crashed worker may have been the machine's fault: try again.
                if old.get("key") == key and old.get("status") in ("graded", "error"):
                    skipped.append(student)
                    continue
            except ValueError:
                pass  # a damaged record: grade again
        jobs.append(GradeJob(
            assignment=assignment, student=student, submission_dir=str(sub),
            gradebook=str(snapshot), release_dir=str(state.release_dir(assignment)), key=key,
            sandbox=settings.sandbox, limits=limits.to_dict(),
            cell_timeout=settings.cell_timeout, site_dir=str(site_dir),
            data_dir=str(build.REPO_ROOT / "data" / "files"),
            tfds_dir=str(build.REPO_ROOT / "data" / "tfds"), course_id=COURSE_ID,
        ))
    return jobs, skipped


def _timestamp(job: GradeJob) -> str | None:
    path = Path(job.submission_dir) / "timestamp.txt"
    return path.read_text().strip() or None if path.is_file() else None


class _Slot:
    """One worker process and the job it is running."""

    def __init__(self, ctx: mp.context.BaseContext, index: int, log_dir: Path | None):
        from autograder.worker import serve

        self.index = index
        self.log_dir = log_dir
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(child, str(log_dir or "")), daemon=True,
                                   name=f"grader-{index}")
        self.process.start()
        child.close()
        self.job: GradeJob | None = None
        self.started = 0.0

    def submit(self, job: GradeJob) -> None:
        job.slot = self.index
        self.job, self.started = job, time.monotonic()
        self.conn.send(job.to_dict())

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def run_jobs(
    jobs: list[GradeJob], workers: int, notebook_timeout: float,
    on_result: Callable[[GradeJob, GradeResult], None], log_dir: Path | None = None,
) -> None:
    """Run ``jobs`` on ``workers`` processes; call ``on_result`` in this process for each.

    A worker that dies or exceeds ``notebook_timeout`` seconds is replaced; its submission
    gets a ``crashed`` or ``timeout`` result (graded 0 with that reason). ``on_result`` runs
    in the main process only, so recording needs no locking.
    """
    ctx = mp.get_context("spawn")
    pending = list(jobs)
    slots = [_Slot(ctx, i, log_dir) for i in range(max(1, min(workers, len(jobs))))]
    try:
        while pending or any(s.job for s in slots):
            for slot in slots:
                if slot.job is None and pending:
                    slot.submit(pending.pop(0))
            busy = [s for s in slots if s.job is not None]
            ready = wait([s.conn for s in busy] + [s.process.sentinel for s in busy],
                         timeout=1.0)
            for i, slot in enumerate(slots):
                job = slot.job
                if job is None:
                    continue
                if slot.conn in ready:
                    try:
                        data = slot.conn.recv()
                    except (EOFError, OSError):
                        data = None
                    if data is not None:
                        slot.job = None
                        on_result(job, GradeResult.from_dict(data))
                        continue
                elapsed = time.monotonic() - slot.started
                if slot.process.is_alive() and elapsed <= notebook_timeout:
                    continue
                status = "crashed" if not slot.process.is_alive() else "timeout"
                reason = (f"the notebook did not finish within {notebook_timeout:.0f} s"
                          if status == "timeout" else
                          f"the grading worker died (exit code {slot.process.exitcode})")
                slot.stop(kill=True)
                slots[i] = _Slot(ctx, slot.index, log_dir)
                notebook = Path(job.submission_dir) / f"{job.assignment}.ipynb"
                on_result(job, GradeResult(job.assignment, job.student, job.key, status,
                                           reason=reason, seconds=round(elapsed, 3),
                                           sandboxed=job.sandbox,
                                           flags=static_flags(notebook)))
    finally:
        for slot in slots:
            slot.stop(kill=slot.job is not None)


def snapshot_gradebook(state: CourseState) -> Path:
    """A consistent copy of the gradebook for workers (they never open the real one)."""
    import sqlite3

    state.run.mkdir(parents=True, exist_ok=True)
    target = state.run / "gradebook.snapshot.db"
    tmp = target.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(state.gradebook) as src, sqlite3.connect(tmp) as dst:
        src.backup(dst)
    os.replace(tmp, target)
    target.chmod(0o600)
    return target


def autograde(
    state: CourseState, assignment: str, students: Iterable[str] | None = None,
    settings: Settings | None = None, out: Callable[[str], None] = print,
) -> list[GradeResult]:
    """Grade the collected submissions of ``assignment``; return this run's results."""
    from tqdm import tqdm

    from autograder.writer import Writer

    settings = settings or Settings()
    log = logger(state)
    if not settings.sandbox:
        out(NO_SANDBOX_WARNING)
        warnings.warn(NO_SANDBOX_WARNING, stacklevel=2)
        log.warning(NO_SANDBOX_WARNING)
    else:
        sandbox.check_available()
    if not state.gradebook.is_file():
        raise FileNotFoundError(
            f"no gradebook at {state.gradebook}: run `python -m autograder release` first")
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(state.db_url, COURSE_ID) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise FileNotFoundError(
                f"{assignment} is not in the gradebook {state.gradebook}: run "
                f"`python -m autograder release {assignment}` first") from None
    site = sandbox.build_site(state.run / "site")
    snapshot = snapshot_gradebook(state)
    jobs, skipped = plan(state, assignment, students, settings, site, snapshot)
    for student in skipped:
        log.info("%s/%s: unchanged since last graded, skipped", student, assignment)
    if skipped:
        out(f"{len(skipped)} submission(s) unchanged since graded, skipped (use --force to "
            "regrade)")
    writer = Writer(state.root, state.db_url, COURSE_ID, log)
    results: list[GradeResult] = []
    bar = tqdm(total=len(jobs), desc=f"grading {assignment}", unit="nb",
               disable=not settings.progress or not jobs, file=sys.stderr)

    def on_result(job: GradeJob, result: GradeResult) -> None:
        writer.record(result, _timestamp(job))
        (state.logs / "submissions").mkdir(parents=True, exist_ok=True)
        (state.logs / "submissions" / f"{job.student}_{job.assignment}.log").write_text(
            result.log)
        log.info("%s/%s: %s %.1f/%.1f in %.1f s%s%s", job.student, job.assignment,
                 result.status, result.score, result.max_score, result.seconds,
                 f" ({result.reason})" if result.reason else "",
                 f" NEEDS REVIEW: {'; '.join(f['reason'] for f in result.flags)}"
                 if result.flags else "")
        results.append(result)
        bar.update(1)

    try:
        run_jobs(jobs, settings.workers, settings.notebook_timeout, on_result,
                 state.logs / "workers")
    finally:
        bar.close()
        shutil.rmtree(state.run / "site", ignore_errors=True)
    return results
