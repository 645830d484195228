"""``python -m autograder.grade.backends.child FD [LOG_DIR]``: a grading process for a Dask worker.

Runs :func:`autograder.grade.backends.local.serve` on the socket inherited as ``FD`` (a
``multiprocessing.connection.Connection``). It dies with its parent (``PR_SET_PDEATHSIG``), so a
killed Dask worker takes its grading process and, through ``bwrap --die-with-parent``, the
sandboxed kernel with it. A subprocess rather than a ``multiprocessing`` child: Dask workers
are daemonic processes, which may not have multiprocessing children.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from multiprocessing.connection import Connection

PR_SET_PDEATHSIG = 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        return 1
    from autograder.grade.backends.local import serve

    serve(Connection(int(argv[0])), argv[1] if len(argv) > 1 else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
