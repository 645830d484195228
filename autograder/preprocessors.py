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
lost. Here the cell that was running gets a ``DeadKernelError`` error output (so a test cell
whose kernel died scores 0 even if it printed something first), the cells after it do not run,
and ``autograder.integrity.CheckCanary`` turns the test cells among them into failures
(nbgrader would give a test cell without outputs full points). The worker reads the error
output to flag the submission for review.
"""

from __future__ import annotations

from typing import Any

import nbformat
from nbclient.exceptions import DeadKernelError
from nbgrader.preprocessors import DeduplicateIds, Execute, OverwriteCells

KERNEL_DIED = "DeadKernelError"
KERNEL_DIED_MESSAGE = (
    "the kernel died while running this cell (it exited, crashed or hit a resource limit); "
    "the cells after it did not run"
)


class SurvivingExecute(Execute):
    """``Execute``, except that a dead kernel stops execution instead of failing the notebook."""

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
            raise

    def preprocess(self, nb: Any, resources: Any = None, km: Any = None) -> tuple[Any, Any]:
        try:
            return super().preprocess(nb, resources, km)
        except DeadKernelError:
            self.log.error("the kernel died; the remaining cells were not run")
            return nb, resources


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
