"""The fetch step: mirror first, verified checksums, atomic writes, clear errors."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tfcourse import data

NAME = "breast-cancer-wisconsin.data"


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "files"
    monkeypatch.setenv(data.DATA_DIR_ENV, str(out))
    return out


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_manifest_matches_shared_readme(shared_data: Path) -> None:
    entry = data.find(NAME)
    readme = (shared_data / "README.md").read_text()
    assert entry.sha256 in readme
    assert entry.url in readme
    assert entry.size == (shared_data / NAME).stat().st_size


def test_fetch_from_mirror_verifies_and_writes(
    shared_data: Path, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(data.MIRROR_ENV, str(shared_data))
    path = data.fetch(NAME)
    assert path == target / NAME
    assert hashlib.sha256(path.read_bytes()).hexdigest() == data.find(NAME).sha256
    assert _leftovers(target) == [NAME]  # no temporary file left behind
    # world-readable: the sandboxed grading kernel runs under another uid
    assert path.stat().st_mode & 0o444 == 0o444


def test_checksum_mismatch_names_file_and_both_checksums(
    shared_data: Path, target: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad_mirror = tmp_path / "bad_mirror"
    bad_mirror.mkdir()
    corrupt = (shared_data / NAME).read_bytes().replace(b"1000025", b"1000026", 1)
    (bad_mirror / NAME).write_bytes(corrupt)
    monkeypatch.setenv(data.MIRROR_ENV, str(bad_mirror))
    with pytest.raises(data.DataError) as err:
        data.fetch(NAME)
    msg = str(err.value)
    assert NAME in msg
    assert data.find(NAME).sha256 in msg
    assert hashlib.sha256(corrupt).hexdigest() in msg
    assert "Fix" in msg
    assert _leftovers(target) == []  # nothing half-written


def test_missing_mirror_folder(target: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(data.MIRROR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(data.DataError, match="does not exist") as err:
        data.fetch(NAME)
    assert NAME in str(err.value)
    assert _leftovers(target) == []


def test_file_missing_from_mirror(target: Path, tmp_path: Path, monkeypatch) -> None:
    empty = tmp_path / "empty_mirror"
    empty.mkdir()
    monkeypatch.setenv(data.MIRROR_ENV, str(empty))
    with pytest.raises(data.DataError, match="missing from the mirror") as err:
        data.fetch(NAME)
    assert data.find(NAME).sha256 in str(err.value)
    assert _leftovers(target) == []


def test_no_network_gives_clear_error_and_no_partial_file(
    target: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No mirror, and the canonical address is unreachable (a closed local port stands in for
    # a machine without internet, so the test never depends on the real network).
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    manifest = json.loads(data.MANIFEST.read_text())
    manifest["files"][0]["url"] = "http://127.0.0.1:9/breast-cancer-wisconsin.data"
    fake = tmp_path / "manifest.json"
    fake.write_text(json.dumps(manifest))
    monkeypatch.setattr(data, "MANIFEST", fake)
    with pytest.raises(data.DataError) as err:
        data.fetch(NAME)
    msg = str(err.value)
    assert "cannot download" in msg and NAME in msg and data.MIRROR_ENV in msg
    assert _leftovers(target) == []


def test_interrupted_copy_leaves_nothing(
    shared_data: Path, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(data.MIRROR_ENV, str(shared_data))

    def explode(src, dst, *args, **kwargs):
        Path(dst).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copyfile", explode)
    with pytest.raises(OSError, match="disk full"):
        data.fetch(NAME)
    assert _leftovers(target) == []


def test_corrupt_existing_file_is_replaced(
    shared_data: Path, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(data.MIRROR_ENV, str(shared_data))
    target.mkdir(parents=True)
    (target / NAME).write_text("garbage")
    path = data.fetch(NAME, quiet=True)
    assert data.sha256_of(path) == data.find(NAME).sha256


def test_cli_reports_error_with_exit_code(target: Path, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv(data.MIRROR_ENV, str(tmp_path / "nowhere"))
    assert data.main(["fetch"]) == 1
    assert "error:" in capsys.readouterr().err
