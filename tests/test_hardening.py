"""Hardening (issue 12): root never follows a student's path, every resource has a cap, one bad
submission never stops a batch.

Grading cases run through the real pipeline (``pipeline.autograde``: nbgrader, 2 workers,
bubblewrap sandbox) on the real ``training_basics`` release with tight caps: one batch holds
a prober (the reference answers plus cells that attack the grader's paths and caps, and side
files that are symlinks), a flooder (2 x 150 MB of rich output), a symlinked notebook and a
240-character student id; another run times out twice. Collect, zip, report and feedback
cases need no kernel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from autograder import build, cli
from autograder.course import CourseState
from autograder.grade import collect, pipeline, sandbox, writer
from autograder.grade.backends import local
from autograder.grade.pipeline import Settings
from autograder.qa import variants
from autograder.review import feedback, report

ASSIGNMENT = "training_basics"
MiB = 1 << 20
LONG_ID = "a" * 240
CAPS = dict(tmp_bytes=16 * MiB, scratch_bytes=48 * MiB, max_output_bytes=8 * MiB,
            memory_bytes=3 << 30, max_processes=256)

PROBE = r'''
import ctypes as _c, errno as _e, json as _j, os as _o
_r = {}
_r["cwd"] = sorted(_o.listdir("."))
_r["data"] = open("data.csv").read() if _o.path.exists("data.csv") else None
_rt = _o.environ["JUPYTER_RUNTIME_DIR"]
for _name, _call in [("rename_rt", lambda: _o.rename(_rt, _rt + ".moved")),
                     ("rename_work", lambda: _o.rename(_o.getcwd(), _o.getcwd() + ".x")),
                     ("symlink_top", lambda: _o.symlink(__DECOY__, _o.path.dirname(_rt) + "/x"))]:
    try:
        _call(); _r[_name] = "DONE"
    except OSError as _x:
        _r[_name] = _e.errorcode.get(_x.errno, str(_x.errno))
def _fill(folder):
    _n = 0
    try:
        with open(_o.path.join(folder, "fill.bin"), "wb") as _f:
            while _n < 256:
                _f.write(b"\0" * (1 << 20)); _f.flush(); _o.fsync(_f.fileno()); _n += 1
        return [_n, "NO LIMIT"]
    except OSError as _x:
        return [_n, _e.errorcode.get(_x.errno, str(_x.errno))]
    finally:
        try: _o.remove(_o.path.join(folder, "fill.bin"))
        except OSError: pass
_r["tmp_fill"] = _fill("/tmp")
_r["scratch_fill"] = _fill(".")
_libc = _c.CDLL(None, use_errno=True)
_libc.syscall.restype = _c.c_long
for _name, _args in [("add_key", (248, b"user", b"tfg-key", b"secret", 6, -4)),
                     ("request_key", (249, b"user", b"tfg-key", None, 0)),
                     ("keyctl", (250, 0, -4, 0))]:
    _ret = _libc.syscall(*_args)
    _r[_name] = "OK" if _ret >= 0 else _e.errorcode.get(_c.get_errno(), "?")
print("PROBE " + _j.dumps(_r), flush=True)
_o.write(1, b"RAW-STDOUT-MARKER\n" * 200)
'''
XSS_MARKDOWN = ('<script>alert("MD-XSS")</script>\n\n<img src="x" onerror="alert(\'MD-ONERR\')">'
                '\n\n[link](javascript:alert("MD-JSLINK"))')
XSS_OUTPUT = '''from IPython.display import HTML, Javascript, SVG, display
display(HTML('<script>alert("OUT-XSS")</script><b onmouseover="alert(\\'OUT-ON\\')">b</b>'))
display(Javascript('alert("JS-XSS")'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(\\'SVG-ON\\')"></svg>'))'''
FLOOD = '''from IPython.display import display
_big = "x" * (150 * 1024 * 1024)
for _ in range(2):
    display({"text/plain": _big}, raw=True)
del _big
print("after the flood")'''


def _notebooks() -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    release = nbformat.read(build.release_path(ASSIGNMENT), as_version=4)
    return release, nbformat.read(build.source_path(ASSIGNMENT), as_version=4)


def _reference(extra: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    release, source = _notebooks()
    nb = variants.as_submission(release, source, None)
    nb.cells[2:2] = extra
    return nb


def _release(root: Path, monkeypatch_env) -> CourseState:
    state = CourseState(root)
    monkeypatch_env("TFCOURSE_STATE_DIR", str(root))
    assert cli.main(["release", ASSIGNMENT]) == 0
    return state


def _submit(state: CourseState, student: str, nb: nbformat.NotebookNode) -> Path:
    folder = state.submission_dir(ASSIGNMENT, student)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
    return folder


def _record(state: CourseState, student: str) -> dict:
    return json.loads((state.grades / ASSIGNMENT / f"{student}.json").read_text())


def _outputs(state: CourseState, student: str) -> str:
    nb = nbformat.read(state.autograded / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    return "\n".join(str(o.get("text", "")) + str(o.get("evalue", ""))
                     for c in nb.cells for o in c.get("outputs", []))


def _short_scratch() -> Path:
    """A scratch root with a short path (the kernel's socket paths must fit in 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix="tfh-", dir="/tmp"))


def _mounts_under(folder: Path) -> list[str]:
    return sandbox.mounts_under(folder)


@pytest.fixture(scope="module")
def env_setter():
    mp = pytest.MonkeyPatch()
    yield mp.setenv
    mp.undo()


@pytest.fixture(scope="module")
def batch(tmp_path_factory, env_setter):
    """One sandboxed batch: prober, flooder, symlinked notebook, long id, a record that fails."""
    base = tmp_path_factory.mktemp("hardening")
    state = _release(base / "state", env_setter)
    decoy = base / "decoy"
    decoy.mkdir()
    for name in ["kernel-1", "kernel-2", "kernel-3", "kernel-4", "kernel-5", "x"]:
        (decoy / name).write_text("must survive")
    probe = nbformat.v4.new_code_cell(PROBE.replace("__DECOY__", repr(str(decoy))))
    prober = _submit(state, "prober", _reference([
        probe, nbformat.v4.new_markdown_cell(XSS_MARKDOWN),
        nbformat.v4.new_code_cell(XSS_OUTPUT)]))
    (prober / "data.csv").write_text("1,2,3\n")
    (prober / "shadow").symlink_to("/etc/shadow")
    (prober / "notes.txt").symlink_to(build.source_path(ASSIGNMENT))
    (prober / "srcdir").symlink_to(build.REPO_ROOT / "source")
    os.mkfifo(prober / "pipe")
    _submit(state, "flooder", _reference([nbformat.v4.new_code_cell(FLOOD)]))
    linked = state.submission_dir(ASSIGNMENT, "linked")
    linked.mkdir(parents=True)
    (linked / f"{ASSIGNMENT}.ipynb").symlink_to(build.source_path(ASSIGNMENT))
    release, _ = _notebooks()
    _submit(state, LONG_ID, release)
    _submit(state, "unlucky", release)
    scratch_root = _short_scratch()
    settings = Settings(workers=2, progress=False, cell_timeout=90, notebook_timeout=400,
                        limits=sandbox.SandboxConfig(**CAPS), scratch_root=str(scratch_root))
    real_record = writer.Writer.record

    def record(self, result, timestamp=None):
        if result.student == "unlucky" and result.status != "error":
            raise OSError("disk on fire")  # an exception while recording one submission
        return real_record(self, result, timestamp)

    mp = pytest.MonkeyPatch()
    mp.setattr(writer.Writer, "record", record)
    start = time.monotonic()
    try:
        results = pipeline.autograde(state, ASSIGNMENT, settings=settings)
    finally:
        mp.undo()
    yield {"state": state, "results": {r.student: r for r in results}, "decoy": decoy,
           "scratch_root": scratch_root, "seconds": time.monotonic() - start}
    shutil.rmtree(scratch_root, ignore_errors=True)


def _probe(batch) -> dict:
    text = _outputs(batch["state"], "prober")
    match = re.search(r"PROBE (\{.*\})", text)
    assert match, text[-3000:]
    return json.loads(match.group(1))


@pytest.mark.slow
def test_symlinked_side_files_are_not_followed(batch):
    seen = _probe(batch)
    record = _record(batch["state"], "prober")
    assert record["status"] == "graded", record["reason"]
    assert seen["data"] == "1,2,3\n"  # a real side file still arrives
    assert not {"shadow", "notes.txt", "srcdir", "pipe"} & set(seen["cwd"]), seen["cwd"]
    for name in ("shadow", "notes.txt", "srcdir", "pipe"):
        assert name in record["reason"], record["reason"]


@pytest.mark.slow
def test_symlinked_notebook_in_submitted_is_an_error(batch):
    record = _record(batch["state"], "linked")
    assert record["status"] == "error" and "symbolic link" in record["reason"]
    assert not (batch["state"].autograded / "linked").exists()


@pytest.mark.slow
def test_runtime_folder_cannot_be_swapped(batch):
    seen = _probe(batch)
    assert seen["rename_rt"] in ("EACCES", "EPERM"), seen
    assert seen["rename_work"] in ("EACCES", "EPERM", "EBUSY"), seen
    assert seen["symlink_top"] in ("EACCES", "EPERM"), seen
    survivors = sorted(p.name for p in batch["decoy"].iterdir())
    assert survivors == ["kernel-1", "kernel-2", "kernel-3", "kernel-4", "kernel-5", "x"]


@pytest.mark.slow
def test_tmpfs_and_scratch_stop_at_their_caps(batch):
    seen = _probe(batch)
    written, error = seen["tmp_fill"]
    assert error == "ENOSPC" and written <= CAPS["tmp_bytes"] // MiB, seen["tmp_fill"]
    written, error = seen["scratch_fill"]
    assert error == "ENOSPC" and written <= CAPS["scratch_bytes"] // MiB, seen["scratch_fill"]


@pytest.mark.slow
def test_keyring_syscalls_are_refused(batch):
    seen = _probe(batch)
    assert {k: seen[k] for k in ("add_key", "request_key", "keyctl")} == {
        "add_key": "EPERM", "request_key": "EPERM", "keyctl": "EPERM"}
    assert {"add_key", "request_key", "keyctl"} <= set(sandbox.BLOCKED_SYSCALLS)


@pytest.mark.slow
def test_kernel_stdout_stays_out_of_worker_logs(batch):
    logs = batch["state"].logs / "workers"
    text = "".join(p.read_text(errors="replace") for p in logs.glob("*.out*"))
    assert "RAW-STDOUT-MARKER" not in text


@pytest.mark.slow
def test_300_mb_of_rich_output_is_truncated(batch):
    state = batch["state"]
    record = _record(state, "flooder")
    assert record["status"] == "graded", record["reason"]
    path = state.autograded / "flooder" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert path.stat().st_size < CAPS["max_output_bytes"] + 4 * MiB, path.stat().st_size
    assert "output truncated" in _outputs(state, "flooder")
    html_path = feedback.generate(state, ASSIGNMENT, ["flooder"])[0]
    assert html_path.stat().st_size < CAPS["max_output_bytes"] + 8 * MiB


@pytest.mark.slow
def test_long_id_and_failed_record_do_not_stop_the_batch(batch):
    state, results = batch["state"], batch["results"]
    assert results[LONG_ID].status == "error"
    assert "student id not accepted" in results[LONG_ID].reason
    unlucky = _record(state, "unlucky")
    assert unlucky["status"] == "error" and "disk on fire" in unlucky["reason"]
    assert results["prober"].status == results["flooder"].status == "graded"
    assert set(results) == {"prober", "flooder", "linked", LONG_ID, "unlucky"}


@pytest.mark.slow
def test_job_folders_and_mounts_are_released(batch):
    assert list(batch["scratch_root"].iterdir()) == []
    assert _mounts_under(batch["scratch_root"]) == []


class _Active(HTMLParser):
    """Collects script bodies and event-handler / javascript: attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"{tag} {name}={value}")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.found.append(data)


@pytest.mark.slow
def test_feedback_html_is_sanitised(batch):
    path = feedback.generate(batch["state"], ASSIGNMENT, ["prober"])[0]
    parser = _Active()
    parser.feed(path.read_text())
    active = "\n".join(parser.found)
    for marker in ("MD-XSS", "MD-ONERR", "MD-JSLINK", "OUT-XSS", "OUT-ON", "JS-XSS", "SVG-ON"):
        assert marker not in active, marker


# -- repeated timeout, killed worker ------------------------------------------------------------

@pytest.fixture(scope="module")
def timeouts(tmp_path_factory, env_setter):
    base = tmp_path_factory.mktemp("timeouts")
    state = _release(base / "state", env_setter)
    _submit(state, "sleeper", _reference([nbformat.v4.new_code_cell(
        "open('marker.txt', 'w').write('x')\nimport time\ntime.sleep(600)")]))
    scratch_root = _short_scratch()
    settings = Settings(workers=1, progress=False, cell_timeout=600, notebook_timeout=15,
                        max_attempts=2, scratch_root=str(scratch_root))
    runs = [pipeline.autograde(state, ASSIGNMENT, settings=settings) for _ in range(3)]
    yield state, runs, scratch_root
    shutil.rmtree(scratch_root, ignore_errors=True)


@pytest.mark.slow
def test_repeated_timeout_is_final_after_max_attempts(timeouts):
    state, runs, _ = timeouts
    assert [len(r) for r in runs] == [1, 1, 0]
    assert [r[0].status for r in runs[:2]] == ["timeout", "timeout"]
    record = _record(state, "sleeper")
    assert record["attempts"] == 2 and "not retried" in record["reason"]


@pytest.mark.slow
def test_killed_worker_leaves_no_private_course_or_scratch(timeouts):
    _, _, scratch_root = timeouts
    assert list(scratch_root.iterdir()) == []
    assert _mounts_under(scratch_root) == []
    assert not [p for p in Path("/tmp").glob(f"{local.RUN_PREFIX}{os.getpid()}-*")]


# -- collect, zip, report: no kernel -------------------------------------------------------------

def _nb_bytes() -> bytes:
    release, _ = _notebooks()
    return nbformat.writes(release).encode()


def test_collect_refuses_symlinked_notebooks(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "alice.ipynb").write_bytes(_nb_bytes())
    (inbox / "mallory.ipynb").symlink_to(build.source_path(ASSIGNMENT))
    outside = tmp_path / "outside" / "bob"
    outside.mkdir(parents=True)
    (outside / f"{ASSIGNMENT}.ipynb").write_bytes(_nb_bytes())
    (inbox / "bob").symlink_to(outside)
    submitted = tmp_path / "submitted"
    with pytest.raises(collect.CollectError, match="mallory.ipynb .symbolic link"):
        collect.collect(inbox, ASSIGNMENT, submitted)
    assert not submitted.exists()
    done = collect.collect(inbox, ASSIGNMENT, submitted, strict=False)
    assert set(done.students) == {"alice"}
    assert any("bob" in line and "symbolic link" in line for line in done.unmatched)


def test_collect_refuses_long_and_odd_student_ids(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / f"{LONG_ID}.ipynb").write_bytes(_nb_bytes())
    (inbox / "carol.ipynb").write_bytes(_nb_bytes())
    done = collect.collect(inbox, ASSIGNMENT, tmp_path / "submitted", strict=False)
    assert set(done.students) == {"carol"}
    assert collect.student_id_problem(LONG_ID) and collect.student_id_problem("-x")
    assert collect.student_id_problem("a" * 64) is None


def test_zip_bomb_is_refused(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("alice.ipynb", "w") as fh:
            for _ in range(64):
                fh.write(b"\0" * MiB)
    assert bomb.stat().st_size < MiB
    submitted = tmp_path / "submitted"
    start = time.monotonic()
    with pytest.raises(collect.CollectError, match="zip bomb"):
        collect.collect(bomb, ASSIGNMENT, submitted)
    assert time.monotonic() - start < 10 and not submitted.exists()
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(30):
            zf.writestr(f"s{i}.ipynb", b"{}")
    with pytest.raises(collect.CollectError, match="entries"):
        collect.collect(many, ASSIGNMENT, submitted, zip_limits=collect.ZipLimits(
            max_entries=20))
    with pytest.raises(collect.CollectError, match="expands to more than 1 MiB"):
        collect.collect(_big_zip(tmp_path), ASSIGNMENT, submitted,
                        zip_limits=collect.ZipLimits(max_total_bytes=MiB, max_ratio=1e9))


def _big_zip(tmp_path: Path) -> Path:
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("dave.ipynb", os.urandom(2 * MiB))
    return path


def test_zip_entries_keep_their_own_dates(tmp_path):
    archive = tmp_path / "class.zip"
    local = zipfile.ZipInfo("erin.ipynb", date_time=(2024, 3, 1, 12, 30, 0))
    utc = zipfile.ZipInfo("frank.ipynb", date_time=(2024, 3, 2, 9, 0, 0))
    stamp = 1709370000  # 2024-03-02 09:00:00 UTC
    utc.extra = b"\x55\x54\x05\x00\x01" + stamp.to_bytes(4, "little")
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(local, _nb_bytes())
        zf.writestr(utc, _nb_bytes())
    submitted = tmp_path / "submitted"
    collect.collect(archive, ASSIGNMENT, submitted)

    def stamp_of(student: str) -> str:
        return (submitted / student / ASSIGNMENT / "timestamp.txt").read_text().strip()

    import datetime as dt

    want_local = dt.datetime.fromtimestamp(time.mktime((2024, 3, 1, 12, 30, 0, 0, 0, -1)),
                                           tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert stamp_of("erin").startswith(want_local)
    assert stamp_of("frank").startswith("2024-03-02 09:00:00")


def test_escape_sequences_never_reach_the_terminal(tmp_path, monkeypatch, capsys):
    evil = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m\r\x08\x9b1m"
    state = tmp_path / "state"
    grades = state / "grades" / ASSIGNMENT
    grades.mkdir(parents=True)
    record = {"assignment": ASSIGNMENT, "student": "eve", "status": "error",
              "reason": f"ValueError: {evil}", "key": "k",
              "grades": [{"grade_id": "loss", "notebook": ASSIGNMENT, "score": 0.0,
                          "max_score": 1.0, "message": f"observed {evil}"}],
              "flags": [{"rule": "kernel-exit", "reason": evil, "cell": "c", "line": 1}]}
    (grades / "eve.json").write_text(json.dumps(record))
    monkeypatch.setenv("TFCOURSE_STATE_DIR", str(state))
    (state / "release" / ASSIGNMENT).mkdir(parents=True)
    assert cli.main(["report", "--assignment", ASSIGNMENT]) == 0
    summary = report.format_summary({"max_total": 1, "students": [
        {"student": "eve", "total": 0, "status": "error", "seconds": 1.0,
         "reason": record["reason"], "needs_review": True, "flags": record["flags"]}]})
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "x\x1b[2Jy.txt").write_text("")
    (inbox / "gina.ipynb").write_bytes(_nb_bytes())
    assert cli.main(["collect", str(inbox), "--assignment", ASSIGNMENT,
                     "--skip-unmatched"]) == 0
    out = capsys.readouterr()
    assert "red" in summary and "kernel-exit" in out.out and "red" in out.out
    assert "collected 1 submission" in out.out and "x[2Jy.txt" not in out.out
    for text in (out.out, out.err, summary):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), repr(text)


def test_worker_logs_are_rotated(tmp_path):
    log = tmp_path / "worker-1.out"
    with open(log, "a") as fh:
        fh.write("x" * (3 * MiB))
        local.rotate_logs(tmp_path, MiB)
        fh.write("after\n")  # the worker keeps appending to its open file
    assert log.read_text() == "after\n"
    assert (tmp_path / "worker-1.out.1").stat().st_size <= MiB // 2


def test_seccomp_program_is_well_formed():
    for machine in ("x86_64", "aarch64"):
        program = sandbox.seccomp_program(machine)
        assert len(program) % 8 == 0 and 40 < len(program) // 8 < 256
    with pytest.raises(sandbox.SandboxUnavailable):
        sandbox.seccomp_program("riscv64")
