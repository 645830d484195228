"""Answer variants: correct alternatives and realistic wrong implementations (mutants).

A variant file lives in ``examples/variants/<assignment>/<name>.py``::

    # kind: mutant
    # description: update has the wrong sign (assign_add instead of assign_sub)
    # fails: train_updates_weights, train_loop_history
    # message: wrong sign
    # %% solution: train
    def train(model, inputs, outputs, learning_rate):
        ...

* ``kind``: ``correct`` (must get full credit) or ``mutant`` (must lose points).
* ``fails``: grade ids of the test cells a mutant must fail (all others may pass or fail).
* ``message``: a case-insensitive substring the failure message of the first listed cell
  must contain, so that the student is told the mistake by name.
* each ``# %% solution: <grade_id>`` section replaces the body of that solution cell; solution
  cells not named keep the reference solution.

The same files make the bundled example submissions (:func:`as_submission`) and feed the
grading-accuracy report.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.build import BEGIN_SOLUTION, END_SOLUTION, REPO_ROOT

VARIANTS_ROOT = REPO_ROOT / "examples" / "variants"
_HEADER = re.compile(r"^#\s*(kind|description|fails|message)\s*:\s*(.*)$")
_SECTION = re.compile(r"^#\s*%%\s*solution\s*:\s*(\S+)\s*$")


class VariantError(ValueError):
    """A variant file is malformed or names a cell that does not exist."""


@dataclass
class Variant:
    assignment: str
    name: str
    kind: str
    description: str
    cells: dict[str, str]
    fails: list[str] = field(default_factory=list)
    message: str = ""
    path: Path | None = None

    @property
    def is_correct(self) -> bool:
        return self.kind == "correct"


def load(path: Path, assignment: str | None = None) -> Variant:
    path = Path(path)
    header: dict[str, str] = {}
    cells: dict[str, list[str]] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        section = _SECTION.match(line)
        if section:
            current = section.group(1)
            if current in cells:
                raise VariantError(f"{path}: solution {current!r} appears twice")
            cells[current] = []
            continue
        if current is None:
            match = _HEADER.match(line)
            if match:
                header[match.group(1)] = match.group(2).strip()
            continue
        cells[current].append(line)
    kind = header.get("kind", "")
    if kind not in ("correct", "mutant"):
        raise VariantError(f"{path}: '# kind:' must be correct or mutant, got {kind!r}")
    if not header.get("description"):
        raise VariantError(f"{path}: '# description:' is required")
    if not cells:
        raise VariantError(f"{path}: no '# %% solution: <grade_id>' section")
    fails = [f.strip() for f in header.get("fails", "").split(",") if f.strip()]
    if kind == "mutant" and not fails:
        raise VariantError(f"{path}: a mutant must list the test cells it fails ('# fails:')")
    return Variant(
        assignment=assignment or path.parent.name,
        name=path.stem,
        kind=kind,
        description=header["description"],
        cells={k: "\n".join(v).strip("\n") for k, v in cells.items()},
        fails=fails,
        message=header.get("message", ""),
        path=path,
    )


def discover(assignment: str, root: Path = VARIANTS_ROOT) -> list[Variant]:
    return [load(p, assignment) for p in sorted((root / assignment).glob("*.py"))]


def solution_body(source: str) -> str:
    """The source of a solution cell with the solution markers removed (code kept)."""
    lines = [
        line for line in source.splitlines()
        if not (BEGIN_SOLUTION.match(line) or END_SOLUTION.match(line))
    ]
    return "\n".join(lines)


def _grade_id(cell: nbformat.NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def apply(nb: nbformat.NotebookNode, variant: Variant) -> nbformat.NotebookNode:
    """Return a copy of ``nb`` whose named solution cells hold the variant's code."""
    nb = copy.deepcopy(nb)
    solution_ids = {
        _grade_id(c): c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get(
            "solution")
    }
    unknown = set(variant.cells) - set(solution_ids)
    if unknown:
        raise VariantError(
            f"{variant.path}: no solution cell with grade_id {sorted(unknown)}; "
            f"the notebook has {sorted(k for k in solution_ids if k)}"
        )
    for grade_id, code in variant.cells.items():
        solution_ids[grade_id].source = code
    return nb


def as_submission(
    release_nb: nbformat.NotebookNode,
    source_nb: nbformat.NotebookNode,
    variant: Variant | None,
) -> nbformat.NotebookNode:
    """A student's notebook: the release with every solution cell answered.

    Solution cells get the variant's code where it has some, else the reference solution
    (markers stripped); locked and test cells stay as released (no hidden tests).
    """
    answers = {
        _grade_id(c): solution_body(c.source)
        for c in source_nb.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    if variant is not None:
        answers.update(variant.cells)
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        grade_id = _grade_id(cell)
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return nb
