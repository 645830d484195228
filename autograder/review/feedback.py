"""Per-student HTML feedback that shows scores and failure messages, never a hidden test.

The autograded notebook holds the hidden tests nbgrader restored before executing it, and
tracebacks of failing test cells quote their source lines. Before rendering we therefore

* remove every ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` block from every cell;
* replace the traceback of each error in a test cell by one line ``ExceptionName: message``
  (the check's message is written for the student: observed / expected / likely mistake);

and prepend a table of the scores per exercise with each failure message. Rendering uses
nbconvert's HTML exporter on the sanitised copy only, with ``sanitize_html`` on: the student's
markdown and HTML/SVG/markdown outputs go through nbconvert's HTML cleaner (no ``<script>``,
no event handlers, no ``javascript:`` links), and JavaScript and widget outputs are dropped.
"""

from __future__ import annotations

import copy
import html
import re
from pathlib import Path

import nbformat

from autograder.build import BEGIN_HIDDEN, END_HIDDEN, _strip_blocks
from autograder.course import CourseState
from autograder.records import GradeResult, load_records

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# outputs that run code in the reader's browser: never rendered
_ACTIVE_MIME = {"application/javascript", "text/javascript",
                "application/vnd.jupyter.widget-view+json",
                "application/vnd.jupyter.widget-state+json"}
# Neutral on purpose: a flag asks a human to look, it is not a verdict (and the rules that
# raised it are not the student's business).
REVIEW_NOTE = ("**This submission has been set aside for manual review by your instructor.** "
               "The scores below are the automatic ones and may change after the review.")


def sanitise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of an autograded notebook with no hidden-test source left anywhere."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if BEGIN_HIDDEN.pattern and any(BEGIN_HIDDEN.match(x) for x in cell.source.splitlines()):
            cell.source = _strip_blocks(cell.source, BEGIN_HIDDEN, END_HIDDEN, keep_body=False)
        if cell.cell_type != "code":
            continue
        is_test = cell.get("metadata", {}).get("nbgrader", {}).get("grade", False)
        for out in cell.get("outputs", []):
            for mime in [m for m in out.get("data", {}) if m in _ACTIVE_MIME]:
                del out.data[mime]
            if out.output_type == "error" and is_test:
                message = _ANSI.sub("", f"{out.ename}: {out.evalue}")
                out.traceback = [message]
    return nb


def _score_table(record: GradeResult) -> str:
    rows = [
        "| exercise (test cell) | score | message |", "|---|---|---|",
    ]
    for g in record.grades:
        message = g.message or ("passed" if g.passed else "failed")
        message = html.escape(message.replace("\n", " ").replace("|", "\\|"))
        rows.append(f"| `{g.grade_id}` | {g.score:g} / {g.max_score:g} | {message} |")
    head = (f"# Feedback: {html.escape(record.assignment)}, {html.escape(record.student)}"
            f"\n\n**Total: {record.score:g} / {record.max_score:g}**\n\n")
    if record.status != "graded":
        head += (f"**Your notebook could not be graded ({record.status}):** "
                 f"{html.escape(record.reason)}\n\n")
    if record.needs_review:
        head += REVIEW_NOTE + "\n\n"
    return head + "\n".join(rows)


def render(record: GradeResult, autograded: Path | None) -> str:
    """HTML feedback for one grade record (and its autograded notebook, if any)."""
    from nbconvert import HTMLExporter

    if autograded is not None and autograded.is_file():
        nb = sanitise(nbformat.read(autograded, as_version=4))
    else:
        nb = nbformat.v4.new_notebook()
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(_score_table(record)))
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3",
                                          "language": "python"})
    nb.metadata.pop("widgets", None)
    exporter = HTMLExporter(template_name="classic", sanitize_html=True)
    body, _ = exporter.from_notebook_node(nb)
    return body


def generate(state: CourseState, assignment: str,
             students: list[str] | None = None) -> list[Path]:
    """Write ``feedback/<student>/<assignment>/<assignment>.html`` for every grade record."""
    from autograder.grade.writer import atomic_write

    written = []
    for record in load_records(state.record_dir(assignment)).values():
        if students and record.student not in students:
            continue
        autograded = state.autograded_notebook(assignment, record.student)
        target = state.feedback_page(assignment, record.student)
        atomic_write(target, render(record, autograded if record.status == "graded" else None))
        written.append(target)
    return written
