"""Detect submissions that try to game the autograder, and flag them for manual review.

Three layers, each cheap and independent:

1. :func:`scan` reads the code a student could edit (solution cells and any cell they added)
   and reports tricks by name: patching numpy's comparison helpers or the checking package,
   hiding tracebacks (the ``showtraceback`` exploit), branching on the grading environment,
   killing the kernel. Static, so it sees code that never ran.
2. ``autograder.checks._common.self_test`` runs inside every hidden check and refuses to grade
   when ``numpy.allclose`` & co. have been replaced at run time.
3. :class:`InjectCanary` / :class:`CheckCanary`, nbgrader preprocessors around ``Execute``:
   a last cell that must fail an ``assert``; if no error output appears, error reporting was
   tampered with, and every test cell of the notebook is turned into a failure so nothing
   passes silently.

A flag never changes a score by itself (except the canary, which zeroes a tampered run); it
marks the submission for manual review with the reasons, in the grade export and the report.
"""

from __future__ import annotations

import ast
import re
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

CANARY_ID = "autograder_integrity_canary"
CANARY_MESSAGE = "autograder canary: error reporting works"
PROBE_ID = "autograder_integrity_checks_probe"
PROBE_TAG = "autograder-checks"
CHECKS_REPLACED = ("the checking functions were replaced at run time ({}); every test cell "
                   "scores 0 and the submission needs manual review")
# Runs after every test cell, in the student's kernel: each function of the checking modules
# must still be one defined in the checking package's own files. A per-run nonce makes the
# "ok" line impossible to print in advance.
_PROBE_SOURCE = """\
def _autograder_probe(nonce):
    import os, sys, types
    bad = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("autograder.checks"):
            continue
        home = os.path.dirname(os.path.realpath(getattr(module, "__file__", "") or "/nonexistent"))
        for attr, value in list(vars(module).items()):
            if attr.startswith("__") or isinstance(value, types.ModuleType):
                continue
            if not callable(value) or not (
                    attr.startswith("check") or attr in ("fail", "is_close", "self_test")):
                continue
            code = getattr(value, "__code__", None)
            origin = os.path.realpath(code.co_filename) if code is not None else ""
            if not origin.startswith(home + os.sep):
                bad.append(name + "." + attr)
    print("{tag}:" + nonce + ":" + ("ok" if not bad else "tampered:" + ",".join(bad)))
_autograder_probe({nonce!r})
del _autograder_probe"""


@dataclass(frozen=True)
class Flag:
    rule: str
    reason: str
    cell: str  # grade id or cell id where it was seen
    line: int

    def to_dict(self) -> dict:
        return asdict(self)


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


class InjectCanary(NbGraderPreprocessor):
    """Append a cell that must raise, so that tampered error reporting becomes visible."""

    def preprocess(self, nb, resources):
        nb.cells = [c for c in nb.cells if c.get("id") not in (CANARY_ID, PROBE_ID)]
        probe = nbformat.v4.new_code_cell(
            _PROBE_SOURCE.format(tag=PROBE_TAG, nonce=secrets.token_hex(12)))
        probe["id"] = PROBE_ID
        # `assert`, not `raise`: an AST transformer that strips asserts is silenced too.
        canary = nbformat.v4.new_code_cell(f"assert False, {CANARY_MESSAGE!r}")
        canary["id"] = CANARY_ID
        nb.cells.extend([probe, canary])
        return nb, resources


class CheckCanary(NbGraderPreprocessor):
    """Remove the canary and act on what it shows.

    * it ran and raised: error reporting works, nothing to do;
    * it ran and did not raise: error reporting was tampered with, so every test cell fails;
    * it never ran (the kernel died or stopped early): test cells that never ran fail too,
      because nbgrader would give a cell without outputs full points.
    """

    def preprocess(self, nb, resources):
        canary = next((c for c in nb.cells if c.get("id") == CANARY_ID), None)
        probe = next((c for c in nb.cells if c.get("id") == PROBE_ID), None)
        nb.cells = [c for c in nb.cells if c.get("id") not in (CANARY_ID, PROBE_ID)]
        if canary is None:
            return nb, resources
        ran = canary.get("execution_count") is not None or bool(canary.get("outputs"))
        raised = any(
            out.get("output_type") == "error" and CANARY_MESSAGE in str(out.get("evalue", ""))
            for out in canary.get("outputs", [])
        )
        replaced = _probe_verdict(probe) if raised else None
        if raised and replaced is None:
            return nb, resources
        if replaced is not None:
            reason = CHECKS_REPLACED.format(replaced)
            resources.setdefault("integrity", []).append("checks-replaced")
        elif ran:
            reason = ("error reporting was tampered with (the grader's canary cell did not "
                      "raise); this submission needs manual review")
            resources.setdefault("integrity", []).append("canary-silenced")
        else:
            reason = ("this cell never ran: the kernel stopped before the end of the notebook "
                      "(exit, crash, or resource limit)")
            resources.setdefault("integrity", []).append("kernel-stopped")
        self.log.warning("integrity: %s", reason)
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.get("cell_type") != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            cell_ran = cell.get("execution_count") is not None or bool(cell.get("outputs"))
            if ran or not cell_ran:
                cell.outputs = [nbformat.v4.new_output(
                    "error", ename="IntegrityError", evalue=reason, traceback=[])]
        return nb, resources


def _probe_verdict(probe: nbformat.NotebookNode | None) -> str | None:
    """None when the probe printed its nonce with "ok"; else what was replaced (or why unsure)."""
    if probe is None:
        return None  # notebooks prepared without a probe (older runs)
    match = re.search(r"_autograder_probe\('([0-9a-f]+)'\)", probe.get("source", ""))
    text = "".join(o.get("text", "") for o in probe.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")
    if match is None:
        return "the probe cell was altered"
    for line in text.splitlines():
        prefix = f"{PROBE_TAG}:{match.group(1)}:"
        if line.startswith(prefix):
            verdict = line[len(prefix):]
            return None if verdict == "ok" else verdict.removeprefix("tampered:")
    return "the probe could not report"
