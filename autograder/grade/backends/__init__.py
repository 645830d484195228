"""Where grading jobs run: one small interface, two backends.

A backend takes the planned :class:`~autograder.grade.worker.GradeJob` list and calls
``on_result(job, result)`` **in the calling process**, once per job, as results arrive; the
caller (:func:`autograder.grade.pipeline.autograde`) records each result with its single writer.

* ``local`` (default): :class:`~autograder.grade.backends.local.LocalBackend`, a pool of
  grading processes on this machine.
* ``dask``: :class:`~autograder.grade.backends.dask_backend.DaskBackend`, a Dask cluster (an
  existing scheduler, or a ``distributed.LocalCluster`` started for the run); jobs carry their
  inputs as bytes, so the workers need no shared filesystem.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from autograder.grade.pipeline import Settings
    from autograder.records import GradeJob, GradeResult

OnResult = Callable[["GradeJob", "GradeResult"], None]
BACKENDS = ("local", "dask")


class BackendError(RuntimeError):
    """The backend cannot grade (no scheduler, no usable worker); the message says why."""


class Backend(Protocol):
    """``with make(settings, log_dir) as backend: backend.run(jobs, on_result)``; entering
    connects (and fails fast when the backend cannot grade), leaving releases everything."""

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc: object) -> None: ...

    def run(self, jobs: list[GradeJob], on_result: OnResult) -> None:
        """Grade ``jobs``; call ``on_result`` in this process once per job."""


def make(settings: Settings, log_dir: Path | None,
         out: Callable[[str], None] = print) -> Backend:
    """The backend named by ``settings.backend``."""
    if settings.backend == "local":
        from autograder.grade.backends.local import LocalBackend

        return LocalBackend(settings, log_dir)
    if settings.backend == "dask":
        from autograder.grade.backends.dask_backend import DaskBackend

        return DaskBackend(settings, log_dir, out)
    raise BackendError(f"unknown backend {settings.backend!r}; known: {', '.join(BACKENDS)}")
