"""Grade export (CSV + JSON from the gradebook) and the per-check failure report.

Scores come from nbgrader's gradebook (the single source of truth); failure messages, the
grading status and the integrity flags (``autograder.grade.integrity``: a submission that needs
manual review, and why) come from the grade records the writer keeps next to it.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

from autograder.course import CourseState
from autograder.grade.writer import atomic_write
from autograder.records import Flag, GradeResult, GradeRow, load_records, terminal_safe


def _records(state: CourseState, assignment: str) -> dict[str, GradeResult]:
    return load_records(state.record_dir(assignment))


def table(state: CourseState, assignment: str) -> dict:
    """Scores per student and grade cell, read from the gradebook (where an instructor's
    manual grades also land); status, reason and flags from the grade records."""
    from nbgrader.api import Gradebook, MissingEntry

    records = _records(state, assignment)
    rows = []
    with Gradebook(state.db_url, state.course_id) as gb:
        nb_assignment = gb.find_assignment(assignment)
        columns = [(nb.name, cell.name, float(cell.max_score))
                   for nb in nb_assignment.notebooks for cell in nb.grade_cells]
        for student in sorted(s.id for s in gb.students):
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:
                continue
            scores = {}
            for nb in submission.notebooks:
                for grade in nb.grades:
                    scores[grade.name] = float(grade.score or 0.0)
            record = records.get(student) or GradeResult(assignment, student, "", "not graded",
                                                         seconds=None)
            book = GradeResult(assignment, student, record.key, record.status, grades=[
                GradeRow(name, nb, scores.get(name, 0.0), pts) for nb, name, pts in columns])
            rows.append({
                "student": student,
                "scores": book.scores(),
                "total": round(book.score, 6),
                "status": record.status,
                "reason": record.reason,
                "seconds": record.seconds,
                "needs_review": record.needs_review,
                "flags": [f.to_dict() for f in record.flags],
            })
    return {
        "assignment": assignment,
        "columns": [{"grade_id": name, "notebook": nb, "max_score": pts}
                    for nb, name, pts in columns],
        "max_total": sum(pts for _, _, pts in columns),
        "students": rows,
    }


def export(state: CourseState, assignment: str, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Write ``<assignment>_grades.csv`` and ``.json`` (one row per student) into ``out_dir``
    (default: the state's ``exports/``)."""
    out_dir = state.exports if out_dir is None else out_dir
    data = table(state, assignment)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    grade_ids = [c["grade_id"] for c in data["columns"]]
    writer.writerow(["student", *grade_ids, "total", "status", "reason", "needs_review",
                     "flags"])
    for row in data["students"]:
        writer.writerow([row["student"], *(f"{row['scores'][g]:g}" for g in grade_ids),
                         f"{row['total']:g}", row["status"], row["reason"],
                         "yes" if row["needs_review"] else "", flag_text(row["flags"])])
    csv_path = Path(out_dir) / f"{assignment}_grades.csv"
    json_path = Path(out_dir) / f"{assignment}_grades.json"
    atomic_write(csv_path, buf.getvalue())
    atomic_write(json_path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return csv_path, json_path


def flag_text(flags: list[dict]) -> str:
    """Flags as one line: ``rule (cell): reason; ...``."""
    return "; ".join(str(Flag.from_dict(f)) for f in flags)


def flagged(state: CourseState, assignment: str) -> list[dict]:
    """Submissions with integrity flags: student, status, score, flags (sorted by student)."""
    return [{"student": student, "status": record.status, "score": record.score,
             "max_score": record.max_score, "flags": [f.to_dict() for f in record.flags]}
            for student, record in _records(state, assignment).items() if record.flags]


def format_flagged(rows: list[dict]) -> str:
    """The report's "flagged for manual review" section ("" if nothing is flagged)."""
    if not rows:
        return ""
    lines = [f"flagged for manual review: {len(rows)} submission(s)"]
    for r in rows:
        lines.append(f"  {r['student']} ({r['status']}, {r['score']:g} / {r['max_score']:g})")
        for f in r["flags"]:
            where = f" [{f['cell']}{', line ' + str(f['line']) if f.get('line') else ''}]" \
                if f.get("cell") else ""
            lines.append(f"    - {f['rule']}{where}: {f['reason']}")
    return "\n".join(terminal_safe(line) for line in lines)


def failures(state: CourseState, assignment: str, top: int = 3) -> list[dict]:
    """Per test cell: how many students failed it and the most common failure messages."""
    stats: dict[str, dict] = {}
    for record in _records(state, assignment).values():
        for g in record.grades:
            entry = stats.setdefault(g.grade_id, {"grade_id": g.grade_id, "failed": 0,
                                                  "graded": 0, "messages": Counter()})
            entry["graded"] += 1
            if not g.passed:
                entry["failed"] += 1
                entry["messages"][(g.message or "(no message)")[:200]] += 1
    return [
        {**e, "messages": e["messages"].most_common(top)} for e in stats.values()
    ]


def format_failures(rows: list[dict]) -> str:
    lines = []
    for e in rows:
        lines.append(f"{e['grade_id']}: failed by {e['failed']} of {e['graded']}")
        for message, count in e["messages"]:
            lines.append(f"    {count} x {message}")
    return "\n".join(terminal_safe(line) for line in lines)


def format_summary(data: dict) -> str:
    """A fixed-width summary table of an export (one line per student)."""
    width = max([len("student")] + [len(r["student"]) for r in data["students"]])
    head = f"{'student':<{width}}  {'score':>12}  {'status':<8}  {'seconds':>7}  reason"
    lines = [head, "-" * len(head)]
    for r in data["students"]:
        seconds = f"{r['seconds']:.1f}" if r.get("seconds") is not None else "-"
        # a flagged submission reads REVIEW whatever its status, with the flags as reason
        status = "REVIEW" if r.get("needs_review") else r["status"]
        reason = "; ".join(x for x in (
            ", ".join(f["rule"] for f in r.get("flags", [])), r["reason"]) if x)
        lines.append(
            f"{r['student']:<{width}}  {r['total']:>5g} / {data['max_total']:<4g}  "
            f"{status:<8}  {seconds:>7}  {terminal_safe(reason)[:70]}"
        )
    return "\n".join(terminal_safe(line) for line in lines)
