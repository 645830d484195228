"""The local backend: a pool of grading processes on this machine.

* :func:`serve` is the loop of one grading process: receive a job, :func:`autograder.grade.
  worker.grade` it, send the result back (also run by the Dask backend's child process).
* :func:`run_jobs` keeps ``workers`` such processes busy, kills one that exceeds the
  per-notebook wall-clock limit (its sandboxed kernel dies with it, ``bwrap
  --die-with-parent``), replaces crashed ones, and hands each result to ``on_result`` in the
  calling process as soon as it arrives.

Hardening (docs/grading.md, "Limits"): each job gets a private folder of its own
(``tfg-run-<pid>/job-*`` in the system temp folder, :func:`stage_job`) holding a copy of the
submission made without following symlinks, deleted (unmounting the worker's scratch tmpfs) as
soon as the job ends, also when its worker was killed; folders of a killed run are released by
the next (:func:`release_stale_runs`); worker logs are rotated at ``log_bytes``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import stat
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autograder.grade import sandbox
from autograder.grade.sandbox import MiB, SandboxConfig
from autograder.grade.worker import grade, static_flags
from autograder.records import GradeJob, GradeResult

if TYPE_CHECKING:
    from autograder.grade.backends import OnResult
    from autograder.grade.pipeline import Settings


def serve(conn: Any, log_dir: str | None = None) -> None:
    """Worker process loop: receive job dicts on ``conn``, send result dicts back.

    The worker's stdout/stderr (nbgrader's warnings, the kernel's own console output) go to
    ``log_dir/worker-<pid>.out`` instead of the instructor's terminal.
    """
    import warnings

    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        out = open(Path(log_dir) / f"worker-{os.getpid()}.out", "a")
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    warnings.filterwarnings("ignore", module="nbgrader")
    import nbgrader.apps  # noqa: F401 (import once per worker, not per submission)

    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            from autograder.grade import warm

            warm.discard()
            return
        conn.send(grade(job))



class _Slot:
    """One worker process and the job it is running (``job``: as planned; the worker gets a
    copy pointing at the job's private folder)."""

    def __init__(self, ctx: mp.context.BaseContext, index: int, log_dir: Path | None):
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
                        finish(job, GradeResult.error(job.assignment, job.student, job.key,
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



class LocalBackend:
    """The local process pool (:func:`run_jobs`)."""

    def __init__(self, settings: Settings, log_dir: Path | None):
        self.settings = settings
        self.log_dir = log_dir

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def run(self, jobs: list[GradeJob], on_result: OnResult) -> None:
        s = self.settings
        release_stale_runs(s.scratch_root)  # job folders of a run that was killed
        run_jobs(jobs, s.workers, s.notebook_timeout, on_result, self.log_dir,
                 scratch_root=s.scratch_root, log_bytes=s.worker_log_bytes,
                 quota=s.limits.scratch_bytes)


