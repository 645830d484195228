"""The graded kernel sees the data wherever TFCOURSE_DATA_DIR / TFCOURSE_TFDS_DIR put it.

The student package and the grader read the same env-aware folders (``tfcourse.data.data_dir``,
``tfcourse.fashion_mnist.tfds_dir``); the sandbox binds those, not the repository's defaults.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from autograder import cli
from autograder.qa import examples
from tfcourse import data

ASSIGNMENT = "breast_cancer"  # reads its data file inside the kernel


def _run(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(argv) == 0, argv
    return out.getvalue()


@pytest.mark.slow
def test_data_in_other_folders_reaches_the_sandboxed_kernel(tmp_path: Path, monkeypatch) -> None:
    data.fetch_all()
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(data.data_dir(), elsewhere / "files")
    (elsewhere / "tfds").mkdir()
    monkeypatch.setenv("TFCOURSE_DATA_DIR", str(elsewhere / "files"))
    monkeypatch.setenv("TFCOURSE_TFDS_DIR", str(elsewhere / "tfds"))
    monkeypatch.setenv("TFCOURSE_STATE_DIR", str(tmp_path / "state"))
    assert data.data_dir() == elsewhere / "files"
    _run(["release", ASSIGNMENT])
    inbox = tmp_path / "inbox"
    examples.make(inbox, ASSIGNMENT, tmp_path / "state" / "release", limit=1)
    for path in inbox.glob("*.ipynb"):
        if path.stem != "reference":
            path.unlink()
    _run(["collect", str(inbox), "--assignment", ASSIGNMENT])
    _run(["autograde", "--assignment", ASSIGNMENT, "--workers", "1", "--no-progress"])
    record = json.loads((tmp_path / "state" / "grades" / ASSIGNMENT / "reference.json")
                        .read_text())
    assert record["status"] == "graded", record.get("reason")
    assert all(g["score"] == g["max_score"] for g in record["grades"]), record["grades"]
    # the job handed to the worker names the env's folders, not the repository's defaults
    from autograder.course import CourseState
    from autograder.grade import pipeline

    state = CourseState(tmp_path / "state")
    jobs, _ = pipeline.plan(state, ASSIGNMENT, ["reference"],
                            pipeline.Settings(force=True, sandbox=False), tmp_path / "site",
                            state.gradebook)
    assert [(j.data_dir, j.tfds_dir) for j in jobs] == [
        (str(elsewhere / "files"), str(elsewhere / "tfds"))]
