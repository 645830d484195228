"""Grade one submission: a pure function from a serialisable job to a serialisable result.

:func:`grade` builds a private course (a copy of the gradebook, the release and this one
submission, in its own scratch folder), runs nbgrader's own ``Autograde`` converter in-process
through :class:`nbgrader.apps.NbGraderAPI` (hidden tests restored from the gradebook, locked
cells overwritten, missing test cells re-added), with the kernel confined by
:mod:`autograder.grade.sandbox`, and returns the scores read from the private gradebook, the
autograded notebook and the log. It never touches the course's real state: the single writer in
the main process records results (:mod:`autograder.grade.writer`). Jobs and results are
JSON-able records (:mod:`autograder.records`), so another backend (a batch queue, other machines
sharing the scratch inputs) can run the same function.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import nbformat

from autograder.build import REPO_ROOT
from autograder.course import CourseState, configure_nbgrader, private_course
from autograder.grade import sandbox
from autograder.records import Flag, GradeJob, GradeResult, GradeRow


def nbgrader_config(
    course_root: Path, cell_timeout: int, ipc_prefix: Path | None,
    observing: dict[str, str] | None = None,
) -> Any:
    """The course's nbgrader_config.py, re-pointed at a private course folder.

    ``observing``: ``observation_dir``, ``run_nonce`` and ``evidence_file`` of the executor
    (:class:`autograder.grade.preprocessors.ObservingExecution`).
    """
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO_ROOT)).load_config()
    overrides = Config()
    configure_nbgrader(overrides.CourseDirectory, course_root, course_root)
    overrides.Execute.timeout = int(cell_timeout)
    overrides.Execute.interrupt_on_timeout = True
    for name, value in (observing or {}).items():
        setattr(overrides.SurvivingExecute, name, value)
    if ipc_prefix is not None:
        # ZMQ over IPC sockets (files) so the kernel can live in its own network namespace;
        # an absolute prefix because client and kernel run in different working folders.
        overrides.KernelManager.transport = "ipc"
        overrides.KernelManager.ip = str(ipc_prefix)
    config.merge(overrides)
    return config


def grade_cells(db_url: str, course_id: str, assignment: str) -> list[tuple[str, str, float]]:
    """(grade id, notebook, max score) of every grade cell, from the gradebook (not the
    submission: a student cannot add, drop or re-weight a graded cell)."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        return [(cell.name, notebook.name, float(cell.max_score))
                for notebook in gb.find_assignment(assignment).notebooks
                for cell in notebook.grade_cells]


def static_flags(notebook: Path) -> list[Flag]:
    """:func:`~autograder.grade.integrity.scan` of a submitted notebook ([] if unreadable)."""
    from autograder.grade import integrity

    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception:  # not JSON / not a notebook: graded 0 as an error anyway
        return []
    return list(integrity.scan(nb))


def evidence_flags(evidence: dict) -> list[Flag]:
    """Flags from the executor's evidence (structured, never read from cell outputs)."""
    died = evidence.get("kernel_died")
    if not died:
        return []
    return [Flag("kernel-died", "the kernel died (exit, crash or resource limit); the cells "
                 "after it did not run and score 0", str(died), 0)]


def annotate(nb: nbformat.NotebookNode, verdicts: dict[str, Any]) -> None:
    """Append the judge's verdict to each test cell's outputs (what feedback and formgrader
    show next to the cell)."""
    from autograder.grade.preprocessors import grade_id_of

    for cell in nb.cells:
        verdict = verdicts.get(grade_id_of(cell) or "")
        if verdict is None:
            continue
        text = f"[grader] {verdict.score:g} / {verdict.max_score:g} points"
        text += "\n" if verdict.passed else f": {verdict.message}\n"
        cell.setdefault("outputs", []).append(
            nbformat.v4.new_output("stream", name="stdout", text=text))


def grade(job: GradeJob | dict) -> dict:
    """Grade one submission; never raises for a bad submission (status says what happened)."""
    job = GradeJob.from_dict(job) if isinstance(job, dict) else job
    start = time.monotonic()
    result = GradeResult(job.assignment, job.student, job.key, "error", sandboxed=job.sandbox)
    root = Path(tempfile.mkdtemp(prefix="tfg-", dir=job.scratch_root or None))
    try:
        _grade_into(job, root, result)
    except Exception as exc:  # a broken submission must not stop the others
        result.status = "error"
        result.reason = result.reason or f"{type(exc).__name__}: {exc}"
        result.log += "\n" + traceback.format_exc()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result.seconds = round(time.monotonic() - start, 3)
    return result.to_dict()


def _grade_into(job: GradeJob, root: Path, result: GradeResult) -> None:
    course, scratch = root / "course", root / "s"
    notebook = f"{job.assignment}.ipynb"
    private = private_course(course, job.assignment, Path(job.release_dir))
    submitted = private.submission_dir(job.assignment, job.student)
    shutil.copytree(job.submission_dir, submitted)
    shutil.copy2(job.gradebook, private.gradebook)

    if not (submitted / notebook).is_file():
        result.reason = f"no {notebook} in the submission"
        return
    try:
        nbformat.validate(nbformat.read(submitted / notebook, as_version=4))
    except Exception as exc:  # not JSON, not a notebook, or invalid against the schema
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        result.reason = f"the submitted file is not a valid notebook ({type(exc).__name__}: "
        result.reason += f"{first})"
        return
    result.flags = static_flags(submitted / notebook)
    extra = sorted(p.name for p in submitted.glob("*.ipynb") if p.name != notebook)
    notes = [f"other notebooks in the submission were not graded: {', '.join(extra)}"] \
        if extra else []
    uid = sandbox.sandbox_uid(job.slot)
    # The judge's challenges: fresh inputs for this run, drawn before the notebook runs.
    from autograder.judge import protocol

    result.seed = secrets.randbits(63)
    nonce = secrets.token_hex(16)
    challenges = protocol.make_challenges(job.assignment, result.seed)
    exchange = (root / "challenge", root / "obs", root / "oracle")
    protocol.write_challenges(root / "challenges", challenges, nonce)  # private
    exchange[0].mkdir(mode=0o755)  # the kernel's view: one at a time
    exchange[1].mkdir(mode=0o700)
    oracle = protocol.Oracle(job.assignment, challenges, nonce, exchange[2]).start()
    try:
        _run_and_judge(job, root, course, scratch, submitted, notebook, uid, exchange, nonce,
                       challenges, oracle.path, result, notes)
    finally:
        oracle.stop()


def _run_and_judge(job: GradeJob, root: Path, course: Path, scratch: Path, submitted: Path,
                   notebook: str, uid: int, exchange: tuple[Path, Path, Path], nonce: str,
                   challenges: dict, oracle_socket: Path, result: GradeResult,
                   notes: list[str]) -> None:
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from autograder.judge import protocol

    private = CourseState(course)
    evidence_file = root / "evidence.json"
    if job.sandbox:
        from autograder.grade import warm

        os.chown(exchange[1], uid, uid)
        sandbox.prepare_scratch(scratch, uid, submitted, sandbox.SandboxConfig(**job.limits))
        sandbox.write_kernelspec(
            root / "jupyter", scratch, Path(job.site_dir), uid,
            sandbox.SandboxConfig(**job.limits),
            Path(job.data_dir) if job.data_dir else None,
            Path(job.tfds_dir) if job.tfds_dir else None,
            exchange, warm.zygote_for(job),  # warm: the zygote forks the kernel
        )
    else:
        for sub in ("home", "work", "rt"):
            (scratch / sub).mkdir(parents=True, exist_ok=True)
        sandbox.unsandboxed_kernelspec(root / "jupyter", scratch, exchange)
    os.environ["JUPYTER_PATH"] = str(root / "jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(scratch / "rt")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    config = nbgrader_config(
        course, job.cell_timeout, scratch / "rt" / "kernel" if job.sandbox else None,
        {"observation_dir": str(exchange[1]), "run_nonce": nonce,
         "evidence_file": str(evidence_file), "challenge_source": str(root / "challenges"),
         "challenge_dir": str(exchange[0]), "oracle_socket": str(oracle_socket)},
    )
    coursedir = CourseDirectory(config=config)
    api = NbGraderAPI(coursedir=coursedir, config=config)
    out = api.autograde(job.assignment, job.student, force=True, create=True)
    result.log = out.get("log", "") or ""
    if out.get("error"):
        result.log += "\n" + out["error"]
    graded_path = private.autograded_notebook(job.assignment, job.student)
    if not out.get("success") or not graded_path.is_file():
        result.status = "error"
        result.reason = result.reason or _first_error(result.log) or "nbgrader autograde failed"
        return
    nb = nbformat.read(graded_path, as_version=4)
    evidence = json.loads(evidence_file.read_text()) if evidence_file.is_file() else {}
    cells = grade_cells(private.db_url, job.course_id, job.assignment)
    verdicts = {v.grade_id: v for v in protocol.judge_all(
        job.assignment, challenges, evidence, {gid: points for gid, _, points in cells})}
    result.grades = [GradeRow(gid, notebook, verdicts[gid].score, points, verdicts[gid].message)
                     for gid, notebook, points in cells]
    annotate(nb, verdicts)
    result.autograded = nbformat.writes(nb)
    result.status = "graded"
    died = evidence_flags(evidence)
    result.flags += died
    if died:
        notes.insert(0, "the kernel stopped early (exit, crash or resource limit); test cells "
                        "that never ran score 0")
    result.reason = "; ".join(notes)


def _first_error(log: str) -> str:
    """The most telling line of an nbgrader log (an exception or an [ERROR] line)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error:" in line or "Exception:" in line:
            return line[:300]
    for line in lines:
        if "[ERROR]" in line or "ERROR" in line:
            return line[:300]
    return ""


def main() -> int:
    """``python -m autograder.grade.worker JOB.json``: grade one job, print the result as JSON."""
    import sys

    job = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps(grade(job)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
