"""Gaming attempts are detected and flagged, and a silenced error reporting scores nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from nbformat.v4 import new_notebook

from autograder import integrity
from autograder.checks import _common
from tests.course_util import autograded, cell, make_course, nbgrader, scores, submit


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
    ("import autograder.checks._common as c\nc.check_close = lambda *a, **k: None",
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


def test_self_test_catches_patched_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    _common.self_test()
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    with pytest.raises(_common.IntegrityFailure, match="numpy.allclose"):
        _common.check_close(0.0, 1.0, "x", "hint")


@pytest.mark.slow
def test_silenced_errors_score_zero_with_nbgrader(tmp_path: Path) -> None:
    """An AST transformer that swallows every exception would pass every test; the canary
    makes nbgrader score those test cells 0 instead."""
    root = make_course(tmp_path, "canary", _nb("def answer():\n    ### BEGIN SOLUTION\n"
                                               "    return 2\n    ### END SOLUTION").cells)
    submit(root, "canary", "honest", {"answer": "def answer():\n    return 2"})
    submit(root, "canary", "wrong", {"answer": "def answer():\n    return 3"})
    swallow = '''def answer():
    return 3
import ast
class _Swallow(ast.NodeTransformer):
    def visit_Module(self, node):
        handler = ast.ExceptHandler(type=ast.Name("BaseException", ast.Load()), name=None,
                                    body=[ast.Pass()])
        node.body = [ast.Try(body=node.body or [ast.Pass()], handlers=[handler], orelse=[],
                             finalbody=[])]
        return ast.fix_missing_locations(node)
get_ipython().ast_transformers.append(_Swallow())'''
    submit(root, "canary", "cheater", {"answer": swallow})
    nbgrader(root, "autograde", "canary", "--create")
    assert scores(root, "canary", "honest") == {"answer_is_two": 1.0}
    assert scores(root, "canary", "wrong") == {"answer_is_two": 0.0}
    assert scores(root, "canary", "cheater") == {"answer_is_two": 0.0}
    outputs = [o for c in autograded(root, "canary", "cheater").cells
               for o in c.get("outputs", [])]
    assert any(o.get("ename") == "IntegrityError" for o in outputs)
    assert not any(c.get("id") == integrity.CANARY_ID
                   for c in autograded(root, "canary", "honest").cells)
