"""Flag submissions that *try* to game the autograder, for the instructor's attention.

Scores never depend on this module: the judge (:mod:`autograder.judge`) decides every grade
cell outside the kernel from observations, so tampering inside the kernel cannot raise a
score. :func:`scan` only tells the instructor that a submission attempted it (patching numpy or
IPython's error reporting, reading the grading environment, manipulating the module table,
killing the kernel): a flag marks the submission for manual review with the reasons, in the
grade export, the report and formgrader. Static and text-based, so renaming evades it; it is
a courtesy signal, not a defence.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

import nbformat

from autograder.records import Flag

_WATCHED_MODULES = {"np", "numpy", "tf", "tensorflow", "keras", "math", "sklearn", "builtins",
                    "unittest", "pytest", "IPython", "autograder", "nbgrader"}
_TEXT_RULES: list[tuple[str, re.Pattern, str]] = [
    ("traceback-hiding", re.compile(r"showtraceback|set_custom_exc|InteractiveShell|"
                                    r"sys\.excepthook|ast_transformers|input_transformers|"
                                    r"\.events\.register|run_cell"),
     "replaces IPython's error reporting (the showtraceback exploit): failing tests would "
     "look like passing ones"),
    ("grading-env", re.compile(r"TFCOURSE_MODE|NBGRADER_EXECUTION|NBGRADER_VALIDATING|"
                               r"NBGRADER_\w+"),
     "reads the grading environment variables, so it can behave differently when graded"),
    ("checker-reference", re.compile(r"\bautograder\b|\bnbgrader\b"),
     "refers to the grading package"),
    ("module-table", re.compile(r"sys\.modules|importlib\.reload|__import__"),
     "manipulates the module table, which can replace the checking code"),
    ("builtins", re.compile(r"__builtins__|\bbuiltins\b"),
     "modifies Python builtins"),
    ("kernel-exit", re.compile(r"os\._exit|sys\.exit|\bquit\s*\(|\bexit\s*\(|os\.kill|"
                               r"signal\.(SIGKILL|SIGTERM)"),
     "terminates or signals the kernel"),
]


def _editable_cells(nb: nbformat.NotebookNode) -> Iterable[tuple[str, str]]:
    """(cell label, source) of every code cell a student may legitimately edit or add."""
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("locked") or meta.get("grade") and not meta.get("solution"):
            continue  # locked and test cells are restored by nbgrader before grading
        yield meta.get("grade_id") or cell.get("id") or f"cell {index}", cell.get("source", "")


class _PatchFinder(ast.NodeVisitor):
    """Assignments to attributes of watched modules (``np.allclose = ...``) and setattr calls."""

    def __init__(self) -> None:
        self.hits: list[tuple[int, str]] = []

    @staticmethod
    def _root(node: ast.AST) -> str | None:
        while isinstance(node, ast.Attribute):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    def _target(self, target: ast.AST, lineno: int) -> None:
        if isinstance(target, ast.Attribute) and self._root(target) in _WATCHED_MODULES:
            self.hits.append((lineno, ast.unparse(target)))
        elif isinstance(target, ast.Tuple | ast.List):
            for elt in target.elts:
                self._target(elt, lineno)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target, node.lineno)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target, node.lineno)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id == "setattr" and node.args:
            root = self._root(node.args[0])
            if root in _WATCHED_MODULES:
                self.hits.append((node.lineno, f"setattr({ast.unparse(node.args[0])}, ...)"))
        self.generic_visit(node)


def scan(nb: nbformat.NotebookNode) -> list[Flag]:
    """Flags for tricks found in the student-editable cells of ``nb`` (sorted, de-duplicated)."""
    flags: set[Flag] = set()
    for label, source in _editable_cells(nb):
        for lineno, line in enumerate(source.splitlines(), start=1):
            code = line.split("#", 1)[0]
            for rule, pattern, reason in _TEXT_RULES:
                if pattern.search(code):
                    flags.add(Flag(rule, reason, label, lineno))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue  # graded as a failure anyway; nothing more to read
        finder = _PatchFinder()
        finder.visit(tree)
        for lineno, what in finder.hits:
            flags.add(Flag("library-patch", f"replaces {what}, which the checks may rely on",
                           label, lineno))
    return sorted(flags, key=lambda f: (f.cell, f.line, f.rule))
