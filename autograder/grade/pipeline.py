"""Autograde every collected submission: plan jobs, run N sandboxed workers, record results.

* the runtime state is a :class:`autograder.course.CourseState`; nothing of the pipeline
  writes anywhere else.
* :func:`plan` makes one :class:`~autograder.records.GradeJob` per submission whose key (hash of
  the submitted files, the release and the source notebook) differs from its grade record.
* :func:`run_jobs` keeps ``workers`` worker processes busy (:func:`autograder.grade.worker.serve`),
  kills one that exceeds the per-notebook wall-clock limit (its sandboxed kernel dies with it,
  ``bwrap --die-with-parent``), replaces crashed workers, and hands each result to the single
  :class:`~autograder.grade.writer.Writer` as soon as it arrives. ``Settings.backend = "dask"``
  runs the same jobs on a Dask cluster instead (:mod:`autograder.grade.backends`); recording is the
  same.

Hardening (docs/grading.md, "Limits"): the main process gives each job a private folder of
its own (``tfg-run-<pid>/job-*`` in the system temp folder) holding a copy of the submission
made without following symlinks, and deletes it (unmounting the worker's scratch tmpfs) as
soon as the job ends, also when its worker was killed; a student id that is too long or has
other characters, a symlinked submission, or an exception while planning or recording one
submission gives that submission status ``error`` with the reason, and the batch goes on; a
submission that timed out is retried at most ``max_attempts`` times for the same files;
worker logs are rotated at ``worker_log_bytes``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import shutil
import stat
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import TYPE_CHECKING

from autograder import build
from autograder.course import COURSE_ID, CourseState
from autograder.grade import sandbox
from autograder.grade.collect import MAX_STUDENT_ID, student_id_problem
from autograder.grade.sandbox import MiB, SandboxConfig
from autograder.grade.worker import static_flags
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
    warm_kernels: bool = False  # start each worker's next sandboxed kernel in advance


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


def _error_result(assignment: str, student: str, key: str, reason: str,
                  sandboxed: bool = True) -> GradeResult:
    return GradeResult(assignment, student, key, "error", reason=reason, sandboxed=sandboxed)


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
            refused.append(_error_result(assignment, student, "",
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


class _Slot:
    """One worker process and the job it is running (``job``: as planned; the worker gets a
    copy pointing at the job's private folder)."""

    def __init__(self, ctx: mp.context.BaseContext, index: int, log_dir: Path | None):
        from autograder.grade.worker import serve

        self.index = index
        self.log_dir = log_dir
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(child, str(log_dir or "")), daemon=True,
                                   name=f"grader-{index}")
        self.process.start()
        child.close()
        self.job: GradeJob | None = None
        self.folder: Path | None = None
        self.note = ""
        self.started = 0.0

    def submit(self, job: GradeJob, staged: GradeJob, folder: Path, note: str) -> None:
        staged.slot = self.index
        self.job, self.folder, self.note = job, folder, note
        self.started = time.monotonic()
        self.conn.send(staged.to_dict())

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


RUN_PREFIX = "tfg-run-"


def release_stale_runs(scratch_root: str = "") -> list[Path]:
    """Delete job folders (and unmount scratches) left by grading runs whose process is gone."""
    base = Path(scratch_root or tempfile.gettempdir())
    released = []
    for folder in base.glob(f"{RUN_PREFIX}*"):
        try:
            pid = int(folder.name[len(RUN_PREFIX):].split("-")[0])
            os.kill(pid, 0)
            continue  # still running (or the pid was reused: leave it)
        except (ValueError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        sandbox.release_scratch(folder)
        released.append(folder)
    return released


def stage_job(job: GradeJob, run_root: Path, quota: int) -> tuple[GradeJob, Path, str]:
    """A copy of ``job`` whose submission is a private copy made without following symlinks.

    With the sandbox, the folder is a tmpfs (``2 * quota + 512 MiB``), so nothing the kernel
    writes can fill the host's disk. Returns (job for the worker, the job's folder, a note
    naming what was left out). Raises
    ``ValueError`` when the notebook itself is a symlink or a special file, or when the
    submission's files exceed the scratch quota.
    """
    folder = Path(tempfile.mkdtemp(prefix="j", dir=run_root))
    try:
        if job.sandbox:
            # everything of this job (private course, observations, the kernel's scratch,
            # itself a tmpfs of ``quota`` inside) lives on a bounded filesystem
            sandbox.mount_tmpfs(folder, 2 * quota + 512 * MiB)
        source = Path(job.submission_dir)
        notebook = source / f"{job.assignment}.ipynb"
        if notebook.is_symlink() or (os.path.lexists(notebook) and not notebook.is_file()):
            raise ValueError(f"{notebook.name} is a symbolic link or a special file: not "
                             "followed, not graded")
        total = 0
        for dirpath, _, filenames in os.walk(source):
            for name in filenames:
                info = os.lstat(os.path.join(dirpath, name))
                total += info.st_size if stat.S_ISREG(info.st_mode) else 0
        if total > quota:
            raise ValueError(f"the submission's files ({total / MiB:.0f} MiB) exceed the "
                             f"scratch quota ({quota / MiB:.0f} MiB)")
        skipped: list[str] = []
        sandbox.copy_tree_nofollow(source, folder / "submission", skipped)
    except BaseException:
        sandbox.release_scratch(folder)
        raise
    note = (f"not given to the kernel (symbolic links or special files): {', '.join(skipped)}"
            if skipped else "")
    staged = GradeJob.from_dict({**job.to_dict(), "submission_dir": str(folder / "submission"),
                                 "scratch_root": str(folder)})
    return staged, folder, note


def rotate_logs(log_dir: Path | None, max_bytes: int) -> None:
    """Keep each ``*.out`` log of ``log_dir`` under ``max_bytes``: past it, its last half goes to
    ``<name>.1`` (replacing the previous one) and the log is truncated (writers append)."""
    if log_dir is None or not Path(log_dir).is_dir():
        return
    for path in Path(log_dir).glob("*.out"):
        try:
            size = path.lstat().st_size
            if size <= max_bytes or path.is_symlink():
                continue
            with open(path, "rb") as fh:
                fh.seek(max(0, size - max_bytes // 2))
                tail = fh.read(max_bytes // 2)
            from autograder.grade.writer import atomic_write_bytes

            atomic_write_bytes(path.with_name(path.name + ".1"), tail)
            os.truncate(path, 0)
        except OSError:
            continue


def run_jobs(
    jobs: list[GradeJob], workers: int, notebook_timeout: float,
    on_result: Callable[[GradeJob, GradeResult], None], log_dir: Path | None = None,
    scratch_root: str = "", log_bytes: int = 16 * MiB, quota: int | None = None,
) -> None:
    """Run ``jobs`` on ``workers`` processes; call ``on_result`` in this process for each.

    A worker that dies or exceeds ``notebook_timeout`` seconds is replaced; its submission
    gets a ``crashed`` or ``timeout`` result (graded 0 with that reason). ``on_result`` runs
    in the main process only, so recording needs no locking. Each job runs in a private folder
    of ``tfg-run-<pid>-*`` (under ``scratch_root``), deleted as soon as the job ends.
    """
    ctx = mp.get_context("spawn")
    pending = list(jobs)
    quota = quota if quota is not None else SandboxConfig().scratch_bytes
    run_root = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-",
                                     dir=scratch_root or None))
    # the kernel's ZMQ sockets live at <job>/tfg-XXXXXXXX/s/rt/kernel-N: Unix socket paths
    # are limited to 107 bytes
    if len(str(run_root)) + len("/jXXXXXXXX/tfg-XXXXXXXX/s/rt/kernel-99") > 107:
        sandbox.release_scratch(run_root)
        raise ValueError(f"the scratch folder {scratch_root} is too long a path for the "
                         "kernel's sockets (Unix socket paths: 107 bytes); choose a shorter one")
    slots = [_Slot(ctx, i, log_dir) for i in range(max(1, min(workers, len(jobs))))]
    last_rotation = 0.0

    def finish(job: GradeJob, result: GradeResult, folder: Path | None, note: str) -> None:
        try:
            if note:
                result.reason = "; ".join(x for x in (result.reason, note) if x)
            on_result(job, result)
        finally:
            if folder is not None:
                sandbox.release_scratch(folder)

    try:
        while pending or any(s.job for s in slots):
            for slot in slots:
                while slot.job is None and pending:
                    job = pending.pop(0)
                    try:
                        staged, folder, note = stage_job(job, run_root, quota)
                    except Exception as exc:  # noqa: BLE001 (the batch goes on)
                        finish(job, _error_result(job.assignment, job.student, job.key,
                                                  f"{type(exc).__name__}: {exc}",
                                                  job.sandbox), None, "")
                        continue
                    slot.submit(job, staged, folder, note)
            if time.monotonic() - last_rotation > 2:
                rotate_logs(log_dir, log_bytes)
                last_rotation = time.monotonic()
            busy = [s for s in slots if s.job is not None]
            if not busy:
                continue
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
                        finish(job, GradeResult.from_dict(data), slot.folder, slot.note)
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
                flags = static_flags(notebook) if not notebook.is_symlink() else []
                finish(job, GradeResult(job.assignment, job.student, job.key, status,
                                        reason=reason, seconds=round(elapsed, 3),
                                        sandboxed=job.sandbox, flags=flags),
                       slot.folder, slot.note)
    finally:
        for slot in slots:
            slot.stop(kill=slot.job is not None)
            if slot.job is not None and slot.folder is not None:
                sandbox.release_scratch(slot.folder)
        rotate_logs(log_dir, log_bytes)
        sandbox.release_scratch(run_root)


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
    release_stale_runs(settings.scratch_root)
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
            result = _error_result(assignment, result.student, result.key, reason,
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
