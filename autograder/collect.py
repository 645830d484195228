"""Collect student notebooks from a folder or a zip into nbgrader's ``submitted/`` layout.

Accepted names (``A`` = the assignment)::

    alice.ipynb                 alice/A.ipynb            alice_A.ipynb / alice-A.ipynb
    alice/anything.ipynb        (the only notebook in the student's folder)

Each becomes ``submitted/<student>/A/A.ipynb`` plus ``timestamp.txt`` (the file's modification
time, UTC). Files are copied byte for byte: a corrupt notebook is still collected, and later
graded 0 with the reason. Files that cannot be matched to a student are listed in the error.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_IGNORED = {".ipynb_checkpoints", "__MACOSX", ".DS_Store"}


class CollectError(ValueError):
    """The input cannot be collected; the message lists what was wrong."""


@dataclass
class Collected:
    """What :func:`collect` did."""

    students: dict[str, Path] = field(default_factory=dict)  # student -> submitted notebook
    unmatched: list[str] = field(default_factory=list)


def _student_for(path: Path, root: Path, assignment: str) -> str | None:
    rel = path.relative_to(root)
    parts = [p for p in rel.parts]
    stem = path.stem
    if len(parts) == 1:
        for sep in ("_", "-", "."):
            suffix = f"{sep}{assignment}"
            if stem.endswith(suffix) and len(stem) > len(suffix):
                stem = stem[: -len(suffix)]
                break
        if stem == assignment:
            return None
        return stem if _STUDENT_ID.match(stem) else None
    # <student>/<...>/<notebook>.ipynb: the top folder names the student
    student = parts[0]
    if student == assignment and len(parts) >= 3:
        student = parts[1]
    return student if _STUDENT_ID.match(student) else None


def _notebooks(root: Path) -> list[Path]:
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and not (set(p.relative_to(root).parts) & _IGNORED)
        and not p.name.startswith("._")
    )


def collect(
    source: Path, assignment: str, submitted: Path, strict: bool = True
) -> Collected:
    """Copy the notebooks in folder or zip ``source`` into ``submitted/<student>/<assignment>``.

    With ``strict`` (default) nothing is copied if a file cannot be matched; the error lists
    every such file and the accepted names.
    """
    source = Path(source)
    if not source.exists():
        raise CollectError(f"{source} does not exist (expected a folder or a .zip of notebooks)")
    with tempfile.TemporaryDirectory(prefix="tfcourse-collect-") as tmp:
        if source.is_file():
            if not zipfile.is_zipfile(source):
                raise CollectError(f"{source} is neither a folder nor a zip file")
            root = Path(tmp)
            with zipfile.ZipFile(source) as zf:
                for member in zf.namelist():
                    target = (root / member).resolve()
                    if not str(target).startswith(str(root.resolve())):
                        raise CollectError(f"{source}: unsafe path in zip: {member}")
                zf.extractall(root)
        else:
            root = source
        return _collect_tree(root, assignment, Path(submitted), strict, source)


def _collect_tree(
    root: Path, assignment: str, submitted: Path, strict: bool, origin: Path
) -> Collected:
    found: dict[str, list[Path]] = {}
    result = Collected()
    files = _notebooks(root)
    for path in files:
        if path.suffix != ".ipynb":
            if len(path.relative_to(root).parts) == 1:
                result.unmatched.append(f"{path.relative_to(root)} (not a notebook)")
            continue
        student = _student_for(path, root, assignment)
        if student is None:
            result.unmatched.append(str(path.relative_to(root)))
            continue
        found.setdefault(student, []).append(path)
    for student, paths in found.items():
        if len(paths) > 1:
            named = [p for p in paths if p.name == f"{assignment}.ipynb"]
            if len(named) == 1:
                found[student] = named
            else:
                result.unmatched += [f"{p.relative_to(root)} (several notebooks for {student})"
                                     for p in paths]
                found[student] = []
    if not any(found.values()) and not result.unmatched:
        raise CollectError(f"no notebook found in {origin}")
    if result.unmatched and strict:
        raise CollectError(
            f"could not match these files of {origin} to a student:\n  "
            + "\n  ".join(result.unmatched)
            + f"\naccepted names: <student>.ipynb, <student>_{assignment}.ipynb, "
            f"<student>/{assignment}.ipynb (student ids: letters, digits, . _ -)"
        )
    for student, paths in sorted(found.items()):
        if not paths:
            continue
        dest = submitted / student / assignment
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        shutil.copyfile(paths[0], dest / f"{assignment}.ipynb")
        mtime = dt.datetime.fromtimestamp(paths[0].stat().st_mtime, tz=dt.UTC)
        (dest / "timestamp.txt").write_text(mtime.strftime("%Y-%m-%d %H:%M:%S.%f %Z") + "\n")
        result.students[student] = dest / f"{assignment}.ipynb"
    return result
