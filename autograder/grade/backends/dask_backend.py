"""Grade on a Dask cluster: jobs carry their inputs as bytes, results come back to one writer.

The instructor's process (this module's :class:`DaskBackend`):

1. connects to ``--scheduler tcp://HOST:PORT`` (a clear :class:`BackendError` within
   :data:`CONNECT_TIMEOUT` seconds when nothing answers there), or starts a
   ``distributed.LocalCluster`` of ``--workers`` processes;
2. runs :func:`worker_report` on every worker (``client.run``) and prints, within seconds, each
   worker that refuses to grade and why (no bubblewrap, not root, other course code); it
   registers :class:`GraderPlugin`, which gives a worker the resource :data:`RESOURCE` only
   when that check passes (also for workers that join later), and every job needs it;
3. packs the inputs shared by all jobs once (release folder, gradebook snapshot, site folder,
   data files: tar.gz / bytes), scatters them to the workers, and submits one task per
   submission with that submission's files as a tar.gz (made without following symlinks,
   within the scratch quota, as the local backend's staging), keeping a bounded number of
   tasks in flight;
4. hands each result to ``on_result`` as it completes (the single writer), once per job even
   if Dask ran it twice.

On a worker, :func:`grade_packed` unpacks the shared inputs once per worker process (cached by
digest) and the submission into a private job folder (a size-limited tmpfs with the sandbox),
hands the job to a long-lived grading process (:mod:`autograder.grade.backends.child`, which
runs :func:`autograder.grade.backends.local.serve`), kills that process past the notebook time
limit, deletes the job folder and returns the result dict.

Faults: a worker killed mid-job -> the scheduler re-runs the task elsewhere; a task whose
workers keep dying is given up after the scheduler's ``allowed-failures`` (``KilledWorker``)
and recorded ``crashed``. With a LocalCluster this backend sets ``allowed-failures`` to
``max_attempts - 1``; a standalone scheduler takes it from its own configuration
(``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES``).
"""

from __future__ import annotations

import atexit
import hashlib
import io
import logging
import os
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from autograder import build
from autograder.grade import sandbox
from autograder.grade.backends import BackendError, OnResult
from autograder.grade.worker import static_flags
from autograder.records import GradeJob, GradeResult

try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # DaskBackend._connect says how to install it
    WorkerPlugin = object  # type: ignore[assignment,misc]

RESOURCE = "tfcourse-grader"  # a worker offers one per thread once its sandbox check passed
PLUGIN_NAME = "tfcourse-grader-check"
CONNECT_TIMEOUT = 5  # seconds to reach a scheduler
WORKER_WAIT = 120  # seconds to wait for the first worker of a standalone scheduler
GZIP_LEVEL = 1


# -- packing (instructor's side) ---------------------------------------------------------------
def code_fingerprint() -> str:
    """Hash of the grading code on disk (autograder, tfcourse, nbgrader_config.py): a worker
    whose installed course differs from the instructor's may grade differently, and the
    instructor is told so (a warning, not a refusal: a checkout being edited while it grades
    would otherwise refuse itself)."""
    digest = hashlib.sha256()
    root = build.REPO_ROOT
    files = sorted([*(root / "autograder").rglob("*.py"), *(root / "tfcourse").rglob("*.py"),
                    root / "nbgrader_config.py"])
    for path in files:
        if "__pycache__" in path.parts or not path.is_file():
            continue
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def pack_tree(folder: Path, skipped: list[str] | None = None,
              quota: int | None = None) -> bytes:
    """A tar.gz of the folders and regular files below ``folder``, never following a symlink.

    Symlinks and special files are left out (their relative paths appended to ``skipped``);
    ``ValueError`` when the regular files add up to more than ``quota`` bytes.
    """
    folder = Path(folder)
    buf = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=GZIP_LEVEL) as tar:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            for name in sorted(filenames + [d for d in dirnames
                                            if os.path.islink(os.path.join(dirpath, d))]):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, folder)
                mode = os.lstat(path).st_mode
                if not stat.S_ISREG(mode):
                    if skipped is not None:
                        skipped.append(rel)
                    continue
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as fh:
                    info = tar.gettarinfo(arcname=rel, fileobj=fh)
                    total += info.size
                    if quota is not None and total > quota:
                        raise ValueError(
                            f"the submission's files (over {total / sandbox.MiB:.0f} MiB) "
                            f"exceed the scratch quota ({quota / sandbox.MiB:.0f} MiB)")
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    tar.addfile(info, fh)
            for name in dirnames:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    info = tar.gettarinfo(path, arcname=os.path.relpath(path, folder))
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    tar.addfile(info)
    return buf.getvalue()


def pack_submission(job: GradeJob, quota: int) -> tuple[bytes, str]:
    """(tar.gz of the submission, note naming what was left out); the same refusals as the
    local backend's staging (:func:`autograder.grade.backends.local.stage_job`)."""
    source = Path(job.submission_dir)
    notebook = source / f"{job.assignment}.ipynb"
    if notebook.is_symlink() or (os.path.lexists(notebook) and not notebook.is_file()):
        raise ValueError(f"{notebook.name} is a symbolic link or a special file: not "
                         "followed, not graded")
    skipped: list[str] = []
    data = pack_tree(source, skipped, quota)
    note = (f"not given to the kernel (symbolic links or special files): {', '.join(skipped)}"
            if skipped else "")
    return data, note


def _blob(kind: str, data: bytes) -> tuple[str, str, bytes]:
    return kind, hashlib.sha256(data).hexdigest()[:20], data


def pack_shared(job: GradeJob) -> dict[str, tuple[str, str, bytes] | None]:
    """The inputs every job of a run shares: release folder, gradebook snapshot, site folder
    and data folders, each as (kind, digest, bytes)."""
    def folder(path: str) -> tuple[str, str, bytes] | None:
        return _blob("tar", pack_tree(Path(path))) if path and Path(path).is_dir() else None

    return {
        "release": folder(job.release_dir),
        "gradebook": _blob("file", Path(job.gradebook).read_bytes()),
        "site": folder(job.site_dir),
        "data": folder(job.data_dir),
        "tfds": folder(job.tfds_dir),
    }


# -- the worker's side -------------------------------------------------------------------------
def worker_report(require_sandbox: bool = True, fingerprint: str = "",
                  dask_worker: Any = None) -> dict:
    """Can this worker grade? ``{"ok", "reason", "warning", "host", "cpus", "nthreads"}``
    (``ok`` False: it refuses jobs, ``reason`` says why)."""
    reasons = []
    warning = ""
    if require_sandbox:
        try:
            sandbox.check_available()
        except sandbox.SandboxUnavailable as exc:
            reasons.append(f"no sandbox: {' '.join(str(exc).split())}")
        except Exception as exc:  # noqa: BLE001 (say what went wrong, never crash the worker)
            reasons.append(f"sandbox check failed: {type(exc).__name__}: {exc}")
    if fingerprint and code_fingerprint() != fingerprint:
        warning = (f"its course code (fingerprint {code_fingerprint()}) differs from the "
                   f"instructor's ({fingerprint}): grades may differ; install the same commit "
                   "on every worker")
    nthreads = getattr(getattr(dask_worker, "state", None), "nthreads", 1) or 1
    return {"ok": not reasons, "reason": "; ".join(reasons), "warning": warning,
            "host": socket.gethostname(),
            "cpus": os.cpu_count() or 1, "nthreads": nthreads}


class GraderPlugin(WorkerPlugin):
    """Worker plugin: offer :data:`RESOURCE` (one per thread) only if :func:`worker_report`
    says this worker can grade; runs on every worker, also those that join or restart later."""

    def __init__(self, require_sandbox: bool, fingerprint: str):
        self.require_sandbox = require_sandbox
        self.fingerprint = fingerprint

    async def setup(self, worker: Any) -> None:
        report = worker_report(self.require_sandbox, self.fingerprint, worker)
        if not report["ok"]:
            logging.getLogger("distributed.worker").error(
                "tfcourse: this worker refuses grading jobs: %s", report["reason"])
        await worker.set_resources(**{RESOURCE: report["nthreads"] if report["ok"] else 0})


class _Grader:
    """A long-lived grading process (:mod:`~autograder.grade.backends.child`) of one worker
    thread."""

    def __init__(self, log_dir: str):
        parent, child = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autograder.grade.backends.child", str(child.fileno()),
             log_dir],
            pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL)
        child.close()
        self.conn = Connection(parent.detach())
        _GRADERS.append(self)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.conn.close()
        if self in _GRADERS:
            _GRADERS.remove(self)


_LOCAL = threading.local()
_GRADERS: list[_Grader] = []  # this worker process's grading processes
_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}


def _run_root() -> Path:
    """This worker process's folder ``tfg-run-<pid>-*`` (cache of shared inputs + job
    folders); folders of dead worker processes are released first."""
    with _LOCK:
        if "root" not in _STATE:
            from autograder.grade.backends.local import RUN_PREFIX, release_stale_runs

            release_stale_runs()
            root = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-"))
            root.chmod(0o755)
            (root / "cache").mkdir()
            _STATE["root"] = root
            atexit.register(_release_root, root)  # a killed worker: the next one cleans up
        return _STATE["root"]


def _release_root(root: Path) -> None:
    for grader in list(_GRADERS):  # their spare kernels die with them (--die-with-parent)
        grader.kill()
    sandbox.release_scratch(root)


def _unpacked(blob: tuple[str, str, bytes] | None) -> str:
    """Where ``blob`` is unpacked in this worker process (once per digest)."""
    if blob is None:
        return ""
    kind, digest, data = blob
    target = _run_root() / "cache" / digest
    with _LOCK:
        if not target.exists():
            tmp = target.with_name(digest + ".tmp")
            sandbox.release_scratch(tmp)
            if kind == "tar":
                tmp.mkdir()
                _extract(data, tmp)
            else:
                tmp.write_bytes(data)
                tmp.chmod(0o600)
            tmp.rename(target)
    return str(target)


def _extract(data: bytes, target: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(target, filter="data")


def _log_dir() -> str:
    try:
        from distributed import get_worker

        base = Path(get_worker().local_directory)
    except (ImportError, ValueError):
        base = Path(tempfile.gettempdir())
    folder = base / "tfcourse-grader-logs"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


def _threads(threads_by_host: dict[str, int]) -> int:
    """TensorFlow threads for a kernel on this host (CPUs / grading slots of the host)."""
    try:
        from distributed import get_worker

        worker = get_worker()
        host = worker.address.rsplit(":", 1)[0].split("://")[-1]
        nthreads = worker.state.nthreads
    except (ImportError, ValueError):
        host, nthreads = "", 1
    return int(threads_by_host.get(host) or max(1, (os.cpu_count() or 1) // nthreads))


def grade_packed(packed: dict, shared: dict, notebook_timeout: float,
                 threads_by_host: dict[str, int] | None = None) -> dict:
    """Dask task: grade one packed job in this worker's grading process; return the result
    dict (status ``timeout`` / ``crashed`` when the grading process is killed or dies)."""
    from autograder.grade.backends.local import rotate_logs

    job = GradeJob.from_dict(packed["job"])
    if job.sandbox:
        report = _STATE.get("report")
        if report is None:
            report = _STATE["report"] = worker_report(True)
        if not report["ok"]:
            raise sandbox.SandboxUnavailable(f"this worker cannot grade: {report['reason']}")
    limits = dict(job.limits)
    if threads_by_host is not None and job.sandbox:
        limits["threads"] = _threads(threads_by_host)
    root = _run_root()
    paths = {name: _unpacked(shared.get(name)) for name in
             ("release", "gradebook", "site", "data", "tfds")}
    folder = Path(tempfile.mkdtemp(prefix="j", dir=root))
    start = time.monotonic()
    try:
        if job.sandbox:
            sandbox.mount_tmpfs(folder, 2 * int(limits.get("scratch_bytes", sandbox.GiB))
                                + 512 * sandbox.MiB)
        (folder / "submission").mkdir()
        _extract(packed["submission"], folder / "submission")
        staged = GradeJob.from_dict({
            **job.to_dict(), "submission_dir": str(folder / "submission"),
            "gradebook": paths["gradebook"], "release_dir": paths["release"],
            "site_dir": paths["site"], "data_dir": paths["data"], "tfds_dir": paths["tfds"],
            "scratch_root": str(folder), "limits": limits, "slot": 0})
        log_dir = _log_dir()
        rotate_logs(Path(log_dir), 16 * sandbox.MiB)
        grader = getattr(_LOCAL, "grader", None)
        if grader is None or not grader.alive():
            grader = _LOCAL.grader = _Grader(log_dir)
        try:
            grader.conn.send(staged.to_dict())
            ready = grader.conn.poll(notebook_timeout)
            data = grader.conn.recv() if ready else None
        except (EOFError, OSError):
            data = None
        if data is not None:
            result = GradeResult.from_dict(data)
        else:
            elapsed = time.monotonic() - start
            timed_out = grader.alive()
            grader.kill()
            _LOCAL.grader = None
            status = "timeout" if timed_out else "crashed"
            reason = (f"the notebook did not finish within {notebook_timeout:.0f} s"
                      if timed_out else
                      f"the grading worker died (exit code {grader.proc.returncode})")
            notebook = folder / "submission" / f"{job.assignment}.ipynb"
            result = GradeResult(job.assignment, job.student, job.key, status, reason=reason,
                                 seconds=round(elapsed, 3), sandboxed=job.sandbox,
                                 flags=static_flags(notebook) if notebook.is_file() else [])
    finally:
        sandbox.release_scratch(folder)
    if packed.get("note"):
        result.reason = "; ".join(x for x in (result.reason, packed["note"]) if x)
    return result.to_dict()


# -- the instructor's side ---------------------------------------------------------------------
class DaskBackend:
    """Run jobs on a Dask cluster (``settings.scheduler``, or a LocalCluster)."""

    def __init__(self, settings: Any, log_dir: Path | None,
                 out: Callable[[str], None] = print, client: Any = None):
        """``client``: an existing ``distributed.Client`` (e.g. from dask-gateway), used as
        it is and left open; otherwise ``settings.scheduler`` or a LocalCluster."""
        self.settings = settings
        self.log_dir = log_dir
        self.out = out
        self.given_client = client

    def _connect(self) -> tuple[Any, Any]:
        if self.given_client is not None:
            return self.given_client, None
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise BackendError(f"the dask backend needs dask and distributed ({exc}); "
                               "pip install -r requirements.txt") from exc
        s = self.settings
        if s.scheduler:
            address = s.scheduler if "://" in s.scheduler else f"tcp://{s.scheduler}"
            try:
                with dask.config.set({"distributed.comm.timeouts.connect":
                                      f"{CONNECT_TIMEOUT}s"}):
                    client = Client(address, timeout=CONNECT_TIMEOUT,
                                    set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise BackendError(
                    f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT} s "
                    f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}). Is `dask "
                    "scheduler` running there, and is the port open from this machine?"
                ) from None
            try:
                client.wait_for_workers(1, timeout=WORKER_WAIT)
            except (TimeoutError, OSError):
                client.close()
                raise BackendError(f"no Dask worker joined the scheduler at {address} "
                                   f"within {WORKER_WAIT} s: start some with `dask worker "
                                   f"{address} --nthreads 1`") from None
            return client, None
        with dask.config.set({"distributed.scheduler.allowed-failures":
                              max(0, s.max_attempts - 1)}):
            cluster = LocalCluster(n_workers=max(1, s.workers), threads_per_worker=1,
                                   processes=True, dashboard_address=None, memory_limit=0,
                                   silence_logs=logging.ERROR)
            client = Client(cluster, set_as_default=False)
        return client, cluster

    def _check_workers(self, client: Any, fingerprint: str) -> dict[str, dict]:
        """Report on every worker; raise when none can grade."""
        require = self.settings.sandbox
        client.register_plugin(GraderPlugin(require, fingerprint), name=PLUGIN_NAME)
        reports = client.run(worker_report, require, fingerprint, on_error="return")
        good = {}
        for address, report in sorted(reports.items()):
            if isinstance(report, BaseException):
                report = {"ok": False, "reason": f"{type(report).__name__}: {report}"}
            if report.get("warning"):
                self.out(f"dask: WARNING: worker {address}: {report['warning']}")
            if report["ok"]:
                good[address] = report
            else:
                self.out(f"dask: worker {address} refuses grading jobs: {report['reason']}")
        if not good:
            raise BackendError("no Dask worker can grade: " + "; ".join(
                f"{a}: {r['reason'] if isinstance(r, dict) else r}"
                for a, r in sorted(reports.items())))
        failures = client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.allowed_failures)
        self.out(f"dask: {len(good)} of {len(reports)} worker(s) can grade "
                 f"({sum(r['nthreads'] for r in good.values())} slot(s)); a job is given up "
                 f"after its worker died {failures + 1} time(s)")
        return good

    def __enter__(self) -> DaskBackend:
        """Connect (or start a LocalCluster) and check every worker."""
        self.client, self.cluster = self._connect()
        try:
            self.good = self._check_workers(self.client, code_fingerprint())
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        client, cluster = getattr(self, "client", None), getattr(self, "cluster", None)
        self.client = self.cluster = None
        if client is not None and client is not self.given_client:
            client.close()
        if cluster is not None:
            cluster.close()

    def run(self, jobs: list[GradeJob], on_result: OnResult) -> None:
        if not jobs:
            return
        if getattr(self, "client", None) is None:
            with self:
                return self.run(jobs, on_result)
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        s, client = self.settings, self.client
        good = {a: r for a, r in client.run(
            worker_report, s.sandbox, code_fingerprint(), on_error="return").items()
            if isinstance(r, dict) and r["ok"]} or self.good
        threads_by_host = None
        if s.sandbox and not s.limits.threads:
            slots: dict[str, int] = {}
            cpus: dict[str, int] = {}
            for address, report in good.items():
                host = address.rsplit(":", 1)[0].split("://")[-1]
                slots[host] = slots.get(host, 0) + report["nthreads"]
                cpus[host] = report["cpus"]
            threads_by_host = {h: max(1, cpus[h] // slots[h]) for h in slots}
        # one future for all shared inputs (a list of one: a dict's keys would become the
        # futures' names, shared by every run on this scheduler)
        [shared] = client.scatter([pack_shared(jobs[0])], broadcast=True, hash=False)
        try:
            self._loop(client, jobs, shared, threads_by_host, on_result, as_completed,
                       KilledWorker, sum(r["nthreads"] for r in good.values()))
        finally:
            shared.release()

    def _loop(self, client: Any, jobs: list[GradeJob], shared: Any,
              threads_by_host: dict[str, int] | None, on_result: OnResult,
              as_completed: Any, killed_worker: type, slots: int) -> None:
        s = self.settings
        pending = list(jobs)
        running: dict[Any, GradeJob] = {}
        done: set[tuple[str, str, str]] = set()
        window = max(slots * 2, slots + 2)
        completed = as_completed(loop=client.loop)

        def deliver(job: GradeJob, result: GradeResult) -> None:
            ident = (job.assignment, job.student, job.key)
            if ident in done:  # recorded already (idempotent by key)
                return
            done.add(ident)
            on_result(job, result)

        def fill() -> None:
            while pending and len(running) < window:
                job = pending.pop(0)
                try:
                    data, note = pack_submission(job, s.limits.scratch_bytes)
                except Exception as exc:  # noqa: BLE001 (the batch goes on)
                    deliver(job, GradeResult(job.assignment, job.student, job.key, "error",
                                             reason=f"{type(exc).__name__}: {exc}",
                                             sandboxed=job.sandbox))
                    continue
                packed = {"job": job.to_dict(), "submission": data, "note": note}
                future = client.submit(
                    grade_packed, packed, shared, s.notebook_timeout, threads_by_host,
                    key=f"grade-{job.assignment}-{job.student}-{uuid.uuid4().hex[:8]}",
                    resources={RESOURCE: 1}, pure=False, retries=0)
                running[future] = job
                completed.add(future)

        fill()
        while running:
            future = next(completed)
            job = running.pop(future)
            try:
                result = GradeResult.from_dict(future.result())
            except killed_worker as exc:
                result = GradeResult(
                    job.assignment, job.student, job.key, "crashed",
                    reason=f"the Dask workers running it died {exc.allowed_failures + 1} "
                           "time(s) (KilledWorker)", sandboxed=job.sandbox,
                    flags=static_flags(Path(job.submission_dir) / f"{job.assignment}.ipynb"))
            except Exception as exc:  # noqa: BLE001 (one job's failure is its own)
                result = GradeResult(job.assignment, job.student, job.key, "error",
                                     reason=f"the Dask task failed: {type(exc).__name__}: "
                                            f"{' '.join(str(exc).split())[:300]}",
                                     sandboxed=job.sandbox)
            future.release()
            deliver(job, result)
            fill()
