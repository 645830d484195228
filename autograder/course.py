"""The course's runtime state: one owner for every folder name, the course id and the data.

Everything the instructor's commands write (nbgrader's ``submitted/``, ``autograded/``,
``feedback/``, the SQLite gradebook, the grade records, logs, exports, the student's local
lab folder) lives under one root, ``course_state/`` in the repository or
``$TFCOURSE_STATE_DIR``. A :class:`CourseState` is built once (``CourseState.default()``) and
passed whole to every stage: collect, the grading pipeline and its workers, the writer,
feedback, report. ``nbgrader_config.py`` and the worker's private course copy take nbgrader's
folder settings from :func:`configure_nbgrader`, so nbgrader and this package cannot disagree
on the layout.

The data folders come from the same env-aware functions the student package uses
(``TFCOURSE_DATA_DIR``, ``TFCOURSE_TFDS_DIR``): the grading sandbox binds exactly the folders
the notebook will read.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.build import RELEASE, REPO_ROOT

COURSE_ID = "tf_custom_training"
STATE_ENV = "TFCOURSE_STATE_DIR"

# nbgrader's folders, relative to the state root (the course root for a worker's private copy)
SUBMITTED, AUTOGRADED, FEEDBACK, GRADEBOOK = "submitted", "autograded", "feedback", "gradebook.db"
# nbgrader's course folders, relative to the course root
SOURCE_DIR, RELEASE_DIR = "source", "release"


def default_root(course_root: Path = REPO_ROOT) -> Path:
    """``$TFCOURSE_STATE_DIR``, else ``course_state/`` in the course (the repository, or the
    folder of an ``nbgrader_config.py`` copied elsewhere)."""
    return Path(os.environ.get(STATE_ENV) or Path(course_root) / "course_state")


def configure_nbgrader(course_directory: Any, course_root: Path, state_root: Path) -> None:
    """Point nbgrader's ``CourseDirectory`` config section at a course and its state.

    ``course_root`` holds ``source/`` and ``release/``; ``state_root`` the folders nbgrader
    writes (the same folder for a worker's private course copy).
    """
    course_root, state_root = Path(course_root), Path(state_root)
    rel = os.path.relpath(state_root, course_root)
    course_directory.course_id = COURSE_ID
    course_directory.root = str(course_root)
    course_directory.source_directory = SOURCE_DIR
    course_directory.release_directory = RELEASE_DIR
    course_directory.submitted_directory = os.path.normpath(os.path.join(rel, SUBMITTED))
    course_directory.autograded_directory = os.path.normpath(os.path.join(rel, AUTOGRADED))
    course_directory.feedback_directory = os.path.normpath(os.path.join(rel, FEEDBACK))
    course_directory.db_url = f"sqlite:///{state_root / GRADEBOOK}"


def private_course(root: Path, assignment: str, release_dir: Path) -> CourseState:
    """A one-assignment course for a grading worker, all under ``root``: a copy of the
    release, the empty source folder nbgrader expects, and nbgrader's state folders."""
    root = Path(root)
    shutil.copytree(release_dir, root / RELEASE_DIR / assignment)
    (root / SOURCE_DIR / assignment).mkdir(parents=True)
    return CourseState(root)


@dataclass(frozen=True)
class CourseState:
    """The folders of the runtime state under ``root``."""

    root: Path

    @classmethod
    def default(cls) -> CourseState:
        return cls(default_root())

    course_id = COURSE_ID

    @property
    def gradebook(self) -> Path:
        return self.root / GRADEBOOK

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.gradebook}"

    @property
    def release(self) -> Path:
        return self.root / RELEASE_DIR

    @property
    def submitted(self) -> Path:
        return self.root / SUBMITTED

    @property
    def autograded(self) -> Path:
        return self.root / AUTOGRADED

    @property
    def feedback(self) -> Path:
        return self.root / FEEDBACK

    @property
    def grades(self) -> Path:
        return self.root / "grades"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def examples(self) -> Path:
        """Example submissions made by ``demo``."""
        return self.root / "examples"

    @property
    def student_work(self) -> Path:
        """The student's working folder of ``python -m autograder.student.lab``."""
        return self.root / "student_work"

    @staticmethod
    def data_dir() -> Path:
        """The data files folder the notebooks read (``tfcourse.data.data_dir``)."""
        from tfcourse.data import data_dir

        return data_dir()

    @staticmethod
    def tfds_dir() -> Path:
        """The TFDS folder the notebooks read (``tfcourse.fashion_mnist.tfds_dir``)."""
        from tfcourse.fashion_mnist import tfds_dir

        return tfds_dir()

    def release_dir(self, assignment: str) -> Path:
        """The generated release of ``assignment`` (state copy first, else the repo's)."""
        own = self.release / assignment
        return own if own.is_dir() else RELEASE / assignment

    def submission_dir(self, assignment: str, student: str) -> Path:
        return self.submitted / student / assignment

    def autograded_notebook(self, assignment: str, student: str) -> Path:
        return self.autograded / student / assignment / f"{assignment}.ipynb"

    def feedback_page(self, assignment: str, student: str) -> Path:
        return self.feedback / student / assignment / f"{assignment}.html"

    def record_dir(self, assignment: str) -> Path:
        """The grade records (one JSON per student) of ``assignment``."""
        return self.grades / assignment

    def record_path(self, assignment: str, student: str) -> Path:
        return self.record_dir(assignment) / f"{student}.json"

    def students(self, assignment: str) -> list[str]:
        if not self.submitted.is_dir():
            return []
        return sorted(p.name for p in self.submitted.iterdir()
                      if (p / assignment).is_dir())
