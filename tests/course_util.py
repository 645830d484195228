"""A throwaway nbgrader course (the repository's nbgrader_config.py, one tiny assignment).

Lets tests run the real ``nbgrader generate_assignment`` / ``autograde`` in seconds, without
depending on the content of the course notebooks.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from autograder import build


def cell(source: str, **nbgrader) -> nbformat.NotebookNode:
    out = new_code_cell(source)
    out.metadata["nbgrader"] = {"schema_version": 3, "task": False, **nbgrader}
    return out


def make_course(root: Path, assignment: str, cells: list[nbformat.NotebookNode]) -> Path:
    shutil.copyfile(build.REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = build.KERNELSPEC
    build.write_notebook(nb, root / "source" / assignment / f"{assignment}.ipynb")
    nbgrader(root, "generate_assignment", assignment, "--create")
    return root


def submit(root: Path, assignment: str, student: str, answers: dict[str, str]) -> Path:
    """Copy the release into submitted/ with the given solution cells replaced."""
    nb = nbformat.read(root / "release" / assignment / f"{assignment}.ipynb", 4)
    for c in nb.cells:
        grade_id = c.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            c.source = answers[grade_id]
    target = root / "course_state" / "submitted" / student / assignment / f"{assignment}.ipynb"
    build.write_notebook(nb, target)
    return target


def nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=root, env=build.nbgrader_env(),
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def scores(root: Path, assignment: str, student: str) -> dict[str, float]:
    """Score of each grade cell, from the real gradebook."""
    from nbgrader.api import Gradebook

    db = f"sqlite:///{root / 'course_state' / 'gradebook.db'}"
    with Gradebook(db) as gb:
        sub = gb.find_submission(assignment, student)
        return {g.name: g.score for nb in sub.notebooks for g in nb.grades}


def autograded(root: Path, assignment: str, student: str) -> nbformat.NotebookNode:
    path = root / "course_state" / "autograded" / student / assignment / f"{assignment}.ipynb"
    return nbformat.read(path, 4)
