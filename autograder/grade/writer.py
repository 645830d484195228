"""The single writer: records worker results into the course's gradebook and state folders.

Only the main process writes course state. For each result, in this order:

1. the autograded notebook -> ``autograded/<student>/<assignment>/<assignment>.ipynb``
   (temporary file + ``os.replace``: never half-written);
2. the grades -> the nbgrader gradebook (one SQL transaction: ``auto_score`` of every grade
   cell, a comment with the failure reason for a submission that could not be graded, and
   ``needs_manual_grade`` on every grade cell of a submission with integrity flags, so that
   formgrader lists it as needing manual grading);
3. the grade record -> ``grades/<assignment>/<student>.json`` (atomic), which carries the
   submission key. It is written last: it is what ``autograde`` checks to skip unchanged
   submissions, so a run interrupted anywhere before it simply regrades that submission, and
   the gradebook update is idempotent (no duplicate rows).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

from autograder.course import CourseState
from autograder.records import GradeResult, GradeRow


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder (``os.replace``
    swaps names, so a symlink at ``path`` is replaced, never followed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a short temporary name: ``path``'s own name may already be near the 255-byte limit
    fd, tmp = tempfile.mkstemp(prefix=".w", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Writer:
    """Record results into the gradebook at ``db_url`` and the state folders."""

    def __init__(self, state: CourseState, log: logging.Logger):
        self.state = state
        self.db_url = state.db_url
        self.course_id = state.course_id
        self.log = log

    def record(self, result: GradeResult, timestamp: str | None = None) -> None:
        """Store one result (graded or not: a failed submission gets 0 with its reason)."""
        if result.status == "graded" and result.autograded:
            atomic_write(self.state.autograded_notebook(result.assignment, result.student),
                         result.autograded)
        if result.status != "graded":
            result.grades = self._zero_grades(result)
        self._gradebook(result, timestamp)
        data = result.to_dict()
        for transient in ("autograded", "log"):
            data.pop(transient, None)
        if data.get("attempts") is None:
            data.pop("attempts", None)
        atomic_write(self.state.record_path(result.assignment, result.student),
                     json.dumps(data, indent=1, sort_keys=True))

    def _zero_grades(self, result: GradeResult) -> list[GradeRow]:
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url, self.course_id) as gb:
            assignment = gb.find_assignment(result.assignment)
            return [GradeRow(cell.name, notebook.name, 0.0, float(cell.max_score), result.reason)
                    for notebook in assignment.notebooks for cell in notebook.grade_cells]

    def _gradebook(self, result: GradeResult, timestamp: str | None) -> None:
        from nbgrader.api import Gradebook, MissingEntry

        with warnings.catch_warnings(), Gradebook(self.db_url, self.course_id) as gb:
            warnings.simplefilter("ignore")  # nbgrader's SQLAlchemy autoflush notices
            gb.update_or_create_student(result.student)
            kwargs = {"timestamp": timestamp} if timestamp else {}
            gb.update_or_create_submission(result.assignment, result.student, **kwargs)
            for row in result.grades:
                try:
                    grade = gb.find_grade(row.grade_id, row.notebook, result.assignment,
                                          result.student)
                except MissingEntry:
                    self.log.warning("%s/%s: no grade cell %s in the gradebook", result.student,
                                     result.assignment, row.grade_id)
                    continue
                grade.auto_score = row.score
                # formgrader shows "needs manual grade" for the submission; an instructor's
                # manual score or a regrade without flags clears it
                grade.needs_manual_grade = result.needs_review
            for notebook in gb.find_assignment(result.assignment).notebooks:
                sub_nb = gb.find_submission_notebook(notebook.name, result.assignment,
                                                     result.student)
                for comment in sub_nb.comments:
                    comment.auto_comment = (
                        None if result.status == "graded"
                        else f"Not graded ({result.status}): {result.reason}"
                    )
            gb.db.commit()
