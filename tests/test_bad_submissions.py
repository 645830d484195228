"""The bad-submission catalogue (examples/bad_submissions/catalogue.py), graded for real.

The whole catalogue, the reference answers included, is collected and graded as ONE batch
through the instructor's CLI (sandboxed kernels, 2 workers, short cell and notebook limits) in
a module-scoped course state; one test per case then asserts its expected outcome: status,
score of every test cell, the exact set of integrity flags, the message and, where the case
says so, what its outputs show. Further tests check that the flags reach every place an
instructor looks (summary table, CSV/JSON export, class report, gradebook, feedback), that no
cheat gets full credit silently, and that nothing escaped the sandbox. The fast tests at the
end need no kernel.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import nbformat
import pytest

from autograder import build, cli
from autograder.course import COURSE_ID, CourseState
from autograder.grade import collect, integrity, worker
from autograder.review import report
from examples.bad_submissions import catalogue
from examples.bad_submissions.catalogue import ALL, ASSIGNMENT, CASES, Builder, Case

GRADING = ["--workers", "2", "--cell-timeout", "30", "--notebook-timeout", "120",
           "--memory-gib", "3", "--max-processes", "256", "--cpu-seconds", "300",
           "--no-progress"]


@dataclass
class Batch:
    state: CourseState
    collect_out: str
    report_out: str
    autograde_out: str
    export: dict  # the JSON export
    csv_rows: dict[str, dict[str, str]]
    seconds: float


def _run(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(argv) == 0, argv
    return out.getvalue()


def _builder(state: CourseState, case: Case, inbox: Path) -> Builder:
    return Builder(
        student=case.name, inbox=inbox, submitted=state.submission_dir(ASSIGNMENT, case.name),
        release=nbformat.read(build.release_path(ASSIGNMENT, state.release), as_version=4),
        source=nbformat.read(build.source_path(ASSIGNMENT), as_version=4),
        repo_root=build.REPO_ROOT, state_root=state.root,
    )


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Batch:
    """Every case of the catalogue, collected and graded in one run of the CLI."""
    import csv

    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("bad_submissions")
    state = CourseState(root / "state")
    mp.setenv("TFCOURSE_STATE_DIR", str(state.root))
    try:
        _run(["release", ASSIGNMENT])
        inbox = root / "inbox"
        for case in CASES:
            if not case.exchange:
                case.build(_builder(state, case, inbox))
        collect_out = _run(["collect", str(inbox), "--assignment", ASSIGNMENT,
                            "--skip-unmatched"])
        for case in CASES:  # exchange-style folders go straight into submitted/
            if case.exchange:
                case.build(_builder(state, case, inbox))
        start = time.monotonic()
        autograde_out = _run(["autograde", "--assignment", ASSIGNMENT, *GRADING])
        seconds = time.monotonic() - start
        _run(["feedback", "--assignment", ASSIGNMENT])
        _run(["export", "--assignment", ASSIGNMENT])
        report_out = _run(["report", "--assignment", ASSIGNMENT])
        export = json.loads((state.exports / f"{ASSIGNMENT}_grades.json").read_text())
        with open(state.exports / f"{ASSIGNMENT}_grades.csv", newline="") as fh:
            csv_rows = {row["student"]: row for row in csv.DictReader(fh)}
        yield Batch(state, collect_out, report_out, autograde_out, export, csv_rows, seconds)
    finally:
        mp.undo()


def _row(batch: Batch, student: str) -> dict:
    rows = {r["student"]: r for r in batch.export["students"]}
    assert student in rows, f"{student} was not graded: {sorted(rows)}"
    return rows[student]


def _record(batch: Batch, student: str) -> dict:
    return json.loads((batch.state.grades / ASSIGNMENT / f"{student}.json").read_text())


def _outputs(batch: Batch, student: str) -> str:
    path = batch.state.autograded / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, as_version=4)
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts += [out.get("text", ""), out.get("ename", ""), str(out.get("evalue", "")),
                      str(out.get("data", {}).get("text/plain", ""))]
    return "\n".join(parts)


def _params() -> list:
    return [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(reason=c.known_gap,
                                                                  strict=True)]
                         if c.known_gap else []) for c in CASES]


@pytest.mark.slow
@pytest.mark.parametrize("case", _params())
def test_case_outcome(batch: Batch, case: Case) -> None:
    expected = case.expected
    if not expected.collected:
        assert case.name not in {r["student"] for r in batch.export["students"]}
        assert expected.message in batch.collect_out, batch.collect_out
        assert "skipped (unmatched)" in batch.collect_out
        return
    row, record = _row(batch, case.name), _record(batch, case.name)
    assert record["status"] == expected.status, record.get("reason")
    maxima = {c["grade_id"]: c["max_score"] for c in batch.export["columns"]}
    assert set(maxima) == set(catalogue.GRADE_IDS), "the release's test cells changed"
    zero = expected.zero_ids()
    want = {g: 0.0 if g in zero or expected.status != "graded" else pts
            for g, pts in maxima.items()}
    assert row["scores"] == want, {g["grade_id"]: g["message"][:120] for g in record["grades"]}
    rules = {f["rule"] for f in record.get("flags", [])}
    assert rules == set(expected.flags), record.get("flags")
    assert row["needs_review"] is bool(expected.flags)
    if expected.message:
        said = " ".join([record.get("reason", ""), *(g["message"] for g in record["grades"]),
                         *(f["reason"] for f in record.get("flags", []))])
        assert expected.message.lower() in said.lower(), said[:2000]
    if expected.output:
        text = _outputs(batch, case.name)
        for part in expected.output.split("|"):
            assert part in text, (part, text[-2000:])
    if case.cheat:
        assert rules or row["total"] < batch.export["max_total"], "full credit, no flag"


@pytest.mark.slow
def test_whole_batch_graded_in_one_run(batch: Batch) -> None:
    collected = [c.name for c in CASES if c.expected.collected]
    assert sorted(r["student"] for r in batch.export["students"]) == sorted(collected)
    reference = _row(batch, "reference")
    assert reference["total"] == batch.export["max_total"] > 0
    assert reference["status"] == "graded" and not reference["needs_review"]
    print(f"\n[bad submissions] {len(collected)} submissions graded in {batch.seconds:.0f} s")


@pytest.mark.slow
def test_flags_reach_gradebook_export_report_and_feedback(batch: Batch) -> None:
    from nbgrader.api import Gradebook

    flagged = {c.name for c in CASES if c.expected.flags and not c.known_gap}
    with Gradebook(batch.state.db_url, COURSE_ID) as gb:
        for case in CASES:
            if not case.expected.collected or case.known_gap:
                continue
            submission = gb.find_submission(ASSIGNMENT, case.name)
            assert bool(submission.needs_manual_grade) is (case.name in flagged), case.name
    for name in flagged:  # CSV: needs_review + the reasons
        assert batch.csv_rows[name]["needs_review"] == "yes"
        assert batch.csv_rows[name]["flags"]
    assert batch.csv_rows["reference"]["needs_review"] == ""
    summary = report.format_summary(batch.export)
    for line in summary.splitlines()[2:]:
        student = line.split()[0]
        assert ("REVIEW" in line.split()) is (student in flagged), line
    section = batch.report_out.split("flagged for manual review:", 1)[1]
    for name in flagged:
        assert f"  {name} (" in section
    assert "  reference (" not in section
    assert f"{len(flagged)} flagged for manual review" in batch.autograde_out
    for name in ("showtraceback", "reference"):
        html = (batch.state.feedback / name / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
        text = unescape(re.sub(r"<[^>]+>", "", html))
        assert ("manual review" in text) is (name in flagged), name
        assert "traceback-hiding" not in text  # the note names no rule


@pytest.mark.slow
def test_nothing_escaped_the_sandbox(batch: Batch) -> None:
    assert not (build.REPO_ROOT / "pwned.txt").exists()
    assert not (batch.state.root / "pwned.txt").exists()
    assert not Path("/pwned.txt").exists()
    for case in CASES:
        if case.expected.collected:
            assert "DONE" not in (_outputs(batch, case.name) if _record(
                batch, case.name)["status"] == "graded" else "")


# ---- fast tests: no kernel -------------------------------------------------------------------


def test_catalogue_covers_every_case_and_says_what_to_expect() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    assert set(catalogue.REQUIRED) <= set(names), set(catalogue.REQUIRED) - set(names)
    assert "reference" in names
    for case in CASES:
        assert re.fullmatch(r"[a-z0-9_]+", case.name), case.name  # also a student id
        assert case.description.strip() and "\n" not in case.description, case.name
        e = case.expected
        assert e.status in ("graded", "error", "timeout", "crashed"), case.name
        assert e.zero == ALL or set(e.zero) <= set(catalogue.GRADE_IDS), case.name
        assert e.flags <= _KNOWN_RULES, (case.name, e.flags - _KNOWN_RULES)
        assert e.collected or e.message, case.name
        if case.cheat:  # a cheat must be zeroed or flagged by its expected outcome
            assert e.flags or e.zero_ids(), case.name
    for name in ("not_json.ipynb", "json_not_notebook.ipynb", "empty_notebook.ipynb"):
        assert (catalogue.HERE / name).is_file()


_KNOWN_RULES = {rule for rule, _, _ in integrity._TEXT_RULES} | {"library-patch", "kernel-died"}


def test_every_case_builds(tmp_path: Path) -> None:
    """Each recipe still applies to the release (grade ids exist) and writes its files."""
    state = CourseState(tmp_path / "state")
    state.release.mkdir(parents=True)
    import shutil

    shutil.copytree(build.RELEASE / ASSIGNMENT, state.release / ASSIGNMENT)
    for case in CASES:
        b = _builder(state, case, tmp_path / "inbox")
        case.build(b)
        where = b.submitted if case.exchange else tmp_path / "inbox"
        assert any(where.rglob("*")), case.name


def test_collect_names_a_wrongly_named_file_and_keeps_the_named_notebook(tmp_path) -> None:
    inbox = tmp_path / "inbox"
    nb = nbformat.v4.new_notebook()
    (inbox / "carol").mkdir(parents=True)
    nbformat.write(nb, inbox / f"{ASSIGNMENT} (final).ipynb")
    with pytest.raises(collect.CollectError, match=re.escape(f"{ASSIGNMENT} (final).ipynb")):
        collect.collect(inbox, ASSIGNMENT, tmp_path / "submitted")
    (inbox / f"{ASSIGNMENT} (final).ipynb").unlink()
    nbformat.write(nb, inbox / "carol" / f"{ASSIGNMENT}.ipynb")
    nbformat.write(nb, inbox / "carol" / "scratch.ipynb")
    done = collect.collect(inbox, ASSIGNMENT, tmp_path / "submitted")
    assert done.students == {"carol": tmp_path / "submitted" / "carol" / ASSIGNMENT
                             / f"{ASSIGNMENT}.ipynb"}
    assert not (tmp_path / "submitted" / "carol" / ASSIGNMENT / "scratch.ipynb").exists()


def test_evidence_flags_come_from_the_executor_not_from_outputs() -> None:
    """A student can print an error output named DeadKernelError; only the executor's own
    evidence (written outside the kernel) raises the kernel-died flag."""
    assert worker.evidence_flags({"kernel_died": None}) == []
    flags = worker.evidence_flags({"kernel_died": "train_updates_w_and_b"})
    assert [(f.rule, f.cell) for f in flags] == [("kernel-died", "train_updates_w_and_b")]


def test_flags_in_export_summary_and_report(tmp_path: Path) -> None:
    """Without a kernel: a flagged record shows as REVIEW with its reasons."""
    flags = [{"rule": "traceback-hiding", "reason": "hides errors", "cell": "loss", "line": 3}]
    data = {"assignment": "a", "max_total": 2, "columns": [], "students": [
        {"student": "eve", "scores": {}, "total": 2, "status": "graded", "reason": "",
         "seconds": 1.0, "needs_review": True, "flags": flags},
        {"student": "bob", "scores": {}, "total": 2, "status": "graded", "reason": "",
         "seconds": 1.0, "needs_review": False, "flags": []}]}
    lines = report.format_summary(data).splitlines()
    assert "REVIEW" in lines[2] and "traceback-hiding" in lines[2]
    assert "REVIEW" not in lines[3]
    grades = tmp_path / "grades" / "a"
    grades.mkdir(parents=True)
    (grades / "eve.json").write_text(json.dumps({"status": "graded", "grades": [
        {"grade_id": "t", "score": 2.0, "max_score": 2.0}], "flags": flags}))
    (grades / "bob.json").write_text(json.dumps({"status": "graded", "grades": []}))
    text = report.format_flagged(report.flagged(CourseState(tmp_path), "a"))
    assert "1 submission(s)" in text and "eve (graded, 2 / 2)" in text
    assert "traceback-hiding [loss, line 3]: hides errors" in text
    assert report.flag_text(flags) == "traceback-hiding (loss): hides errors"
