"""The Dask backend against a real ``dask scheduler`` and two ``dask worker`` processes.

The cluster runs on 127.0.0.1 as subprocesses, each worker in its own empty working folder with
``--nthreads 1`` (so nothing is shared with the instructor's process but what the jobs carry).
Kept cheap for CI: small batches (``examples.make(limit=...)``), fast mode, short timeouts.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from autograder import build, cli
from autograder.course import CourseState
from autograder.grade import pipeline
from autograder.grade.backends import dask_backend
from autograder.grade.pipeline import Settings
from autograder.qa import examples

VENV_BIN = Path(sys.executable).parent
ASSIGNMENTS = ("training_basics", "breast_cancer")
FAST = {"cell_timeout": 60, "notebook_timeout": 300, "progress": False,
        "warm_kernels": False}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "3"}
    return subprocess.Popen([str(VENV_BIN / "dask"), *args], cwd=cwd, env=env,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, [worker processes]): a scheduler and two workers on loopback."""
    root = tmp_path_factory.mktemp("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [_start(["scheduler", "--host", "127.0.0.1", "--port", str(port),
                     "--no-dashboard"], root / "scheduler", root / "scheduler.log")]
    workers = []
    for i in range(2):
        workers.append(_start(["worker", address, "--nthreads", "1", "--memory-limit", "0",
                               "--no-dashboard", "--local-directory", str(root / f"w{i}")],
                              root / f"w{i}", root / f"worker{i}.log"))
    procs += workers
    from distributed import Client

    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _course(root: Path, assignments: tuple[str, ...], limit: int) -> CourseState:
    """Release ``assignments`` into a fresh course state and collect the demo's examples."""
    state = CourseState(root)
    root.mkdir(parents=True)
    for assignment in assignments:
        build.generate_release(assignment, release_dir=state.release, state_dir=state.root)
        inbox = root.parent / f"{root.name}-inbox" / assignment
        examples.make(inbox, assignment, state.release, limit=limit)
        from autograder.grade.collect import collect

        collect(inbox, assignment, state.submitted)
    return state


def message_kind(message: str) -> str:
    """What a verdict message says, without what it observed: its "Likely mistake: ..." part
    (numbers masked), else its text up to the first number."""
    if "Likely mistake:" in message:
        hint = message.split("Likely mistake:", 1)[1]
        return "Likely mistake:" + re.sub(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", "#", hint)
    return re.split(r"[-+]?\d", message, maxsplit=1)[0]


def _outcome(result) -> dict:
    return {"status": result.status, "flags": [f.to_dict() for f in result.flags],
            "reason": message_kind(result.reason),
            "grades": {g.grade_id: (g.score, g.max_score, message_kind(g.message))
                       for g in result.grades}}


@pytest.mark.slow
def test_dask_grades_like_local(tmp_path, cluster):
    """12 submissions of two assignments (reference, a correct variant, mutants, blank,
    corrupt) graded by the local pool and by the Dask cluster give the same status, score of
    every grade cell, flags and message *kind* per submission.

    Messages are compared by kind (:func:`message_kind`: the likely mistake a message names,
    else its text up to the first number): the judge draws fresh inputs (a new seed) for every
    grading run, so what a message quotes (observed and expected values, the shape of a weight,
    which weight is furthest off) differs between two runs of the same backend too, while the
    mistake it names must not.

    The Dask run also uses warm kernels (each worker starts the next submission's kernel
    during the current one), the local run cold ones: one comparison covers both properties
    (a failure names the submission; rerun with ``warm_kernels=False`` to tell them apart).
    """
    address, _ = cluster
    state = _course(tmp_path / "s", ASSIGNMENTS, limit=4)
    local, dask = {}, {}
    for assignment in ASSIGNMENTS:
        for r in pipeline.autograde(state, assignment, settings=Settings(workers=2, **FAST)):
            local[(assignment, r.student)] = r
    with dask_backend.DaskBackend(Settings(backend="dask", scheduler=address, **FAST),
                                  None, lambda _m: None) as backend:
        for assignment in ASSIGNMENTS:
            for r in pipeline.autograde(
                    state, assignment, settings=Settings(
                        backend="dask", scheduler=address, force=True,
                        **{**FAST, "warm_kernels": True}),
                    backend=backend):
                dask[(assignment, r.student)] = r
    assert len(local) >= 12 and sorted(local) == sorted(dask)
    assert all(r.status == "graded" for k, r in dask.items() if k[1] != "corrupt")
    differ = {}
    for key in sorted(local):
        mine, theirs = _outcome(dask[key]), _outcome(local[key])
        if mine != theirs:
            differ[key] = {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
            if "grades" in differ[key]:
                differ[key]["grades"] = {
                    g: (mine["grades"].get(g), theirs["grades"].get(g))
                    for g in theirs["grades"] if mine["grades"].get(g) != theirs["grades"][g]}
    assert not differ, differ
    assert dask[("breast_cancer", "reference")].score == dask[("breast_cancer",
                                                                "reference")].max_score > 0


@pytest.mark.slow
def test_worker_killed_mid_run_every_submission_recorded_once(tmp_path, cluster):
    """One worker (its nanny, worker process, grading process and sandboxed kernel) is killed
    while it grades; the scheduler re-runs that job on the other worker and every submission
    is recorded exactly once, graded."""
    address, workers = cluster
    state = _course(tmp_path / "s", ("training_basics",), limit=3)
    victim = workers[0]
    killed: list[str] = []

    def kill_when_busy() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            try:
                tree = psutil.Process(victim.pid).children(recursive=True)
                busy = any("bwrap" in " ".join(p.cmdline()) for p in tree)
            except psutil.Error:
                busy = False
            if busy:
                time.sleep(2)  # well into the notebook
                os.killpg(victim.pid, signal.SIGKILL)
                killed.append("yes")
            time.sleep(0.2)

    killer = threading.Thread(target=kill_when_busy, daemon=True)
    killer.start()
    results = pipeline.autograde(state, "training_basics",
                                 settings=Settings(backend="dask", scheduler=address, **FAST),
                                 out=lambda _m: None)
    killer.join(timeout=5)
    assert killed, "the victim worker never ran a job"
    students = sorted(state.students("training_basics"))
    assert sorted(r.student for r in results) == students  # one on_result per submission
    log = (state.logs / "autograde.log").read_text().splitlines()
    for student in students:
        assert sum(f" {student}/training_basics: " in line for line in log) == 1, student
        assert (state.grades / "training_basics" / f"{student}.json").is_file()
    by = {r.student: r for r in results}
    assert all(r.status == "graded" for s, r in by.items() if s != "corrupt"), {
        s: r.reason for s, r in by.items()}
    assert by["reference"].score == by["reference"].max_score > 0


def test_closed_port_gives_clear_error_fast(tmp_path, monkeypatch, capsys):
    """A scheduler address where nothing listens: the CLI says so within 10 s."""
    state = CourseState(tmp_path / "s")
    (state.submitted / "alice" / "training_basics").mkdir(parents=True)
    monkeypatch.setenv("TFCOURSE_STATE_DIR", str(state.root))
    start = time.monotonic()
    code = cli.main(["autograde", "--assignment", "training_basics", "--backend", "dask",
                     "--scheduler", f"tcp://127.0.0.1:{_free_port()}", "--no-progress"])
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:" in err, err
    assert elapsed < 10, elapsed


def test_worker_without_sandbox_refuses(monkeypatch):
    """A worker without bubblewrap reports why it refuses (what the instructor sees first)."""
    monkeypatch.setattr("shutil.which", lambda _name: None)
    report = dask_backend.worker_report(True, "")
    assert not report["ok"] and "bubblewrap" in report["reason"]
    assert dask_backend.worker_report(False, "")["ok"]
    other = dask_backend.worker_report(False, "0" * 16)
    assert other["ok"] and "differs from the instructor's" in other["warning"]


def test_pack_tree_skips_symlinks_and_enforces_quota(tmp_path):
    (tmp_path / "sub" / "d").mkdir(parents=True)
    (tmp_path / "sub" / "a.ipynb").write_text("{}")
    (tmp_path / "sub" / "d" / "data.csv").write_text("1,2\n")
    (tmp_path / "sub" / "link").symlink_to("/etc/passwd")
    skipped: list[str] = []
    data = dask_backend.pack_tree(tmp_path / "sub", skipped)
    out = tmp_path / "out"
    out.mkdir()
    dask_backend._extract(data, out)
    assert skipped == ["link"]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "a.ipynb", "d", "d/data.csv"]
    with pytest.raises(ValueError, match="scratch quota"):
        dask_backend.pack_tree(tmp_path / "sub", [], quota=3)
