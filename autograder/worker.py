"""Grade one submission: a pure function from a serialisable job to a serialisable result.

:func:`grade` builds a private course (a copy of the gradebook, the release and this one
submission, in its own scratch folder), runs nbgrader's own ``Autograde`` converter in-process
through :class:`nbgrader.apps.NbGraderAPI` (hidden tests restored from the gradebook, locked
cells overwritten, missing test cells re-added), with the kernel confined by
:mod:`autograder.sandbox`, and returns the scores read from the private gradebook, the autograded
notebook and the log. It never touches the course's real state: the single writer in the main
process records results (:mod:`autograder.writer`). Jobs and results are plain JSON-able dicts,
so another backend (a batch queue, other machines sharing the scratch inputs) can run the
same function.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from autograder import sandbox
from autograder.build import REPO_ROOT


@dataclass
class GradeJob:
    """Everything a worker needs; paths must be readable by the worker."""

    assignment: str
    student: str
    submission_dir: str  # .../submitted/<student>/<assignment>
    gradebook: str  # snapshot of the gradebook (read-only for workers)
    release_dir: str  # release/<assignment>
    key: str  # hash of submission + release + source: unchanged key -> skip
    sandbox: bool = True
    limits: dict = field(default_factory=dict)  # SandboxConfig fields
    cell_timeout: int = 120
    site_dir: str = ""  # read-only import folder for the kernel (sandbox.build_site)
    data_dir: str = ""
    tfds_dir: str = ""
    scratch_root: str = ""  # where the private course is built ("" -> system temp)
    slot: int = 0  # worker slot (gives the kernel its own uid)
    course_id: str = "tf_custom_training"
    # start the next submission's sandboxed kernel during this one (autograder.warm)
    warm_kernel: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GradeJob:
        return cls(**data)


@dataclass
class GradeResult:
    """Outcome of one job. ``status``: graded | error | timeout | crashed."""

    assignment: str
    student: str
    key: str
    status: str
    reason: str = ""
    # one entry per grade cell: grade_id, notebook, score, max_score, message
    grades: list[dict] = field(default_factory=list)
    autograded: str | None = None  # the autograded notebook (JSON text)
    log: str = ""
    seconds: float = 0.0
    sandboxed: bool = True
    # integrity flags (rule, reason, cell, line): the submission needs manual review
    flags: list[dict] = field(default_factory=list)
    # the judge's seed for this run: the challenges can be drawn again for an appeal
    seed: int | None = None

    @property
    def needs_review(self) -> bool:
        return bool(self.flags)

    @property
    def score(self) -> float:
        return sum(g["score"] for g in self.grades)

    @property
    def max_score(self) -> float:
        return sum(g["max_score"] for g in self.grades)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GradeResult:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def nbgrader_config(
    course_root: Path, db_path: Path, cell_timeout: int, ipc_prefix: Path | None,
    observing: dict[str, str] | None = None,
) -> Any:
    """The course's nbgrader_config.py, re-pointed at a private course folder.

    ``observing``: ``observation_dir``, ``run_nonce`` and ``evidence_file`` of the executor
    (:class:`autograder.preprocessors.ObservingExecution`).
    """
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO_ROOT)).load_config()
    overrides = Config()
    cd = overrides.CourseDirectory
    cd.root = str(course_root)
    cd.source_directory = "source"
    cd.release_directory = "release"
    cd.submitted_directory = "submitted"
    cd.autograded_directory = "autograded"
    cd.feedback_directory = "feedback"
    cd.db_url = f"sqlite:///{db_path}"
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


def grade_cells(db_path: Path, course_id: str, assignment: str) -> list[tuple[str, str, float]]:
    """(grade id, notebook, max score) of every grade cell, from the gradebook (not the
    submission: a student cannot add, drop or re-weight a graded cell)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db_path}", course_id) as gb:
        return [(cell.name, notebook.name, float(cell.max_score))
                for notebook in gb.find_assignment(assignment).notebooks
                for cell in notebook.grade_cells]


def static_flags(notebook: Path) -> list[dict]:
    """:func:`autograder.integrity.scan` of a submitted notebook ([] if it cannot be read)."""
    from autograder import integrity

    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception:  # not JSON / not a notebook: graded 0 as an error anyway
        return []
    return [f.to_dict() for f in integrity.scan(nb)]


def evidence_flags(evidence: dict) -> list[dict]:
    """Flags from the executor's evidence (structured, never read from cell outputs)."""
    from autograder.integrity import Flag

    died = evidence.get("kernel_died")
    if not died:
        return []
    return [Flag("kernel-died", "the kernel died (exit, crash or resource limit); the cells "
                 "after it did not run and score 0", str(died), 0).to_dict()]


def annotate(nb: nbformat.NotebookNode, verdicts: dict[str, Any]) -> None:
    """Append the judge's verdict to each test cell's outputs (what feedback and formgrader
    show next to the cell)."""
    from autograder.preprocessors import grade_id_of

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
    from autograder import warm

    # a warm spare: this job's own folder and kernel, started during the previous job
    warmed = warm.claim(job)
    root = warmed or Path(tempfile.mkdtemp(prefix="tfg-", dir=job.scratch_root or None))
    warm.prepare_next(job)  # the next job's spare starts while this one is graded
    try:
        _grade_into(job, root, result)
    except Exception as exc:  # a broken submission must not stop the others
        result.status = "error"
        result.reason = result.reason or f"{type(exc).__name__}: {exc}"
        result.log += "\n" + traceback.format_exc()
    finally:
        warm.release_claimed()
        shutil.rmtree(root, ignore_errors=True)
    result.seconds = round(time.monotonic() - start, 3)
    return result.to_dict()


def _grade_into(job: GradeJob, root: Path, result: GradeResult) -> None:
    course, scratch = root / "course", root / "s"
    notebook = f"{job.assignment}.ipynb"
    shutil.copytree(job.release_dir, course / "release" / job.assignment)
    (course / "source" / job.assignment).mkdir(parents=True)
    submitted = course / "submitted" / job.student / job.assignment
    shutil.copytree(job.submission_dir, submitted)
    db_path = course / "gradebook.db"
    shutil.copy2(job.gradebook, db_path)

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
    warmed = (root / "s").is_dir()  # a warm spare made these (autograder.warm)
    exchange[0].mkdir(mode=0o755, exist_ok=warmed)  # the kernel's view: one at a time
    exchange[1].mkdir(mode=0o700, exist_ok=warmed)
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

    db_path = course / "gradebook.db"
    evidence_file = root / "evidence.json"
    if job.sandbox:
        os.chown(exchange[1], uid, uid)
        if (root / "jupyter").is_dir():  # a warm spare: scratch and kernel are ready
            sandbox.fill_scratch(scratch, uid, submitted, sandbox.SandboxConfig(**job.limits))
        else:
            sandbox.prepare_scratch(scratch, uid, submitted,
                                    sandbox.SandboxConfig(**job.limits))
        sandbox.write_kernelspec(
            root / "jupyter", scratch, Path(job.site_dir), uid,
            sandbox.SandboxConfig(**job.limits),
            Path(job.data_dir) if job.data_dir else None,
            Path(job.tfds_dir) if job.tfds_dir else None,
            exchange,
        )
    else:
        for sub in ("home", "work", "rt"):
            (scratch / sub).mkdir(parents=True, exist_ok=True)
        sandbox.unsandboxed_kernelspec(root / "jupyter", scratch, exchange)
    os.environ["JUPYTER_PATH"] = str(root / "jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(scratch / "rt")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    config = nbgrader_config(
        course, db_path, job.cell_timeout, scratch / "rt" / "kernel" if job.sandbox else None,
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
    graded_path = course / "autograded" / job.student / job.assignment / notebook
    if not out.get("success") or not graded_path.is_file():
        result.status = "error"
        result.reason = result.reason or _first_error(result.log) or "nbgrader autograde failed"
        return
    nb = nbformat.read(graded_path, as_version=4)
    evidence = json.loads(evidence_file.read_text()) if evidence_file.is_file() else {}
    cells = grade_cells(db_path, job.course_id, job.assignment)
    verdicts = {v.grade_id: v for v in protocol.judge_all(
        job.assignment, challenges, evidence, {gid: points for gid, _, points in cells})}
    result.grades = [
        {"grade_id": gid, "notebook": notebook, "score": verdicts[gid].score,
         "max_score": points, "message": verdicts[gid].message}
        for gid, notebook, points in cells
    ]
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


def serve(conn: Any, log_dir: str | None = None) -> None:
    """Worker process loop: receive job dicts on ``conn``, send result dicts back.

    The worker's stdout/stderr (nbgrader's warnings, the kernel's own console output) go to
    ``log_dir/worker-<pid>.out`` instead of the instructor's terminal.
    """
    import warnings

    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        out = open(Path(log_dir) / f"worker-{os.getpid()}.out", "a")
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    warnings.filterwarnings("ignore", module="nbgrader")
    import nbgrader.apps  # noqa: F401 (import once per worker, not per submission)

    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            from autograder import warm

            warm.discard()
            return
        conn.send(grade(job))


def main() -> int:
    """``python -m autograder.worker JOB.json``: grade one job, print the result as JSON."""
    import sys

    job = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps(grade(job)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
