"""Warm sandboxed kernels: one spare kernel per grading process, started for the NEXT job.

When a job with ``warm_kernel`` starts, :func:`prepare_next` builds a private folder for the
*next* submission of this grading process (its own tmpfs, scratch, observation / challenge /
oracle folders and kernelspec, exactly as :func:`autograder.grade.worker.grade` makes them) and
starts that submission's sandboxed kernel there, which imports TensorFlow, Keras, NumPy and
pandas while the current submission is graded. The import binds no name (``__import__``), keeps
no history and prints nothing to the notebook, so the student's cells see what a fresh kernel
shows them, only faster.

When the next job arrives, :func:`claim` hands that folder to it (the submission's files are then
copied into its scratch) and :func:`handover` gives the already started kernel manager to the
executor (:meth:`autograder.grade.preprocessors.SurvivingExecute.create_kernel_manager`), which
shuts the kernel down after the notebook like any other. A spare is never reused: it belongs to
exactly one submission, and a spare that does not fit the job (other limits, folders, worker
sandbox off) or whose kernel died is discarded, and the job starts cold. A spare runs under
another uid than the kernel graded meanwhile (the worker slot alternates), so the two share no
process limit and no file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.grade import sandbox

WARM_UP = 'for _m in ("tensorflow", "keras", "numpy", "pandas"): __import__(_m)\ndel _m\n'
HIST_ARG = "--HistoryManager.hist_file=:memory:"  # what nbclient gives a kernel it starts


@dataclass
class Spare:
    base: Path  # the spare's own tmpfs folder (released when its job ends)
    root: Path  # the private folder grade() uses (course, scratch, exchange, kernelspec)
    fit: str  # what a job must match to use it
    slot: int  # the kernel's uid is sandbox_uid(slot): not the running job's uid
    km: Any = None  # jupyter_client AsyncKernelManager, kernel started
    kc: Any = None  # the client that sent the warm-up (closed at claim)


_SPARE: Spare | None = None  # started for the next job
_CLAIMED: Spare | None = None  # given to the running job
_HANDOVER: Any = None  # kernel manager for the executor of the running job


def _fit(job: Any) -> str:
    return json.dumps([job.sandbox, job.limits, job.site_dir, job.data_dir, job.tfds_dir,
                       str(Path(job.scratch_root).parent) if job.scratch_root else "",
                       os.getpid()], sort_keys=True)


def exchange_dirs(root: Path) -> tuple[Path, Path, Path]:
    """(challenge, observation, oracle) folders of a private folder (as worker.grade names
    them)."""
    return root / "challenge", root / "obs", root / "oracle"


def prepare_next(job: Any) -> None:
    """Start a spare kernel for the next job like ``job`` (no-op without the sandbox or when
    one is already waiting)."""
    global _SPARE
    if not (job.warm_kernel and job.sandbox and job.scratch_root) or _SPARE is not None:
        return
    config = sandbox.SandboxConfig(**job.limits)
    base = Path(tempfile.mkdtemp(prefix="w", dir=Path(job.scratch_root).parent))
    # the spare runs next to the current kernel: another uid (RLIMIT_NPROC is per uid, so
    # neither kernel can use up the other's processes); slots alternate s <-> s ^ 4
    spare = Spare(base, base, _fit(job), job.slot ^ 4)
    try:
        sandbox.mount_tmpfs(base, 2 * config.scratch_bytes + 512 * sandbox.MiB)
        root = spare.root = Path(tempfile.mkdtemp(prefix="tfg-", dir=base))
        uid = sandbox.sandbox_uid(spare.slot)
        scratch = root / "s"
        sandbox.prepare_scratch(scratch, uid, None, config)
        challenge, obs, oracle = exchange_dirs(root)
        challenge.mkdir(mode=0o755)
        obs.mkdir(mode=0o700)
        os.chown(obs, uid, uid)
        oracle.mkdir()
        sandbox.write_kernelspec(
            root / "jupyter", scratch, Path(job.site_dir), uid, config,
            Path(job.data_dir) if job.data_dir else None,
            Path(job.tfds_dir) if job.tfds_dir else None, (challenge, obs, oracle))
        spare.km, spare.kc = _start(root, scratch)
    except Exception:  # noqa: BLE001 (no spare: the next job starts cold)
        _discard(spare)
        return
    _SPARE = spare


def _start(root: Path, scratch: Path) -> tuple[Any, Any]:
    from jupyter_client import AsyncKernelManager, BlockingKernelClient
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_core.utils import run_sync

    km = AsyncKernelManager(
        kernel_name="python3", transport="ipc", ip=str(scratch / "rt" / "kernel"),
        connection_file=str(scratch / "rt" / "kernel-spare.json"),
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(root / "jupyter" / "kernels")],
                                              ensure_native_kernel=False))
    run_sync(km.start_kernel)(extra_arguments=[HIST_ARG], cwd=str(scratch))
    kc = BlockingKernelClient()
    kc.load_connection_info(km.get_connection_info())
    kc.start_channels()
    kc.execute(WARM_UP, silent=True, store_history=False)
    return km, kc


def claim(job: Any, wait: float = 120.0) -> Path | None:
    """The private folder of the spare started for ``job`` (its kernel has imported what it
    could), or None: grade ``job`` cold. The kernel manager is then what :func:`handover`
    returns, once."""
    global _SPARE, _CLAIMED, _HANDOVER
    spare, _SPARE = _SPARE, None
    if spare is None:
        return None
    try:
        if not job.warm_kernel or spare.fit != _fit(job):
            raise RuntimeError("the spare does not fit this job")
        spare.kc.get_shell_msg(timeout=wait)  # the warm-up's reply (imports done)
        from jupyter_core.utils import run_sync

        if not run_sync(spare.km.is_alive)():
            raise RuntimeError("the spare kernel died")
    except Exception:  # noqa: BLE001 (cold start instead)
        _discard(spare)
        return None
    spare.kc.stop_channels()
    spare.kc = None
    _CLAIMED, _HANDOVER = spare, spare.km
    job.slot = spare.slot  # worker.grade gives the folders to the spare kernel's uid
    return spare.root


def handover() -> Any:
    """The started kernel manager of the running job's spare (once), else None."""
    global _HANDOVER
    km, _HANDOVER = _HANDOVER, None
    return km


def release_claimed() -> None:
    """After the job: shut the kernel down if the executor did not, delete the folder."""
    global _CLAIMED, _HANDOVER
    spare, _CLAIMED, _HANDOVER = _CLAIMED, None, None
    if spare is not None:
        _discard(spare)


def discard() -> None:
    """Shut down the waiting spare (the grading process is stopping)."""
    global _SPARE
    spare, _SPARE = _SPARE, None
    if spare is not None:
        _discard(spare)
    release_claimed()


def _discard(spare: Spare) -> None:
    try:
        if spare.kc is not None:
            spare.kc.stop_channels()
        if spare.km is not None:
            from jupyter_core.utils import run_sync

            if run_sync(spare.km.is_alive)():
                run_sync(spare.km.shutdown_kernel)(now=True)
            run_sync(spare.km.cleanup_resources)()
    except Exception:  # noqa: BLE001, S110 (best effort: the folder goes anyway)
        pass
    finally:
        sandbox.release_scratch(spare.base)
