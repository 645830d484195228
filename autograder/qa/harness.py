"""Execute a notebook in a fresh kernel and judge its test cells as the grader does.

:func:`run_judged` draws the judge's challenges, runs the notebook with the same observing
executor as the grading workers (:class:`autograder.grade.preprocessors.ObservingExecution`) and
returns the judge's verdict per test cell. Used by the notebook tests and the grading-accuracy
report (unsandboxed, in fast mode); the real autograde path is ``nbgrader autograde`` in the
sandbox (see autograder/grade/pipeline.py and autograder/grade/worker.py), which judges the
same way.
"""

from __future__ import annotations

import secrets
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.build import nbgrader_env, source_path
from autograder.grade.preprocessors import ObservingExecution, grade_id_of, neutralise_metadata
from autograder.judge import protocol
from autograder.qa.variants import Variant, apply


class ObservingClient(ObservingExecution, NotebookClient):
    """nbclient's executor with the grading workers' observation taking."""

@dataclass
class CellResult:
    grade_id: str
    points: float
    passed: bool
    message: str  # the judge's message ("" when passed)


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
    with tempfile.TemporaryDirectory(prefix="tfr-", dir="/tmp") as tmp:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", allow_errors=True,
            resources={"metadata": {"path": str(cwd or tmp)}},
        )
        # The kernel's own stderr (TensorFlow start-up chatter) is not part of any cell output.
        client.execute(env=env or grading_env(), stderr=subprocess.DEVNULL)
    return nb


def run_judged(
    nb: nbformat.NotebookNode, assignment: str, seed: int | None = None, timeout: int = 300,
) -> dict[str, CellResult]:
    """Run ``nb`` with fresh challenges and return the judge's verdict for each test cell."""
    seed = secrets.randbits(63) if seed is None else seed
    points = {gid: float(cell.metadata["nbgrader"].get("points", 0)) for cell in nb.cells
              if (gid := grade_id_of(cell))}
    challenges = protocol.make_challenges(assignment, seed)
    nonce = secrets.token_hex(8)
    neutralise_metadata(nb)
    with tempfile.TemporaryDirectory(prefix="tfr-", dir="/tmp") as tmp:
        challenge_dir, obs_dir, work = Path(tmp) / "challenge", Path(tmp) / "obs", Path(tmp) / "w"
        protocol.write_challenges(Path(tmp) / "challenges", challenges, nonce)
        for folder in (challenge_dir, obs_dir, work):
            folder.mkdir()
        oracle = protocol.Oracle(assignment, challenges, nonce, Path(tmp) / "o").start()
        client = ObservingClient(
            nb, timeout=timeout, kernel_name="python3", allow_errors=True,
            resources={"metadata": {"path": str(work)}},
            observation_dir=str(obs_dir), run_nonce=nonce, oracle_socket=str(oracle.path),
            challenge_source=str(Path(tmp) / "challenges"), challenge_dir=str(challenge_dir),
        )
        evidence = client.start_evidence()
        try:
            client.execute(env=grading_env({"TFCOURSE_CHALLENGE_DIR": str(challenge_dir),
                                            "TFCOURSE_OBS_DIR": str(obs_dir),
                                            "TFCOURSE_ORACLE": str(oracle.path)}),
                           stderr=subprocess.DEVNULL)
        finally:
            oracle.stop()
    verdicts = protocol.judge_all(assignment, challenges, evidence, points)
    return {v.grade_id: CellResult(v.grade_id, v.max_score, v.passed, v.message)
            for v in verdicts}


def run_source(assignment: str, variant: Variant | None = None) -> dict[str, CellResult]:
    """Execute the source notebook (optionally with a variant's answers) and judge it."""
    nb = nbformat.read(source_path(assignment), as_version=4)
    if variant is not None:
        nb = apply(nb, variant)
    return run_judged(nb, assignment)


def run_many(
    assignment: str, variants: list[Variant], workers: int = 2
) -> dict[str, dict[str, CellResult]]:
    """Grade many variants, each in its own fresh kernel, ``workers`` kernels at a time."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {v.name: pool.submit(run_source, assignment, v) for v in variants}
        return {name: f.result() for name, f in futures.items()}
