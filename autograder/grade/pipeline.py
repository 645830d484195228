"""Autograde every collected submission: plan jobs, run N sandboxed workers, record results.

* the runtime state is a :class:`autograder.course.CourseState`; nothing of the pipeline
  writes anywhere else.
* :func:`plan` makes one :class:`~autograder.records.GradeJob` per submission whose key (hash of
  the submitted files, the release and the source notebook) differs from its grade record.
* a backend (:mod:`autograder.grade.backends`: the local process pool by default, or Dask)
  runs the jobs and hands each result back as soon as it arrives; :func:`autograde` records it
  with the single :class:`~autograder.grade.writer.Writer`, in the same order of writes for
  every backend.

Hardening (docs/grading.md, "Limits"): a student id that is too long or has other characters,
a symlinked submission, or an exception while planning or recording one submission gives that
submission status ``error`` with the reason, and the batch goes on; a submission that timed
out is retried at most ``max_attempts`` times for the same files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from autograder import build
from autograder.course import COURSE_ID, CourseState
from autograder.grade import sandbox
from autograder.grade.collect import MAX_STUDENT_ID, student_id_problem
from autograder.grade.sandbox import MiB, SandboxConfig
from autograder.records import GradeJob, GradeResult, terminal_safe

if TYPE_CHECKING:
    from autograder.grade.backends import Backend

NO_SANDBOX_WARNING = (
    "WARNING: grading WITHOUT the sandbox (--no-sandbox): student code runs with your "
    "permissions and can read the hidden tests, the gradebook and other students' work. "
    "Only use this for trusted notebooks."
)


class _SafeFormatter(logging.Formatter):
    """Log lines without control characters (a student's text cannot drive the terminal)."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record), keep_newlines=True)


def logger(state: CourseState, name: str = "autograde") -> logging.Logger:
    """A logger writing per-submission status lines to ``logs/<name>.log``."""
    state.logs.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger(f"tfcourse.{name}.{state.root}")
    if not log.handlers:
        handler = logging.FileHandler(state.logs / f"{name}.log")
        handler.setFormatter(_SafeFormatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def _hash_tree(digest: hashlib._Hash, folder: Path) -> None:
    """Hash names and contents below ``folder`` without following a symlink (a link is hashed
    as its target's name, a special file as its type); files are read in chunks."""
    if folder.is_symlink() or not folder.is_dir():
        digest.update(b"<missing>")
        return
    for dirpath, dirnames, filenames in os.walk(folder):  # never descends into dir symlinks
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames
                                        if os.path.islink(os.path.join(dirpath, d))]):
            path = os.path.join(dirpath, name)
            digest.update(os.path.relpath(path, folder).encode() + b"\0")
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                digest.update(b"<symlink>" + os.readlink(path).encode() + b"\0")
            elif not stat.S_ISREG(mode):
                digest.update(f"<special {stat.S_IFMT(mode)}>".encode() + b"\0")
            else:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
                digest.update(b"\0")


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
    max_attempts: int = 2  # a submission that timed out / crashed is graded at most this often
    max_student_id: int = MAX_STUDENT_ID  # longer ids (or other characters) are not graded
    worker_log_bytes: int = 16 * MiB  # a worker log is rotated (one old copy) past this size
    scratch_root: str = ""  # where job folders go ("" -> the system temp folder)
    backend: str = "local"  # local (process pool) | dask (autograder.grade.backends.dask_backend)
    scheduler: str = ""  # dask: tcp://HOST:PORT of a running scheduler ("" -> LocalCluster)
    warm_kernels: bool = True  # kernels forked by a zygote per worker (autograder.grade.warm)


def _attempts(record: dict, key: str) -> int:
    """How often these exact files already timed out or crashed (0 if not)."""
    if record.get("key") != key or record.get("status") not in ("timeout", "crashed"):
        return 0
    return int(record.get("attempts") or 1)


def _read_record(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (ValueError, OSError):
        return {}  # a damaged record: grade again


def plan(
    state: CourseState, assignment: str, students: Iterable[str] | None, settings: Settings,
    site_dir: Path, snapshot: Path, refused: list[GradeResult] | None = None,
) -> tuple[list[GradeJob], list[str]]:
    """Jobs to run and students skipped because their grade record is up to date.

    A submission that cannot be planned (an id that is too long or has other characters, a
    symlinked folder, any exception while hashing it) is appended to ``refused`` as an
    ``error`` result with the reason (raised if ``refused`` is None); the others are planned.
    """
    jobs: list[GradeJob] = []
    skipped: list[str] = []
    limits = settings.limits
    if settings.sandbox and not limits.threads:
        cores = os.cpu_count() or 1
        limits = SandboxConfig(**{**limits.to_dict(),
                                  "threads": max(1, cores // settings.workers)})
    for student in students if students is not None else state.students(assignment):
        sub = state.submission_dir(assignment, student)
        problem = student_id_problem(student, settings.max_student_id)
        if problem is None and not sub.is_dir():
            raise FileNotFoundError(f"no submission of {assignment} by {student} in {sub}; "
                                    f"run `python -m autograder collect` first")
        try:
            if problem is not None:
                raise ValueError(f"student id not accepted: {problem}")
            for folder in (sub.parent, sub):
                if folder.is_symlink():
                    raise ValueError(f"{folder.relative_to(state.submitted)} is a symbolic "
                                     "link (not followed)")
            key = submission_key(state, assignment, student)
            old = {} if settings.force else _read_record(
                state.record_path(assignment, student))
            # graded and error (a broken notebook) are final for this key; a timeout or a
            # crashed worker may have been the machine's fault: try again, up to max_attempts.
            if old.get("key") == key and (old.get("status") in ("graded", "error")
                                          or _attempts(old, key) >= settings.max_attempts):
                skipped.append(student)
                continue
        except Exception as exc:  # noqa: BLE001 (one submission never stops the batch)
            if refused is None:
                raise
            refused.append(GradeResult.error(assignment, student, "",
                                         f"{type(exc).__name__}: {exc}", settings.sandbox))
            continue
        jobs.append(GradeJob(
            assignment=assignment, student=student, submission_dir=str(sub),
            gradebook=str(snapshot), release_dir=str(state.release_dir(assignment)), key=key,
            sandbox=settings.sandbox, limits=limits.to_dict(),
            cell_timeout=settings.cell_timeout, site_dir=str(site_dir),
            # the same env-aware folders the student package reads (TFCOURSE_DATA_DIR,
            # TFCOURSE_TFDS_DIR), so the graded kernel sees the data wherever it lives
            data_dir=str(state.data_dir()), tfds_dir=str(state.tfds_dir()), course_id=COURSE_ID,
        ))
    return jobs, skipped


def _timestamp(job: GradeJob) -> str | None:
    path = Path(job.submission_dir) / "timestamp.txt"
    return path.read_text().strip() or None if path.is_file() else None


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
    backend: Backend | None = None,
) -> list[GradeResult]:
    """Grade the collected submissions of ``assignment``; return this run's results.

    ``backend``: an entered :mod:`autograder.grade.backends` backend to reuse (several assignments
    on one cluster); by default one is made from ``settings`` for this call."""
    from tqdm import tqdm

    from autograder.grade.writer import Writer

    settings = settings or Settings()
    log = logger(state)
    if not settings.sandbox:
        out(NO_SANDBOX_WARNING)
        warnings.warn(NO_SANDBOX_WARNING, stacklevel=2)
        log.warning(NO_SANDBOX_WARNING)
    elif settings.backend == "local":  # a Dask worker checks its own sandbox
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
    refused: list[GradeResult] = []
    jobs, skipped = plan(state, assignment, students, settings, site, snapshot, refused)
    for job in jobs:  # autograder.grade.warm: with the sandbox only
        job.warm_kernel = settings.warm_kernels and settings.sandbox
    for student in skipped:
        log.info("%s/%s: unchanged since last graded, skipped", student, assignment)
    if skipped:
        out(f"{len(skipped)} submission(s) unchanged since graded, skipped (use --force to "
            "regrade)")
    writer = Writer(state, log)
    results: list[GradeResult] = []
    bar = tqdm(total=len(jobs) + len(refused), desc=f"grading {assignment}", unit="nb",
               disable=not settings.progress or not (jobs or refused), file=sys.stderr)

    def record(job: GradeJob | None, result: GradeResult) -> None:
        old = _read_record(state.record_path(assignment, result.student)) \
            if student_id_problem(result.student, settings.max_student_id) is None else {}
        if result.status in ("timeout", "crashed"):
            attempts = result.attempts = _attempts(old, result.key) + 1
            if attempts >= settings.max_attempts:
                result.reason += (f" (attempt {attempts} of {settings.max_attempts}: not "
                                  "retried for these files; --force grades it again)")
            else:
                result.reason += f" (attempt {attempts} of {settings.max_attempts})"
        timestamp = _timestamp(job) if job is not None else None
        writer.record(result, timestamp)
        if result.log and student_id_problem(result.student, settings.max_student_id) is None:
            (state.logs / "submissions").mkdir(parents=True, exist_ok=True)
            (state.logs / "submissions" / f"{result.student}_{assignment}.log").write_text(
                terminal_safe(result.log, keep_newlines=True))

    def on_result(job: GradeJob | None, result: GradeResult) -> None:
        try:
            record(job, result)
        except Exception as exc:  # noqa: BLE001 (recording one submission failed: go on)
            reason = f"could not record the result ({type(exc).__name__}: {exc})"
            log.error("%s/%s: %s\n%s", result.student, assignment, reason,
                      traceback.format_exc())
            result = GradeResult.error(assignment, result.student, result.key, reason,
                                   result.sandboxed)
            try:
                writer.record(result, None)
            except Exception as again:  # noqa: BLE001
                log.error("%s/%s: the error could not be recorded either (%s: %s)",
                          result.student, assignment, type(again).__name__, again)
        log.info("%s/%s: %s %.1f/%.1f in %.1f s%s%s", result.student, assignment,
                 result.status, result.score, result.max_score, result.seconds,
                 f" ({result.reason})" if result.reason else "",
                 f" NEEDS REVIEW: {'; '.join(f.reason for f in result.flags)}"
                 if result.flags else "")
        results.append(result)
        bar.update(1)

    try:
        for result in refused:
            on_result(None, result)
        if backend is not None:
            backend.run(jobs, on_result)
        elif jobs:
            from autograder.grade import backends

            with backends.make(settings, state.logs / "workers", out) as made:
                made.run(jobs, on_result)
    finally:
        bar.close()
        shutil.rmtree(state.run / "site", ignore_errors=True)
    return results
