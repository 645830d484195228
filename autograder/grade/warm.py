"""Warm sandboxed kernels: one zygote per grading process (:mod:`autograder.grade.zygote`).

With ``warm_kernel`` on a job, :func:`zygote_for` starts (once per grading process, and again if
it died) a zygote that has imported TensorFlow, Keras, NumPy, pandas and ipykernel, checks it
by building one complete sandbox that exits before running anything, and returns its socket.
The job's kernelspec then asks the zygote for the kernel
(:func:`autograder.grade.sandbox.write_kernelspec`): a child forked into a new sandbox of its
own, built from the same :func:`~autograder.grade.sandbox.kernel_plan` as a cold kernel. Each
submission still gets its own fresh process, namespaces, scratch and uid; nothing is reused
between submissions except the zygote's memory as it was after the imports.

Without root, bubblewrap's tools or ``mount_setattr`` (Linux 5.12), or when the zygote does not
come up, the job is graded cold and the reason is logged once per grading process.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.grade import sandbox, zygote

START_TIMEOUT = 180.0  # seconds for the zygote's imports (about 5 s on an idle core)
log = logging.getLogger("autograder.warm")


@dataclass
class Zygote:
    folder: Path  # root-only: the socket, the zygote's HOME and log, the roots' mount point
    key: str  # the environment the imports saw (thread counts): a job must match it
    proc: subprocess.Popen

    @property
    def socket(self) -> Path:
        return self.folder / "zygote.sock"

    def alive(self) -> bool:
        return self.proc.poll() is None


_ZYGOTE: Zygote | None = None
_REFUSED: str = ""  # why warm kernels are off in this grading process (logged once)


def _key(config: sandbox.SandboxConfig) -> str:
    return json.dumps(sandbox.thread_env(config), sort_keys=True)


def zygote_for(job: Any) -> Path | None:
    """The socket of this grading process's zygote for ``job`` (started on first use), or None:
    grade ``job`` cold."""
    global _ZYGOTE, _REFUSED
    if not (job.warm_kernel and job.sandbox) or _REFUSED:
        return None
    config = sandbox.SandboxConfig(**job.limits)
    if _ZYGOTE is not None and (_ZYGOTE.key != _key(config) or not _ZYGOTE.alive()):
        discard()
    if _ZYGOTE is None:
        try:
            _ZYGOTE = start(config, Path(job.scratch_root).parent if job.scratch_root else None)
        except Exception as exc:  # noqa: BLE001 (cold kernels instead)
            _REFUSED = f"{type(exc).__name__}: {exc}"
            log.warning("warm kernels are off in this grading process: %s", _REFUSED)
            return None
    return _ZYGOTE.socket


def start(config: sandbox.SandboxConfig, parent: Path | None) -> Zygote:
    """Start a zygote, wait for its imports and check that it builds a sandbox."""
    sandbox.find_tools()
    folder = Path(tempfile.mkdtemp(prefix="tfg-zygote-", dir=parent))
    folder.chmod(0o700)
    for sub in ("root", "home"):
        (folder / sub).mkdir(mode=0o700)
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(folder / "home"),
        "LANG": "C.UTF-8", "TMPDIR": "/tmp", "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
        **sandbox.thread_env(config),
    }
    logfile = open(folder / "zygote.log", "ab")  # noqa: SIM115 (the zygote keeps it)
    try:
        proc = subprocess.Popen(
            [sys.executable, zygote.__file__, "serve", str(folder / "zygote.sock"),
             str(folder / "root")],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=logfile, env=env,
            cwd=folder, start_new_session=True)
    finally:
        logfile.close()
    made = Zygote(folder, _key(config), proc)
    try:
        _wait_ready(made)
        _probe(made, config)
    except Exception:
        stop(made)
        raise
    return made


def _wait_ready(made: Zygote) -> None:
    import select

    deadline = time.monotonic() + START_TIMEOUT
    assert made.proc.stdout is not None
    got = b""
    while zygote.READY not in got:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([made.proc.stdout], [], [], left)[0]:
            raise RuntimeError(f"the zygote did not finish its imports in {START_TIMEOUT:.0f} s")
        chunk = os.read(made.proc.stdout.fileno(), 256)
        if not chunk:
            raise RuntimeError("the zygote stopped during its imports: " + _tail(made))
        got += chunk
    made.proc.stdout.close()


def _tail(made: Zygote) -> str:
    try:
        text = (made.folder / "zygote.log").read_text(errors="replace").strip()
    except OSError:
        return ""
    return " | ".join(text.splitlines()[-3:])[-600:]


def _probe(made: Zygote, config: sandbox.SandboxConfig) -> None:
    """Build one whole sandbox (mounts, uid, capabilities, limits, seccomp) that exits before
    running anything; raise with the zygote's reason if that fails."""
    probe = made.folder / "probe"
    scratch = probe / "s"
    for sub in ("home", "work", "rt"):
        (scratch / sub).mkdir(parents=True)
    (probe / "connection.json").write_text("{}")
    plan = sandbox.kernel_plan(scratch, probe, sandbox.sandbox_uid(6), config)  # any site
    request = plan.to_dict() | {"probe": True}
    (probe / "request.json").write_text(json.dumps(request))
    out = probe / "out"
    try:
        code = zygote.client(str(made.socket), str(probe / "request.json"),
                             str(probe / "connection.json"), str(out), [])
        if code != 0:
            detail = out.read_text(errors="replace").strip() if out.is_file() else ""
            raise RuntimeError(f"the zygote could not build a sandbox (status {code}): "
                               f"{detail or _tail(made)}")
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def stop(made: Zygote) -> None:
    if made.alive():
        made.proc.kill()
    try:
        made.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    shutil.rmtree(made.folder, ignore_errors=True)


@atexit.register
def discard() -> None:
    """Stop this grading process's zygote (it is stopping, or the zygote no longer fits)."""
    global _ZYGOTE
    made, _ZYGOTE = _ZYGOTE, None
    if made is not None:
        stop(made)
