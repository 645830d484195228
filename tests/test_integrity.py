"""The static scan flags tampering attempts for the instructor (scores come from the judge:
see tests/test_bad_submissions.py, section in-kernel tampering)."""

from __future__ import annotations

import pytest
from nbformat.v4 import new_notebook

from autograder.grade import integrity
from tests.course_util import cell


def _nb(solution: str):
    return new_notebook(cells=[
        cell("import numpy as np", grade=False, solution=False, locked=True, grade_id="setup"),
        cell(solution, grade=False, solution=True, locked=False, grade_id="answer"),
        cell("assert answer() == 2", grade=True, solution=False, locked=True, points=1,
             grade_id="answer_is_two"),
    ])


@pytest.mark.parametrize(("code", "rule"), [
    ("np.allclose = lambda *a, **k: True", "library-patch"),
    ("np.testing.assert_allclose = print", "library-patch"),
    ("setattr(np, 'isclose', lambda *a: True)", "library-patch"),
    ("import autograder.observe._io as c\nc.record = lambda *a, **k: None",
     "checker-reference"),
    ("get_ipython().showtraceback = lambda *a, **k: None", "traceback-hiding"),
    ("get_ipython().ast_transformers.append(object())", "traceback-hiding"),
    ("import os\nif os.environ.get('TFCOURSE_MODE') == 'fast':\n    pass", "grading-env"),
    ("import os\nos._exit(0)", "kernel-exit"),
    ("import sys\nsys.modules['numpy'] = None", "module-table"),
    ("import builtins\nbuiltins.isinstance = lambda *a: True", "builtins"),
])
def test_scan_names_each_trick(code: str, rule: str) -> None:
    flags = integrity.scan(_nb(f"def answer():\n    return 2\n{code}"))
    assert rule in {f.rule for f in flags}, flags
    assert all(f.cell == "answer" for f in flags)


def test_scan_leaves_honest_code_alone() -> None:
    honest = (
        "def answer():\n    # np.allclose = ... would be cheating; this is a comment\n"
        "    x = np.array([1.0, 1.0])\n    x[0] = 1.0\n    return int(np.sum(x))"
    )
    assert integrity.scan(_nb(honest)) == []


def test_scan_ignores_locked_and_test_cells() -> None:
    nb = _nb("def answer():\n    return 2")
    nb.cells[0].source = "import os\nos.environ.get('TFCOURSE_MODE')"  # locked: restored anyway
    assert integrity.scan(nb) == []
