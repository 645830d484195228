"""Data manifest and fetch step: verified, atomic, mirror first.

Usage::

    python -m tfcourse.data fetch          # every file of data/manifest.json
    python -m tfcourse.data fetch NAME     # one file
    python -m tfcourse.data status         # what is present and verified

A file is taken from the mirror folder in ``$TFCOURSE_DATA_MIRROR`` when that variable is set,
else downloaded from its canonical address. Size and sha256 are checked before the file is
moved into place, so a failed or corrupt fetch never leaves a partial file behind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(os.environ.get("TFCOURSE_ROOT", Path(__file__).resolve().parent.parent))
MANIFEST = REPO_ROOT / "data" / "manifest.json"
MIRROR_ENV = "TFCOURSE_DATA_MIRROR"
DATA_DIR_ENV = "TFCOURSE_DATA_DIR"
DOWNLOAD_TIMEOUT_S = 30


class DataError(RuntimeError):
    """A data file is missing, corrupt or cannot be fetched; the message says how to fix it."""


@dataclass(frozen=True)
class DataFile:
    name: str
    url: str
    size: int
    sha256: str


def data_dir() -> Path:
    """Folder that holds the verified data files (``$TFCOURSE_DATA_DIR`` or data/files)."""
    return Path(os.environ.get(DATA_DIR_ENV) or REPO_ROOT / "data" / "files")


def load_manifest(path: Path | None = None) -> list[DataFile]:
    path = Path(path or MANIFEST)
    try:
        raw = json.loads(Path(path).read_text())
        return [
            DataFile(f["name"], f["url"], int(f["size"]), f["sha256"].lower())
            for f in raw["files"]
        ]
    except FileNotFoundError as exc:
        raise DataError(f"data manifest not found at {path}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"data manifest {path} is malformed: {exc}") from exc


def find(name: str, manifest: list[DataFile] | None = None) -> DataFile:
    for entry in manifest if manifest is not None else load_manifest():
        if entry.name == name:
            return entry
    raise DataError(f"{name!r} is not in the data manifest {MANIFEST}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(entry: DataFile, candidate: Path, origin: str) -> None:
    size = candidate.stat().st_size
    actual = sha256_of(candidate)
    if size != entry.size or actual != entry.sha256:
        raise DataError(
            f"checksum mismatch for {entry.name} (from {origin}):\n"
            f"  expected sha256 {entry.sha256} ({entry.size} bytes)\n"
            f"  actual   sha256 {actual} ({size} bytes)\n"
            f"The file is corrupt or a different version. Fix: replace it with the file from "
            f"{entry.url}, or point ${MIRROR_ENV} at a folder holding the right file. "
            f"Nothing was written to {data_dir()}."
        )


def _make_readable(path: Path) -> None:
    """Data is not secret: world-readable, so a sandboxed grading kernel (another uid) reads it.

    ``mkstemp`` creates files with mode 0600, which the atomic write would otherwise keep.
    """
    mode = path.stat().st_mode & 0o777
    if mode & 0o444 != 0o444:
        path.chmod(mode | 0o444)


def _copy_from_mirror(entry: DataFile, mirror: Path, tmp: Path) -> str:
    src = mirror / entry.name
    if not mirror.is_dir():
        raise DataError(
            f"cannot fetch {entry.name}: the mirror folder ${MIRROR_ENV}={mirror} "
            "does not exist.\n"
            f"Fix: set {MIRROR_ENV} to a folder holding {entry.name} (expected sha256 "
            f"{entry.sha256}), or unset it to download from {entry.url}."
        )
    if not src.is_file():
        raise DataError(
            f"cannot fetch {entry.name}: it is missing from the mirror folder {mirror}.\n"
            f"  expected sha256 {entry.sha256} ({entry.size} bytes)\n"
            f"Fix: copy the file from {entry.url} into {mirror}, or unset {MIRROR_ENV}."
        )
    shutil.copyfile(src, tmp)
    return str(src)


def _download(entry: DataFile, tmp: Path) -> str:
    try:
        with urllib.request.urlopen(entry.url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            with open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DataError(
            f"cannot download {entry.name} from {entry.url}: {exc}\n"
            f"  expected sha256 {entry.sha256} ({entry.size} bytes)\n"
            f"Fix: on a machine without internet, set {MIRROR_ENV} to a folder holding "
            f"{entry.name} (on the course machines: ../shared/data)."
        ) from exc
    return entry.url


def fetch(name: str, *, force: bool = False, quiet: bool = False) -> Path:
    """Make ``name`` present and verified in :func:`data_dir`; return its path."""
    entry = find(name)
    target_dir = data_dir()
    target = target_dir / entry.name
    if target.is_file() and not force:
        try:
            _verify(entry, target, str(target))
            _make_readable(target)
            return target
        except DataError:
            if not quiet:
                print(f"{target} fails its checksum; fetching it again", file=sys.stderr)
    target_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{entry.name}.", suffix=".part", dir=target_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        mirror = os.environ.get(MIRROR_ENV)
        origin = (
            _copy_from_mirror(entry, Path(mirror).expanduser(), tmp)
            if mirror
            else _download(entry, tmp)
        )
        _verify(entry, tmp, origin)
        _make_readable(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    if not quiet:
        print(f"fetched {entry.name} from {origin} (sha256 ok)")
    return target


def path(name: str) -> Path:
    """Path of a verified data file, fetching it first if needed (what notebooks call)."""
    return fetch(name, quiet=True)


def fetch_all(*, force: bool = False) -> list[Path]:
    return [fetch(entry.name, force=force) for entry in load_manifest()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfcourse.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_fetch = sub.add_parser("fetch", help="fetch and verify data files")
    p_fetch.add_argument("names", nargs="*", help="file names (default: all)")
    p_fetch.add_argument("--force", action="store_true", help="fetch even if present")
    sub.add_parser("status", help="list manifest files and whether they are present")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "fetch":
            names = args.names or [e.name for e in load_manifest()]
            for name in names:
                fetch(name, force=args.force)
        else:
            for entry in load_manifest():
                target = data_dir() / entry.name
                ok = target.is_file() and sha256_of(target) == entry.sha256
                print(f"{'ok     ' if ok else 'MISSING'} {entry.name} -> {target}")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
