"""The package's shape (issue 14): one owner per concept, no runtime code reading ``tests/``.

Static checks over the shipped code (``autograder``, ``tfcourse``, ``nbgrader_config.py``):
they parse every module and look at imports and string constants, so they fail as soon as a
module imports from the tests or spells out a folder of the course state itself.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

from autograder.build import REPO_ROOT

SHIPPED = sorted([*(REPO_ROOT / "autograder").rglob("*.py"),
                  *(REPO_ROOT / "tfcourse").rglob("*.py"), REPO_ROOT / "nbgrader_config.py"])
LAYOUT_OWNER = REPO_ROOT / "autograder" / "course.py"
# folder and file names of the runtime state (nbgrader's and ours)
STATE_NAMES = {"submitted", "autograded", "feedback", "gradebook.db", "grades", "course_state",
               "student_work", "exports", "logs"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def test_the_package_never_imports_or_reads_tests() -> None:
    offenders = []
    for path in SHIPPED:
        for node in ast.walk(_tree(path)):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value in ("tests", "tests/") or node.value.startswith("tests/"):
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.value!r}")
            offenders += [f"{path.relative_to(REPO_ROOT)}:{node.lineno} imports {n}"
                          for n in names if n == "tests" or n.startswith("tests.")]
    assert offenders == []


def test_the_state_layout_has_one_owner() -> None:
    """Paths built from a state folder name (``x / "grades"``, ``Path("course_state")``) and
    string constants naming one appear only in autograder/course.py."""
    offenders = []
    for path in SHIPPED:
        if path == LAYOUT_OWNER:
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) \
                    and isinstance(node.right, ast.Constant) and node.right.value in STATE_NAMES:
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} / "
                                 f"{node.right.value!r}")
            if isinstance(node, ast.Constant) and node.value in ("course_state", "gradebook.db",
                                                                 "TFCOURSE_STATE_DIR"):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.value!r}")
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "join" \
                    and any(isinstance(a, ast.Constant) and a.value in STATE_NAMES
                            for a in node.args):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} join(...)")
    assert offenders == []


def test_the_owner_really_owns_it() -> None:
    """The checks above look at the right file: course.py spells every state folder."""
    constants = {node.value for node in ast.walk(_tree(LAYOUT_OWNER))
                 if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert STATE_NAMES <= constants


def test_student_modules_are_named_after_the_assignments() -> None:
    from autograder.build import assignments

    helpers = {p.stem for p in (REPO_ROOT / "tfcourse").glob("*.py")} - {"__init__", "data",
                                                                         "mode"}
    assert helpers == set(assignments())


def test_everything_that_ships_is_lint_clean() -> None:
    """``make lint``: ruff over the packages, tests, benchmarks, nbgrader_config.py and the
    bad-submission catalogue; syntax of the answer variants; pyflakes over authoring/."""
    proc = subprocess.run(["make", "-s", "lint"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
