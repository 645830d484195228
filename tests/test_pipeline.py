"""The instructor's grading pipeline end to end, on the real training_basics assignment.

One module-scoped course state is released, fed three submissions (the reference solution with
an added cell that attacks the sandbox, a mutant, a corrupt file) and graded with 2 workers in
the sandbox. The other tests reuse it: feedback, export, regrading with 1 worker, an
interrupted run that resumes. Fast tests (collect, CLI errors, --no-sandbox) need no kernel.
"""

from __future__ import annotations

import json
import re
import shutil
from html import unescape
from pathlib import Path

import nbformat
import pytest

from autograder import build, cli
from autograder.course import COURSE_ID, CourseState
from autograder.grade import collect, pipeline, writer
from autograder.grade.pipeline import Settings
from autograder.qa import variants
from autograder.review import feedback, report

ASSIGNMENT = "training_basics"
PROBE = r'''
import json as _json, os as _os, socket as _socket
_seen = {}
for _p in __PATHS__:
    try:
        _os.listdir(_p) if _os.path.isdir(_p) else open(_p, "rb").read(16)
        _seen[_p] = "READ"
    except Exception as _e:
        _seen[_p] = type(_e).__name__
try:
    _socket.create_connection(("1.1.1.1", 80), timeout=2)
    _seen["network"] = "OPEN"
except Exception as _e:
    _seen["network"] = type(_e).__name__
for _p in __WRITES__:
    try:
        open(_p, "w").write("pwned")
        _seen[_p] = "WROTE"
    except Exception as _e:
        _seen[_p] = type(_e).__name__
print("PROBE " + _json.dumps(_seen))
'''


def _hidden_lines(assignment: str) -> list[str]:
    """Every non-trivial line inside a hidden-test block of the source notebook."""
    nb = nbformat.read(build.source_path(assignment), as_version=4)
    release = build.release_path(assignment).read_text()
    lines = []
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if build.BEGIN_HIDDEN.match(line):
                inside = True
            elif build.END_HIDDEN.match(line):
                inside = False
            elif inside and len(line.strip()) >= 6 and line.strip() not in release:
                lines.append(line.strip())
    return lines


def _make_submissions(state: CourseState, folder: Path) -> None:
    release_nb = nbformat.read(state.release / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
                               as_version=4)
    source_nb = nbformat.read(build.source_path(ASSIGNMENT), as_version=4)
    folder.mkdir(parents=True, exist_ok=True)
    attacker = variants.as_submission(release_nb, source_nb, None)
    targets = [str(build.REPO_ROOT / "source"), str(state.gradebook), str(state.submitted),
               str(state.root / "run" / "gradebook.snapshot.db"), "/root/.profile"]
    writes = [str(build.REPO_ROOT / "pwned.txt"), str(state.root / "pwned.txt"), "/pwned.txt"]
    probe = PROBE.replace("__PATHS__", repr(targets)).replace("__WRITES__", repr(writes))
    attacker.cells.insert(2, nbformat.v4.new_code_cell(probe))
    nbformat.write(attacker, folder / "attacker.ipynb")
    mutant = next(v for v in variants.discover(ASSIGNMENT) if not v.is_correct)
    nbformat.write(variants.as_submission(release_nb, source_nb, mutant),
                   folder / f"mutant_{ASSIGNMENT}.ipynb")
    (folder / "corrupt").mkdir()
    (folder / "corrupt" / f"{ASSIGNMENT}.ipynb").write_text('{"cells": [ not json')


def _release_and_collect(root: Path, monkeypatch_env) -> CourseState:
    state = CourseState(root)
    monkeypatch_env("TFCOURSE_STATE_DIR", str(root))
    assert cli.main(["release", ASSIGNMENT]) == 0
    _make_submissions(state, root.parent / f"{root.name}-inbox")
    assert cli.main(["collect", str(root.parent / f"{root.name}-inbox"),
                     "--assignment", ASSIGNMENT]) == 0
    return state


def _scores(state: CourseState) -> dict[str, dict[str, float]]:
    data = report.table(state, ASSIGNMENT)
    return {row["student"]: row["scores"] for row in data["students"]}


@pytest.fixture(scope="module")
def env_setter():
    mp = pytest.MonkeyPatch()
    yield mp.setenv
    mp.undo()


@pytest.fixture(scope="module")
def graded(tmp_path_factory, env_setter):
    """A course state with three submissions graded by 2 sandboxed workers."""
    state = _release_and_collect(tmp_path_factory.mktemp("course") / "state", env_setter)
    results = pipeline.autograde(state, ASSIGNMENT, settings=Settings(workers=2,
                                                                       progress=False))
    return state, {r.student: r for r in results}


@pytest.mark.slow
def test_attacker_is_confined_and_still_graded(graded):
    state, results = graded
    result = results["attacker"]
    assert result.status == "graded", result.reason
    assert result.score == result.max_score > 0
    nb = nbformat.read(state.autograded / "attacker" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
                       as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    seen = json.loads(re.search(r"PROBE (\{.*\})", text).group(1))
    assert not {k: v for k, v in seen.items() if v in ("READ", "OPEN", "WROTE")}, seen
    assert not (build.REPO_ROOT / "pwned.txt").exists()
    assert not (state.root / "pwned.txt").exists()


@pytest.mark.slow
def test_mistakes_lose_points_and_corrupt_gets_zero_with_reason(graded):
    state, results = graded
    assert results["mutant"].status == "graded"
    assert results["mutant"].score < results["mutant"].max_score
    failed = [g for g in results["mutant"].grades if not g.passed]
    assert failed and all(g.message for g in failed)
    corrupt = results["corrupt"]
    assert corrupt.status == "error" and "not a valid notebook" in corrupt.reason
    scores = _scores(state)
    assert sum(scores["corrupt"].values()) == 0
    assert set(scores) == {"attacker", "mutant", "corrupt"}


@pytest.mark.slow
def test_feedback_has_scores_and_no_hidden_test_line(graded):
    state, results = graded
    paths = feedback.generate(state, ASSIGNMENT)
    assert len(paths) == 3
    hidden = _hidden_lines(ASSIGNMENT)
    assert hidden, "the assignment has no hidden tests to look for"
    for path in paths:
        raw = path.read_text()
        text = unescape(re.sub(r"<[^>]+>", "", raw))
        for line in hidden:
            assert line not in text and line not in raw, (path, line)
        assert "Total:" in text
    mutant_text = unescape(re.sub(r"<[^>]+>", "", (state.feedback / "mutant" / ASSIGNMENT /
                                                   f"{ASSIGNMENT}.html").read_text()))
    failed = next(g for g in results["mutant"].grades if not g.passed)
    assert failed.message.split(":")[0] in mutant_text


@pytest.mark.slow
def test_export_csv_and_json(graded):
    state, _ = graded
    csv_path, json_path = report.export(state, ASSIGNMENT)
    lines = csv_path.read_text().splitlines()
    header = lines[0].split(",")
    assert header[0] == "student" and "total" in header and len(lines) == 4
    data = json.loads(json_path.read_text())
    assert {r["student"] for r in data["students"]} == {"attacker", "mutant", "corrupt"}
    failures = report.failures(state, ASSIGNMENT)
    assert any(f["failed"] >= 1 and f["messages"] for f in failures)


@pytest.mark.slow
def test_rerun_skips_unchanged(graded, capsys):
    state, _ = graded
    before = _scores(state)
    results = pipeline.autograde(state, ASSIGNMENT, settings=Settings(workers=2,
                                                                       progress=False))
    assert results == []
    assert "3 submission(s) unchanged" in capsys.readouterr().out
    assert _scores(state) == before


@pytest.mark.slow
def test_interrupted_single_worker_run_resumes_to_identical_grades(
    graded, tmp_path, env_setter, monkeypatch
):
    """Fresh state, 1 worker, the writer dies after the first result; resume; compare."""
    state_a, _ = graded
    state = _release_and_collect(tmp_path / "state", env_setter)
    real_record = writer.Writer.record
    calls = []

    def record_then_die(self, result, timestamp=None):
        real_record(self, result, timestamp)
        calls.append(result.student)
        raise KeyboardInterrupt("simulated interruption")

    monkeypatch.setattr(writer.Writer, "record", record_then_die)
    with pytest.raises(KeyboardInterrupt):
        pipeline.autograde(state, ASSIGNMENT, settings=Settings(workers=1, progress=False))
    monkeypatch.setattr(writer.Writer, "record", real_record)
    assert len(calls) == 1
    assert len(list((state.grades / ASSIGNMENT).glob("*.json"))) == 1
    resumed = pipeline.autograde(state, ASSIGNMENT, settings=Settings(workers=1,
                                                                       progress=False))
    assert sorted(r.student for r in resumed) == sorted(
        {"attacker", "mutant", "corrupt"} - set(calls))
    assert _scores(state) == _scores(state_a)  # 1 worker == 2 workers, run twice
    from nbgrader.api import Gradebook

    with Gradebook(state.db_url, COURSE_ID) as gb:
        assert len(gb.find_assignment(ASSIGNMENT).submissions) == 3  # nothing duplicated


@pytest.mark.slow
def test_killed_worker_is_recorded_and_retried(graded, tmp_path):
    """A worker past the wall-clock limit is killed; the submission gets 0 'timeout', and
    the next run grades it again."""
    state_a, _ = graded
    state = CourseState(tmp_path / "state")
    shutil.copytree(state_a.root, state.root, ignore=shutil.ignore_patterns("grades"))
    results = pipeline.autograde(state, ASSIGNMENT, ["mutant"],
                                 Settings(workers=1, progress=False, notebook_timeout=3))
    assert [r.status for r in results] == ["timeout"]
    assert sum(_scores(state)["mutant"].values()) == 0
    again = pipeline.autograde(state, ASSIGNMENT, ["mutant"], Settings(workers=1,
                                                                        progress=False))
    assert [r.status for r in again] == ["graded"]
    assert _scores(state)["mutant"] == _scores(state_a)["mutant"]


# ---- fast tests: no kernel -------------------------------------------------------------------


def _nb(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(), path)
    return path


def test_collect_accepts_the_documented_names(tmp_path):
    inbox = tmp_path / "inbox"
    _nb(inbox / "alice.ipynb")
    _nb(inbox / "bob" / f"{ASSIGNMENT}.ipynb")
    _nb(inbox / f"carol_{ASSIGNMENT}.ipynb")
    _nb(inbox / "dave" / "my work.ipynb")
    (inbox / "erin.ipynb").write_text("{ broken")
    done = collect.collect(inbox, ASSIGNMENT, tmp_path / "submitted")
    assert sorted(done.students) == ["alice", "bob", "carol", "dave", "erin"]
    for student in done.students:
        folder = tmp_path / "submitted" / student / ASSIGNMENT
        assert (folder / f"{ASSIGNMENT}.ipynb").is_file()
        assert (folder / "timestamp.txt").read_text().strip()
    assert (tmp_path / "submitted" / "erin" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text() \
        == "{ broken"


def test_collect_from_zip(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "in.zip", "w") as zf:
        zf.writestr("alice/training_basics.ipynb", nbformat.writes(nbformat.v4.new_notebook()))
        zf.writestr("__MACOSX/alice/._training_basics.ipynb", "junk")
    done = collect.collect(tmp_path / "in.zip", ASSIGNMENT, tmp_path / "submitted")
    assert list(done.students) == ["alice"]


def test_collect_lists_every_unmatched_file(tmp_path):
    inbox = tmp_path / "inbox"
    _nb(inbox / "alice.ipynb")
    _nb(inbox / f"{ASSIGNMENT}.ipynb")
    (inbox / "notes.txt").write_text("hello")
    _nb(inbox / "zed" / "a.ipynb")
    _nb(inbox / "zed" / "b.ipynb")
    with pytest.raises(collect.CollectError) as err:
        collect.collect(inbox, ASSIGNMENT, tmp_path / "submitted")
    message = str(err.value)
    for name in (f"{ASSIGNMENT}.ipynb", "notes.txt", "zed/a.ipynb", "zed/b.ipynb"):
        assert name in message
    assert "accepted names" in message
    assert not (tmp_path / "submitted").exists()  # strict: nothing half-collected


def test_cli_errors_are_clear(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TFCOURSE_STATE_DIR", str(tmp_path / "state"))
    assert cli.main(["collect", str(tmp_path / "nope"), "--assignment", ASSIGNMENT]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["autograde", "--assignment", "no_such_thing"]) == 2
    assert "unknown assignment" in capsys.readouterr().err


def test_no_sandbox_warns(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TFCOURSE_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state" / "submitted").mkdir(parents=True)
    assert cli.main(["autograde", "--assignment", ASSIGNMENT, "--no-sandbox"]) == 0
    assert "WITHOUT the sandbox" in capsys.readouterr().err


def test_missing_sandbox_refuses_to_grade(tmp_path, monkeypatch, capsys):
    from autograder.grade import sandbox

    monkeypatch.setenv("TFCOURSE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    assert cli.main(["autograde", "--assignment", ASSIGNMENT]) == 2
    err = capsys.readouterr().err
    assert "apt-get install -y bubblewrap" in err and "--no-sandbox" in err


def test_feedback_sanitiser_strips_hidden_blocks_and_tracebacks():
    nb = nbformat.v4.new_notebook()
    test = nbformat.v4.new_code_cell("assert True\n### BEGIN HIDDEN TESTS\nsecret_check()\n"
                                     "### END HIDDEN TESTS")
    test.metadata["nbgrader"] = {"grade": True, "grade_id": "t", "points": 1}
    test.outputs = [nbformat.v4.new_output("error", ename="CheckFailure", evalue="bad value",
                                           traceback=["  secret_check()", "CheckFailure"])]
    nb.cells.append(test)
    clean = feedback.sanitise(nb)
    assert "secret_check" not in nbformat.writes(clean)
    assert clean.cells[0].outputs[0].traceback == ["CheckFailure: bad value"]
