"""Fixes to three nbgrader 0.9.6 preprocessors, used in place of the originals.

* :class:`SurvivingExecute` (for ``Execute``): survives the death of the grading kernel.
* :class:`RestoreMissingCells` (for ``OverwriteCells``): re-adds deleted test cells, which
  nbgrader does not do by default and, when asked to, fails on a cell that follows a locked cell.
* :class:`DropDuplicateIds` (for ``DeduplicateIds``): a pasted copy of a grade cell becomes an
  ordinary cell instead of a cell with empty nbgrader metadata, which nbgrader then rejects as
  "an old version of the nbgrader metadata format" (the whole submission failed).

``nbgrader_config.py`` lists them in the Autograde pipeline (so a hand-run
``nbgrader autograde`` behaves like the grading workers); they are configured through the
original classes' sections (traitlets applies a parent class's section to a subclass).

Dead kernels: nbclient raises ``DeadKernelError`` when the kernel dies (``os._exit``, a
resource limit of the sandbox, a crash); nbgrader 0.9.6 lets it fail the whole notebook, so
every cell, even those that ran and passed, would score 0 and the autograded notebook would be
lost. Here the cell that was running gets a ``DeadKernelError`` error output, the cells after
it do not run, and the executor's evidence says where the kernel died. Scores never come from
whether a cell raised: the judge (:mod:`autograder.judge`) scores each test cell from the
observation taken while it ran, so a test cell that never ran scores 0.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbgrader.preprocessors import DeduplicateIds, Execute, OverwriteCells
from traitlets import Unicode
from traitlets.config import Configurable

from autograder.grade.output_cap import OutputCap
from autograder.judge import protocol

KERNEL_DIED = "DeadKernelError"
KERNEL_DIED_MESSAGE = (
    "the kernel died while running this cell (it exited, crashed or hit a resource limit); "
    "the cells after it did not run"
)


def grade_id_of(cell: Any) -> str | None:
    """The grade id of a code test cell (after nbgrader restored it), else None."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if cell.get("cell_type") == "code" and meta.get("grade") and meta.get("grade_id"):
        return str(meta["grade_id"])
    return None


def neutralise_metadata(nb: Any) -> None:
    """Drop every cell metadata key but ``nbgrader``: tags such as ``skip-execution`` or
    ``raises-exception`` are the student's to edit and must not change what runs."""
    for cell in nb.cells:
        keep = cell.get("metadata", {}).get("nbgrader")
        cell["metadata"] = nbformat.NotebookNode({"nbgrader": keep} if keep else {})


class ObservingExecution(Configurable):
    """Mixin for an nbclient executor: take each test cell's observation right after it ran.

    Before a test cell runs, the kernel's observation folder is emptied; after it ran, the
    file of that cell's grade id is read (:func:`autograder.judge.protocol.harvest`) and
    kept in :attr:`evidence`, in the trusted process. An observation therefore only counts
    when it was written while its own test cell executed.
    """

    observation_dir = Unicode("", help="host path of the kernel's observation folder").tag(
        config=True)
    run_nonce = Unicode("", help="this grading run's nonce (in every challenge)").tag(
        config=True)
    evidence_file = Unicode("", help="where to write the evidence JSON after the run").tag(
        config=True)
    challenge_source = Unicode("", help="private folder holding every grade cell's challenge").tag(
        config=True)
    oracle_socket = Unicode("", help="socket of the judge's oracle for replay stubs").tag(
        config=True)
    challenge_dir = Unicode("", help="folder the kernel reads challenges from (read-only "
                                     "for it): a challenge is there only while its test cell "
                                     "runs").tag(config=True)

    def start_evidence(self) -> dict:
        self.evidence = {"observations": {}, "missing": {}, "executed": [], "errors": {},
                         "kernel_died": None, "oracle": {}}
        # nbclient skips cells tagged with this; make it a value no student can guess
        self.skip_cells_with_tag = f"autograder-never-{secrets.token_hex(8)}"
        return self.evidence

    async def async_execute_cell(
        self, cell: Any, cell_index: int, execution_count: int | None = None,
        store_history: bool = True,
    ) -> Any:
        grade_id = grade_id_of(cell) if self.observation_dir else None
        if grade_id is None:
            return await super().async_execute_cell(
                cell, cell_index, execution_count, store_history)
        folder = Path(self.observation_dir)
        protocol.clear(folder)
        exposed = protocol.expose_challenge(self.challenge_source, self.challenge_dir, grade_id)
        oracle = protocol.Oracle.at(self.oracle_socket) if self.oracle_socket else None
        if oracle is not None:
            oracle.for_cell(grade_id)
        try:
            return await super().async_execute_cell(
                cell, cell_index, execution_count, store_history)
        finally:
            if exposed is not None:
                exposed.unlink(missing_ok=True)
            evidence = self.evidence
            if oracle is not None:
                oracle.for_cell(None)
                if grade_id in oracle.served():
                    evidence["oracle"][grade_id] = oracle.served()[grade_id]
            evidence["executed"].append(grade_id)
            data, why = protocol.harvest(folder, grade_id, self.run_nonce)
            if data is not None:
                evidence["observations"][grade_id] = data
            else:
                evidence["missing"][grade_id] = why
            errors = [f"{o.get('ename', '')}: {str(o.get('evalue', ''))[:300]}"
                      for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                evidence["errors"][grade_id] = errors[-1]

    # nbclient binds its sync wrapper to its own coroutine at class creation: re-bind it so
    # that callers of execute_cell (nbconvert's ExecutePreprocessor) go through the override.
    execute_cell = run_sync(async_execute_cell)

    def write_evidence(self) -> None:
        if self.evidence_file:
            Path(self.evidence_file).write_text(json.dumps(self.evidence))


class SurvivingExecute(OutputCap, ObservingExecution, Execute):
    """``Execute``, except that a dead kernel stops execution instead of failing the notebook,
    student-editable metadata never changes what runs, and each test cell's observation is
    taken right after it ran (:class:`ObservingExecution`)."""

    def execute_cell(
        self, cell: Any, cell_index: int, execution_count: int | None = None,
        store_history: bool = True,
    ) -> Any:
        try:
            return super().execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            cell.setdefault("outputs", []).append(nbformat.v4.new_output(
                "error", ename=KERNEL_DIED, evalue=KERNEL_DIED_MESSAGE,
                traceback=[f"{KERNEL_DIED}: {KERNEL_DIED_MESSAGE}"]))
            self.evidence["kernel_died"] = grade_id_of(cell) or cell.get("id") or str(cell_index)
            raise
        except CellTimeoutError as exc:
            # the cell was interrupted at the limit but its outputs did not follow in time
            # (a loaded machine): keep going with the next cell instead of failing the notebook
            cell.setdefault("outputs", []).append(nbformat.v4.new_output(
                "error", ename="CellTimeoutError", evalue=str(exc).splitlines()[0][:300],
                traceback=[]))
            return cell

    def preprocess(self, nb: Any, resources: Any = None, km: Any = None) -> tuple[Any, Any]:
        neutralise_metadata(nb)
        self.start_evidence()
        try:
            return super().preprocess(nb, resources, km)
        except DeadKernelError:
            self.log.error("the kernel died; the remaining cells were not run")
            return nb, resources
        finally:
            self.write_evidence()


class RestoreMissingCells(OverwriteCells):
    """``OverwriteCells`` that always re-adds deleted grade cells, each after the nearest
    earlier cell of the source notebook that the submission still has (or first)."""

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        self.add_missing_cells = True
        return super().preprocess(nb, resources)

    def add_missing_grade_cells(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source_nb.source_cells]
        sources = {cell.name: cell for cell in source_nb.source_cells}
        grade_cells = {cell.name: cell for cell in source_nb.grade_cells}
        solutions = {cell.name for cell in source_nb.solution_cells}

        def position(grade_id: str) -> int | None:
            for index, cell in enumerate(nb.cells):
                if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
                    return index
            return None

        for name in order:
            if name not in grade_cells or position(name) is not None:
                continue
            self.log.warning("Missing grade cell %s encountered, adding it back", name)
            cell = self.missing_cell_transform(sources[name], grade_cells[name].max_score,
                                               is_solution=name in solutions)
            at = 0
            for earlier in reversed(order[:order.index(name)]):
                found = position(earlier)
                if found is not None:
                    at = found + 1
                    break
            nb.cells.insert(at, cell)
        return nb, resources


class DropDuplicateIds(DeduplicateIds):
    """``DeduplicateIds`` (the last cell with a grade id keeps it) that removes the nbgrader
    metadata of the other copies instead of leaving an empty, invalid ``nbgrader`` dict."""

    def preprocess_cell(self, cell: Any, resources: Any, cell_index: int) -> tuple[Any, Any]:
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if "nbgrader" in cell.metadata and not cell.metadata["nbgrader"]:
            del cell.metadata["nbgrader"]
        return cell, resources
