"""Execute a notebook in a fresh kernel and read each grade cell's outcome the way nbgrader does.

A test cell passes when it produced no ``error`` output and no stderr that the course's
``IgnorePattern`` would keep (nbgrader scores such a cell 0). Used by the notebook tests, the
variant (mutant) tests and the grading-accuracy report; the real autograde path is
``nbgrader autograde`` (see autograder/pipeline.py).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.build import REPO_ROOT, nbgrader_env, source_path
from autograder.variants import Variant, apply

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def ignore_pattern() -> re.Pattern:
    """The stderr pattern of nbgrader_config.py (single source of truth)."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO_ROOT)).load_config()
    return re.compile(config.IgnorePattern.pattern)


@dataclass
class CellResult:
    grade_id: str
    points: float
    passed: bool
    message: str  # "ExceptionName: message" of the failure, or stray stderr, or ""


def grading_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """nbgrader's environment (``build.nbgrader_env``) in fast mode, plus ``extra``."""
    env = nbgrader_env()
    env.update({"TFCOURSE_MODE": "fast", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0"})
    env.update(extra or {})
    return env


def execute(
    nb: nbformat.NotebookNode, cwd: Path | None = None, timeout: int = 300,
    env: dict[str, str] | None = None,
) -> nbformat.NotebookNode:
    """Run every cell (errors allowed) in a fresh python3 kernel in fast mode."""
    with tempfile.TemporaryDirectory(prefix="tfcourse-run-") as tmp:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", allow_errors=True,
            resources={"metadata": {"path": str(cwd or tmp)}},
        )
        # The kernel's own stderr (TensorFlow start-up chatter) is not part of any cell output.
        client.execute(env=env or grading_env(), stderr=subprocess.DEVNULL)
    return nb


def grade_results(nb: nbformat.NotebookNode) -> dict[str, CellResult]:
    """Outcome of each grade (test) cell of an executed notebook."""
    pattern = ignore_pattern()
    results: dict[str, CellResult] = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        message = ""
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                message = f"{out.ename}: {_ANSI.sub('', out.evalue)}"
                break
            if out.output_type == "stream" and out.name == "stderr" and not pattern.search(
                out.text
            ):
                message = f"stderr: {out.text.strip()[:500]}"
        results[meta["grade_id"]] = CellResult(
            meta["grade_id"], float(meta.get("points", 0)), not message, message
        )
    return results


def run_source(assignment: str, variant: Variant | None = None) -> dict[str, CellResult]:
    """Execute the source notebook (optionally with a variant's answers) and grade it."""
    nb = nbformat.read(source_path(assignment), as_version=4)
    if variant is not None:
        nb = apply(nb, variant)
    return grade_results(execute(nb))


def run_many(
    assignment: str, variants: list[Variant], workers: int = 2
) -> dict[str, dict[str, CellResult]]:
    """Grade many variants, each in its own fresh kernel, ``workers`` kernels at a time."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {v.name: pool.submit(run_source, assignment, v) for v in variants}
        return {name: f.result() for name, f in futures.items()}
