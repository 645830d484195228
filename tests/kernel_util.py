"""A sandboxed grading kernel started the way the autograder starts it (for probing tests).

``cold``: the kernelspec runs bwrap + setpriv + prlimit; ``warm``: it asks a zygote
(:mod:`autograder.grade.zygote`) to fork the kernel into the same sandbox.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.build import REPO_ROOT
from autograder.grade import sandbox

HIST_ARG = "--HistoryManager.hist_file=:memory:"  # what nbclient gives a kernel it starts


@dataclass
class Kernel:
    run: Callable[[str], str]  # code -> its stdout (and "ERROR name: value" lines)
    scratch: Path
    uid: int
    km: Any


@contextlib.contextmanager
def sandboxed_kernel(root: Path, limits: sandbox.SandboxConfig, slot: int = 7,
                     zygote_socket: Path | None = None) -> Iterator[Kernel]:
    from jupyter_client.manager import KernelManager

    root.mkdir(parents=True, exist_ok=True)
    scratch = root / "s"
    uid = sandbox.sandbox_uid(slot)
    sandbox.prepare_scratch(scratch, uid, config=limits)
    site = sandbox.build_site(root / "site")
    sandbox.write_kernelspec(root / "jupyter", scratch, site, uid, limits,
                             data_dir=REPO_ROOT / "data" / "files", zygote_socket=zygote_socket)
    old = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "JUPYTER_RUNTIME_DIR")}
    os.environ["JUPYTER_PATH"] = str(root / "jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(scratch / "rt")
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(scratch / "rt" / "k"))
    km.start_kernel(extra_arguments=[HIST_ARG])
    kc = km.client()
    kc.start_channels()

    def run(code: str) -> str:
        chunks: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                chunks.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                chunks.append(f"ERROR {msg['content']['ename']}: {msg['content']['evalue']}")

        kc.execute_interactive(code, output_hook=hook, timeout=120)
        return "".join(chunks)

    try:
        kc.wait_for_ready(timeout=120)
        yield Kernel(run, scratch, uid, km)
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        sandbox.release_scratch(scratch)
