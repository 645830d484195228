"""A correct answer whose test cell makes Keras warn still gets full points from nbgrader.

nbgrader scores a test cell 0 when anything reaches stderr; nbgrader_config.py enables
``IgnorePattern`` for TensorFlow/Keras/absl/tqdm noise. This runs the real
``nbgrader generate_assignment`` and ``nbgrader autograde`` on a one-exercise course that uses
the repository's nbgrader_config.py, with the pattern on (full points) and off (0 points, which
proves the warning really reaches stderr).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.course_util import autograded, cell, make_course, nbgrader, scores, submit

pytestmark = pytest.mark.slow
ASSIGNMENT = "warn_check"
ANSWER = "def make_layer():\n    return keras.layers.Dense(2, input_shape=(3,))"


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_course(tmp_path_factory.mktemp("course"), ASSIGNMENT, [
        cell("import keras", grade=False, solution=False, locked=True, grade_id="setup"),
        cell("def make_layer():\n    ### BEGIN SOLUTION\n"
             "    return keras.layers.Dense(2, input_shape=(3,))\n    ### END SOLUTION",
             grade=False, solution=True, locked=False, grade_id="make_layer"),
        cell('"""Check that make_layer() builds a Dense layer with 2 units."""\n'
             "layer = make_layer()  # Keras 3 warns about input_shape on stderr\n"
             "assert layer.units == 2",
             grade=True, solution=False, locked=True, points=3, grade_id="layer_units"),
    ])
    submit(root, ASSIGNMENT, "alice", {"make_layer": ANSWER})
    return root


def _stderr(root: Path) -> list[str]:
    return [o.text for c in autograded(root, ASSIGNMENT, "alice").cells if c.cell_type == "code"
            for o in c.outputs if o.output_type == "stream" and o.name == "stderr"]


def test_keras_warning_in_test_cell_keeps_full_points(course: Path) -> None:
    nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force")
    assert scores(course, ASSIGNMENT, "alice") == {"layer_units": 3.0}
    assert not any("input_shape" in text for text in _stderr(course))  # the noise was dropped


def test_without_ignore_pattern_the_same_cell_scores_zero(course: Path) -> None:
    nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force",
             "--IgnorePattern.enabled=False")
    assert scores(course, ASSIGNMENT, "alice") == {"layer_units": 0.0}
    assert any("input_shape" in text for text in _stderr(course))
