"""Typed records passed between the stages, and the one place that computes totals.

* :class:`GradeJob`: what a worker needs to grade one submission (JSON-able: it crosses
  process and machine boundaries).
* :class:`GradeResult`: what came out, with one :class:`GradeRow` per grade cell of the
  gradebook and the :class:`Flag` list (a submission that needs manual review, and why).
  The writer stores it as ``grades/<assignment>/<student>.json`` (the *grade record*);
  feedback and report read it back with :func:`load_records`. Totals (``score``,
  ``max_score``) are properties of the result: nobody else sums rows.
* :func:`terminal_safe`: a student's text (ids, messages, file names) made safe for the
  instructor's terminal and logs.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from autograder.course import COURSE_ID


def _known(cls: type, data: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class Flag:
    """Why a submission needs manual review (never changes a score)."""

    rule: str
    reason: str
    cell: str = ""  # grade id or cell id where it was seen
    line: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Flag:
        return cls(**_known(cls, data))

    def __str__(self) -> str:
        return f"{self.rule} ({self.cell}): {self.reason}" if self.cell \
            else f"{self.rule}: {self.reason}"


@dataclass
class GradeRow:
    """The judge's verdict on one grade cell."""

    grade_id: str
    notebook: str
    score: float
    max_score: float
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score

    @classmethod
    def from_dict(cls, data: dict) -> GradeRow:
        return cls(data["grade_id"], data.get("notebook", ""), float(data["score"]),
                   float(data["max_score"]), data.get("message") or "")


@dataclass
class GradeJob:
    """Everything a worker needs; paths must be readable by the worker."""

    assignment: str
    student: str
    submission_dir: str  # .../submitted/<student>/<assignment>
    gradebook: str  # snapshot of the gradebook (read-only for workers)
    release_dir: str  # release/<assignment>
    key: str  # hash of submission + release + source: unchanged key -> skip
    sandbox: bool = True
    limits: dict = field(default_factory=dict)  # SandboxConfig fields
    cell_timeout: int = 120
    site_dir: str = ""  # read-only import folder for the kernel (sandbox.build_site)
    data_dir: str = ""
    tfds_dir: str = ""
    scratch_root: str = ""  # where the private course is built ("" -> system temp)
    slot: int = 0  # worker slot (gives the kernel its own uid)
    course_id: str = COURSE_ID
    # the kernel is forked by this grading process's zygote (autograder.grade.warm)
    warm_kernel: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GradeJob:
        return cls(**data)


@dataclass
class GradeResult:
    """Outcome of one job. ``status``: graded | error | timeout | crashed."""

    assignment: str
    student: str
    key: str
    status: str
    reason: str = ""
    grades: list[GradeRow] = field(default_factory=list)  # one per grade cell
    autograded: str | None = None  # the autograded notebook (JSON text)
    log: str = ""
    seconds: float = 0.0
    sandboxed: bool = True
    flags: list[Flag] = field(default_factory=list)
    # the judge's seed for this run: the challenges can be drawn again for an appeal
    seed: int | None = None
    attempts: int | None = None  # of a submission that timed out or crashed

    @classmethod
    def error(cls, assignment: str, student: str, key: str, reason: str,
              sandboxed: bool = True) -> GradeResult:
        """A submission that could not be graded (scores 0 with ``reason``)."""
        return cls(assignment, student, key, "error", reason=reason, sandboxed=sandboxed)

    @property
    def needs_review(self) -> bool:
        return bool(self.flags)

    @property
    def score(self) -> float:
        return sum(g.score for g in self.grades)

    @property
    def max_score(self) -> float:
        return sum(g.max_score for g in self.grades)

    def scores(self) -> dict[str, float]:
        return {g.grade_id: g.score for g in self.grades}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GradeResult:
        known = _known(cls, data)
        known["grades"] = [g if isinstance(g, GradeRow) else GradeRow.from_dict(g)
                           for g in known.get("grades") or []]
        known["flags"] = [f if isinstance(f, Flag) else Flag.from_dict(f)
                          for f in known.get("flags") or []]
        return cls(**known)


def load_records(folder: Path) -> dict[str, GradeResult]:
    """The grade records in ``folder`` (``CourseState.record_dir``), by student."""
    folder = Path(folder)
    return {p.stem: GradeResult.from_dict({"assignment": folder.name, "student": p.stem,
                                           "key": "", **json.loads(p.read_text())})
            for p in sorted(folder.glob("*.json"))}


# ANSI/VT escape sequences (CSI, OSC, other ESC sequences), then any other control character
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
                      r"|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROLS_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def terminal_safe(text: Any, keep_newlines: bool = False) -> str:
    """``text`` without escape sequences or control characters (a student's exception message
    or file name cannot move the cursor, recolour or retitle the instructor's terminal).
    Tabs and, with ``keep_newlines``, newlines are kept; otherwise they become spaces."""
    text = _ESCAPES.sub("", str(text))
    if keep_newlines:
        return _CONTROLS.sub("", text.replace("\r\n", "\n"))
    return _CONTROLS_LINE.sub(" ", text.replace("\r", ""))
