"""Grade export (CSV + JSON from the gradebook) and the per-check failure report.

Scores come from nbgrader's gradebook (the single source of truth); failure messages, the
grading status and the integrity flags (``autograder.integrity``: a submission that needs
manual review, and why) come from the grade records the writer keeps next to it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

from autograder.writer import atomic_write

# ANSI/VT escape sequences (CSI, OSC, other ESC sequences), then any other control character
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
                      r"|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROLS_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def terminal_safe(text: object, keep_newlines: bool = False) -> str:
    """``text`` without escape sequences or control characters (a student's exception message
    or file name cannot move the cursor, recolour or retitle the instructor's terminal).
    Tabs and, with ``keep_newlines``, newlines are kept; otherwise they become spaces."""
    text = _ESCAPES.sub("", str(text))
    if keep_newlines:
        return _CONTROLS.sub("", text.replace("\r\n", "\n"))
    return _CONTROLS_LINE.sub(" ", text.replace("\r", ""))


def _records(state_root: Path, assignment: str) -> dict[str, dict]:
    folder = Path(state_root) / "grades" / assignment
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def table(db_url: str, course_id: str, state_root: Path, assignment: str) -> dict:
    """Scores per student and grade cell, read from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    records = _records(state_root, assignment)
    rows = []
    with Gradebook(db_url, course_id) as gb:
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
            record = records.get(student, {})
            rows.append({
                "student": student,
                "scores": {name: scores.get(name, 0.0) for _, name, _ in columns},
                "total": round(sum(scores.values()), 6),
                "status": record.get("status", "not graded"),
                "reason": record.get("reason", ""),
                "seconds": record.get("seconds"),
                "needs_review": bool(record.get("flags")),
                "flags": record.get("flags", []),
            })
    return {
        "assignment": assignment,
        "columns": [{"grade_id": name, "notebook": nb, "max_score": pts}
                    for nb, name, pts in columns],
        "max_total": sum(pts for _, _, pts in columns),
        "students": rows,
    }


def export(db_url: str, course_id: str, state_root: Path, assignment: str,
           out_dir: Path) -> tuple[Path, Path]:
    """Write ``<assignment>_grades.csv`` and ``.json`` (one row per student)."""
    data = table(db_url, course_id, state_root, assignment)
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
    return "; ".join(f"{f['rule']} ({f['cell']}): {f['reason']}" if f.get("cell")
                     else f"{f['rule']}: {f['reason']}" for f in flags)


def flagged(state_root: Path, assignment: str) -> list[dict]:
    """Submissions with integrity flags: student, status, score, flags (sorted by student)."""
    rows = []
    for student, record in _records(state_root, assignment).items():
        if record.get("flags"):
            grades = record.get("grades", [])
            rows.append({"student": student, "status": record.get("status", ""),
                         "score": sum(g["score"] for g in grades),
                         "max_score": sum(g["max_score"] for g in grades),
                         "flags": record["flags"]})
    return rows


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


def failures(state_root: Path, assignment: str, top: int = 3) -> list[dict]:
    """Per test cell: how many students failed it and the most common failure messages."""
    stats: dict[str, dict] = {}
    records = _records(state_root, assignment)
    for record in records.values():
        for g in record.get("grades", []):
            entry = stats.setdefault(g["grade_id"], {"grade_id": g["grade_id"], "failed": 0,
                                                     "graded": 0, "messages": Counter()})
            entry["graded"] += 1
            if g["score"] < g["max_score"]:
                entry["failed"] += 1
                entry["messages"][(g.get("message") or "(no message)")[:200]] += 1
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
