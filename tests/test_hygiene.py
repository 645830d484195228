"""Committed notebooks are clean, generated files are in sync, and the release leaks nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from autograder import build

ASSIGNMENTS = build.assignments()
TRIVIAL = re.compile(r"^[\s\W]*(pass|else|try|finally|return|break|continue)?[\s\W]*$")


def _all_committed_notebooks() -> list[Path]:
    roots = [build.SOURCE, build.RELEASE, build.READERS]
    return sorted(p for root in roots for p in root.rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts)


def test_there_are_assignments() -> None:
    assert "training_basics" in ASSIGNMENTS


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_edition_exists(assignment: str) -> None:
    assert build.source_path(assignment).is_file()
    assert build.release_path(assignment).is_file()
    assert build.reader_path(assignment).is_file()


@pytest.mark.parametrize("path", _all_committed_notebooks(), ids=lambda p: str(p.relative_to(
    build.REPO_ROOT)))
def test_committed_without_outputs_or_counts(path: Path) -> None:
    nb = json.loads(path.read_text())
    dirty = [
        cell.get("id", i) for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, f"{path} has outputs or execution counts in cells {dirty}; run make build"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_in_sync_with_authoring(assignment: str) -> None:
    expected = nbformat.writes(build.source_from_authoring(assignment), version=4) + "\n"
    assert build.source_path(assignment).read_text() == expected, (
        f"source/{assignment} is stale: edit authoring/{assignment}.py and run make build"
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_readers_edition_in_sync(assignment: str) -> None:
    source_nb = nbformat.read(build.source_path(assignment), as_version=4)
    expected = nbformat.writes(build.readers_edition(source_nb), version=4) + "\n"
    assert build.reader_path(assignment).read_text() == expected, "run make build"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_folder_holds_only_the_notebook(assignment: str) -> None:
    files = sorted(p.name for p in (build.RELEASE / assignment).rglob("*") if p.is_file())
    assert files == [f"{assignment}.ipynb"]


def _secret_lines(source_nb: nbformat.NotebookNode) -> set[str]:
    """Non-trivial lines that only occur inside solution or hidden-test blocks."""
    secret: set[str] = set()
    public: set[str] = set()
    for cell in source_nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if build.BEGIN_SOLUTION.match(line) or build.BEGIN_HIDDEN.match(line):
                inside = True
                continue
            if build.END_SOLUTION.match(line) or build.END_HIDDEN.match(line):
                inside = False
                continue
            (secret if inside else public).add(line.strip())
    return {line for line in secret - public if not TRIVIAL.match(line)}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_solution_or_hidden_test_line_in_release(assignment: str) -> None:
    source_nb = nbformat.read(build.source_path(assignment), as_version=4)
    secrets = _secret_lines(source_nb)
    assert secrets, "the source notebook should have solutions and hidden tests"
    release_text = build.release_path(assignment).read_text()
    release_lines = {
        line.strip()
        for cell in json.loads(release_text)["cells"]
        for line in "".join(cell["source"]).splitlines()
    }
    leaked = sorted(secrets & release_lines)
    assert not leaked, f"release/{assignment} leaks: {leaked[:5]}"
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in release_text


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_readers_edition_has_no_hidden_tests(assignment: str) -> None:
    source_nb = nbformat.read(build.source_path(assignment), as_version=4)
    hidden: set[str] = set()
    for cell in source_nb.cells:
        text = build._strip_blocks(cell.source, build.BEGIN_HIDDEN, build.END_HIDDEN, True)
        outside = build._strip_blocks(cell.source, build.BEGIN_HIDDEN, build.END_HIDDEN, False)
        hidden |= {ln.strip() for ln in text.splitlines()} - {
            ln.strip() for ln in outside.splitlines()}
    reader_text = build.reader_path(assignment).read_text()
    reader_lines = {
        line.strip()
        for cell in json.loads(reader_text)["cells"]
        for line in "".join(cell["source"]).splitlines()
    }
    leaked = sorted(line for line in hidden & reader_lines if not TRIVIAL.match(line))
    assert not leaked, f"notebooks/{assignment}.ipynb shows hidden tests: {leaked[:5]}"
    assert not any("nbgrader" in cell["metadata"] for cell in json.loads(reader_text)["cells"])
