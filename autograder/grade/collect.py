"""Collect student notebooks from a folder or a zip into nbgrader's ``submitted/`` layout.

Accepted names (``A`` = the assignment)::

    alice.ipynb                 alice/A.ipynb            alice_A.ipynb / alice-A.ipynb
    alice/anything.ipynb        (the only notebook in the student's folder)

Each becomes ``submitted/<student>/A/A.ipynb`` plus ``timestamp.txt`` (the file's modification
time, UTC; for a zip, the entry's own date). Files are copied byte for byte: a corrupt
notebook is still collected, and later graded 0 with the reason. Files that cannot be matched
to a student are listed in the error.

Never trusted: symbolic links and special files are not collected (listed instead); student
ids are letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit, at most
:data:`MAX_STUDENT_ID` characters; a zip is refused when it has too many entries, expands past
:attr:`ZipLimits.max_total_bytes`, or an entry expands more than :attr:`ZipLimits.max_ratio`
times (sizes are counted while extracting, not read from the zip's headers).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import stat
import struct
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder.grade.sandbox import copy_file_nofollow

_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_STUDENT_ID = 64  # characters; file names built from an id must stay under 255 bytes
_IGNORED = {".ipynb_checkpoints", "__MACOSX", ".DS_Store"}
MiB = 1 << 20


class CollectError(ValueError):
    """The input cannot be collected; the message lists what was wrong."""


@dataclass(frozen=True)
class ZipLimits:
    """What a zip given to ``collect`` may expand to (CLI: ``--zip-max-*``)."""

    max_total_bytes: int = 2048 * MiB  # all entries together, uncompressed
    max_entries: int = 10_000
    max_ratio: float = 100.0  # uncompressed / compressed, per entry above 1 MiB


@dataclass
class Collected:
    """What :func:`collect` did."""

    students: dict[str, Path] = field(default_factory=dict)  # student -> submitted notebook
    unmatched: list[str] = field(default_factory=list)


def student_id_problem(student: str, max_length: int = MAX_STUDENT_ID) -> str | None:
    """Why ``student`` is not accepted as a student id (None if it is)."""
    if len(student) > max_length:
        return f"{len(student)} characters, at most {max_length} allowed"
    if not _STUDENT_ID.match(student):
        return ("only letters, digits, '.', '_' and '-' are allowed, starting with a letter "
                "or a digit")
    return None


def _student_for(rel: Path, assignment: str, max_id: int) -> str | None:
    parts = rel.parts
    stem = rel.stem
    if len(parts) == 1:
        for sep in ("_", "-", "."):
            suffix = f"{sep}{assignment}"
            if stem.endswith(suffix) and len(stem) > len(suffix):
                stem = stem[: -len(suffix)]
                break
        if stem == assignment:
            return None
        return stem if student_id_problem(stem, max_id) is None else None
    # <student>/<...>/<notebook>.ipynb: the top folder names the student
    student = parts[0]
    if student == assignment and len(parts) >= 3:
        student = parts[1]
    return student if student_id_problem(student, max_id) is None else None


def _walk(root: Path) -> tuple[list[Path], list[str]]:
    """Regular files below ``root`` (relative paths) and the entries refused (with why).

    Symbolic links (to files or folders) are neither followed nor collected."""
    files, refused = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        for name in sorted(dirnames):
            if os.path.islink(os.path.join(dirpath, name)):
                refused.append(f"{rel_dir / name} (symbolic link, not followed)")
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED
                             and not os.path.islink(os.path.join(dirpath, d)))
        for name in sorted(filenames):
            if name in _IGNORED or name.startswith("._"):
                continue
            rel = rel_dir / name
            mode = os.lstat(os.path.join(dirpath, name)).st_mode
            if stat.S_ISLNK(mode):
                if name.endswith(".ipynb") or len(rel.parts) == 1:
                    refused.append(f"{rel} (symbolic link, not collected)")
            elif not stat.S_ISREG(mode):
                refused.append(f"{rel} (special file, not collected)")
            else:
                files.append(rel)
    return files, refused


def _zip_mtime(info: zipfile.ZipInfo) -> float:
    """The entry's modification time: its extended-timestamp field (UTC) when present, else
    its DOS date and time read as this machine's local time (what zip tools write)."""
    extra = info.extra
    while len(extra) >= 4:
        tag, size = struct.unpack("<HH", extra[:4])
        body = extra[4:4 + size]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
            return float(struct.unpack("<i", body[1:5])[0])
        extra = extra[4 + size:]
    return time.mktime((*info.date_time, 0, 0, -1))


def _extract(source: Path, root: Path, limits: ZipLimits) -> list[str]:
    """Extract ``source`` into ``root`` within ``limits``; returns the entries left out."""
    refused: list[str] = []
    base = root.resolve()
    with zipfile.ZipFile(source) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise CollectError(f"{source}: {len(infos)} entries, more than the limit of "
                               f"{limits.max_entries} (--zip-max-entries)")
        for info in infos:
            target = (root / info.filename).resolve()
            if target != base and base not in target.parents:
                raise CollectError(f"{source}: unsafe path in zip: {info.filename}")
        total = 0
        for info in infos:
            kind = stat.S_IFMT(info.external_attr >> 16)
            if info.is_dir():
                (root / info.filename).mkdir(parents=True, exist_ok=True)
                continue
            if kind and kind != stat.S_IFREG:
                refused.append(f"{info.filename} (symbolic link or special file in the zip, "
                               "not collected)")
                continue
            target = root / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(info) as src, open(target, "xb") as dst:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    total += len(chunk)
                    if total > limits.max_total_bytes:
                        raise CollectError(
                            f"{source} expands to more than {limits.max_total_bytes // MiB} MiB "
                            f"(--zip-max-mib); refused as a possible zip bomb")
                    if written > MiB and written > limits.max_ratio * max(info.compress_size,
                                                                           1):
                        raise CollectError(
                            f"{source}: {info.filename} expands more than "
                            f"{limits.max_ratio:g} times (--zip-max-ratio); refused as a "
                            "possible zip bomb")
                    dst.write(chunk)
            mtime = _zip_mtime(info)
            os.utime(target, (mtime, mtime))
    return refused


def collect(
    source: Path, assignment: str, submitted: Path, strict: bool = True,
    zip_limits: ZipLimits | None = None, max_student_id: int = MAX_STUDENT_ID,
) -> Collected:
    """Copy the notebooks in folder or zip ``source`` into ``submitted/<student>/<assignment>``.

    With ``strict`` (default) nothing is copied if a file cannot be matched; the error lists
    every such file and the accepted names.
    """
    source = Path(source)
    if not source.exists():
        raise CollectError(f"{source} does not exist (expected a folder or a .zip of notebooks)")
    with tempfile.TemporaryDirectory(prefix="tfcourse-collect-") as tmp:
        refused: list[str] = []
        if source.is_file():
            if not zipfile.is_zipfile(source):
                raise CollectError(f"{source} is neither a folder nor a zip file")
            root = Path(tmp)
            refused = _extract(source, root, zip_limits or ZipLimits())
        else:
            root = source
        return _collect_tree(root, assignment, Path(submitted), strict, source, refused,
                             max_student_id)


def _collect_tree(
    root: Path, assignment: str, submitted: Path, strict: bool, origin: Path,
    refused: list[str], max_id: int,
) -> Collected:
    found: dict[str, list[Path]] = {}
    result = Collected()
    files, walk_refused = _walk(root)
    result.unmatched += refused + walk_refused
    for rel in files:
        if rel.suffix != ".ipynb":
            if len(rel.parts) == 1:
                result.unmatched.append(f"{rel} (not a notebook)")
            continue
        student = _student_for(rel, assignment, max_id)
        if student is None:
            result.unmatched.append(str(rel))
            continue
        found.setdefault(student, []).append(rel)
    for student, paths in found.items():
        if len(paths) > 1:
            named = [p for p in paths if p.name == f"{assignment}.ipynb"]
            if len(named) == 1:
                found[student] = named
            else:
                result.unmatched += [f"{p} (several notebooks for {student})" for p in paths]
                found[student] = []
    if not any(found.values()) and not result.unmatched:
        raise CollectError(f"no notebook found in {origin}")
    if result.unmatched and strict:
        raise CollectError(
            f"could not match these files of {origin} to a student:\n  "
            + "\n  ".join(result.unmatched)
            + f"\naccepted names: <student>.ipynb, <student>_{assignment}.ipynb, "
            f"<student>/{assignment}.ipynb (student ids: letters, digits, . _ -, at most "
            f"{max_id} characters)"
        )
    for student, paths in sorted(found.items()):
        if not paths:
            continue
        for folder in (submitted / student, submitted / student / assignment):
            if folder.is_symlink():
                folder.unlink()  # never write through a link someone left in submitted/
        dest = submitted / student / assignment
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        copy_file_nofollow(root / paths[0], dest / f"{assignment}.ipynb")
        mtime = dt.datetime.fromtimestamp(os.lstat(root / paths[0]).st_mtime, tz=dt.UTC)
        (dest / "timestamp.txt").write_text(mtime.strftime("%Y-%m-%d %H:%M:%S.%f %Z") + "\n")
        result.students[student] = dest / f"{assignment}.ipynb"
    return result
