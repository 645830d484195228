"""A correct answer whose test cell makes Keras warn still gets full points from nbgrader.

nbgrader scores a test cell 0 when anything reaches stderr; nbgrader_config.py enables
``IgnorePattern`` for TensorFlow/Keras/absl/tqdm noise. This runs the real
``nbgrader generate_assignment`` and ``nbgrader autograde`` on a one-exercise course that uses
the repository's nbgrader_config.py, with the pattern on (full points) and off (0 points, which
proves the warning really reaches stderr).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder import build

pytestmark = pytest.mark.slow
ASSIGNMENT = "warn_check"


def _cell(source: str, **nbgrader) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"schema_version": 3, "task": False, **nbgrader}
    return cell


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course")
    shutil.copyfile(build.REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    nb = new_notebook(cells=[
        _cell("import keras", grade=False, solution=False, locked=True, grade_id="setup"),
        _cell("def make_layer():\n    ### BEGIN SOLUTION\n"
              "    return keras.layers.Dense(2, input_shape=(3,))\n    ### END SOLUTION",
              grade=False, solution=True, locked=False, grade_id="make_layer"),
        _cell('"""Check that make_layer() builds a Dense layer with 2 units."""\n'
              "layer = make_layer()  # Keras 3 warns about input_shape on stderr\n"
              "assert layer.units == 2",
              grade=True, solution=False, locked=True, points=3, grade_id="layer_units"),
    ])
    nb.metadata["kernelspec"] = build.KERNELSPEC
    build.write_notebook(nb, root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    _nbgrader(root, "generate_assignment", ASSIGNMENT, "--create")
    released = nbformat.read(root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    released.cells[1].source = (
        "def make_layer():\n    return keras.layers.Dense(2, input_shape=(3,))")
    build.write_notebook(
        released,
        root / "course_state" / "submitted" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    return root


def _nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=root, env=build.nbgrader_env(),
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _score(root: Path) -> tuple[float, list[str]]:
    from nbgrader.api import Gradebook

    autograded = nbformat.read(
        root / "course_state" / "autograded" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    stderr = [o.text for c in autograded.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "stream" and o.name == "stderr"]
    db = f"sqlite:///{root / 'course_state' / 'gradebook.db'}"
    with Gradebook(db) as gb:
        return gb.find_submission(ASSIGNMENT, "alice").score, stderr


def test_keras_warning_in_test_cell_keeps_full_points(course: Path) -> None:
    _nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force")
    score, stderr = _score(course)
    assert score == 3.0
    assert not any("input_shape" in text for text in stderr)  # the noise was dropped


def test_without_ignore_pattern_the_same_cell_scores_zero(course: Path) -> None:
    _nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force",
              "--IgnorePattern.enabled=False")
    score, stderr = _score(course)
    assert score == 0.0
    assert any("input_shape" in text for text in stderr)
