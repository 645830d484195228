"""Release gate: the release is what nbgrader generates, sources pass, releases fail.

Uses nbgrader's ``Validator`` Python API (the ``nbgrader validate`` CLI exits 0 even when tests
fail). Every notebook runs in fast mode (TFCOURSE_MODE=fast, set in conftest).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.validator import Validator
from traitlets.config import Config

from autograder import build
from autograder.qa import harness

ASSIGNMENTS = build.assignments()
pytestmark = pytest.mark.slow


def _validator(invert: bool) -> Validator:
    config = Config()
    config.Execute.timeout = 300
    config.Validator.invert = invert
    return Validator(config=config)


def _copy(path: Path, tmp_path: Path) -> Path:
    target = tmp_path / path.name
    shutil.copyfile(path, target)
    return target


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_what_nbgrader_generates(assignment: str, tmp_path: Path) -> None:
    regenerated = build.generate_release(
        assignment, release_dir=tmp_path / "release", state_dir=tmp_path / "state"
    )
    committed = build.release_path(assignment)
    assert regenerated.read_text() == committed.read_text(), (
        f"release/{assignment} differs from `nbgrader generate_assignment`; run make build"
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_passes_its_own_tests(assignment: str, tmp_path: Path) -> None:
    results = _validator(invert=False).validate(
        str(_copy(build.source_path(assignment), tmp_path)))
    assert results == {}, f"source/{assignment} fails its tests: {results}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_fails_every_test(assignment: str, tmp_path: Path) -> None:
    results = _validator(invert=True).validate(
        str(_copy(build.release_path(assignment), tmp_path)))
    assert "changed" not in results and "type_changed" not in results, results
    passed = [cell["source"].splitlines()[0] for cell in results.get("passed", [])]
    assert not passed, f"release/{assignment} passes tests without any answer: {passed}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_readers_edition_runs_top_to_bottom(assignment: str) -> None:
    nb = nbformat.read(build.reader_path(assignment), as_version=4)
    harness.execute(nb)
    errors = [
        (cell.get("id"), out.ename, out.evalue)
        for cell in nb.cells if cell.cell_type == "code"
        for out in cell.outputs if out.output_type == "error"
    ]
    assert not errors, f"notebooks/{assignment}.ipynb raised: {errors}"
