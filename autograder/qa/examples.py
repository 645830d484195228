"""Make the bundled example submissions from the answer variants (course material).

``python -m autograder.qa.examples OUT_DIR [ASSIGNMENT ...]`` writes
``OUT_DIR/<assignment>/<student>.ipynb``: every ``correct`` and ``mutant`` variant of
``examples/variants/<assignment>/`` applied to the release with
:func:`autograder.qa.variants.as_submission`, plus three fixed ones: ``reference`` (the reference
solution), ``blank`` (the release as handed out) and ``corrupt`` (not a notebook).
The student id says which variant it is (``m03_sign_flipped``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from autograder import build
from autograder.qa import variants


def make(out_dir: Path, assignment: str, release_dir: Path | None = None,
         limit: int | None = None) -> list[Path]:
    """Write the example submissions of ``assignment`` into ``out_dir``; return their paths."""
    release_nb_path = build.release_path(assignment, release_dir or build.RELEASE)
    release_nb = nbformat.read(release_nb_path, as_version=4)
    source_nb = nbformat.read(build.source_path(assignment), as_version=4)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(student: str, nb: nbformat.NotebookNode) -> None:
        path = out_dir / f"{student}.ipynb"
        nbformat.write(nb, path)
        written.append(path)

    write("reference", variants.as_submission(release_nb, source_nb, None))
    found = variants.discover(assignment)
    correct = [v for v in found if v.is_correct]
    mutants = [v for v in found if not v.is_correct]
    chosen = correct[:1] + mutants if limit is None else correct[:1] + mutants[: limit - 1]
    for index, variant in enumerate(chosen):
        prefix = "c" if variant.is_correct else "m"
        name = variant.name.removeprefix("correct_").removeprefix("mutant_")
        write(f"{prefix}{index:02d}_{name}", variants.as_submission(release_nb, source_nb,
                                                                    variant))
    write("blank", release_nb)
    (out_dir / "corrupt.ipynb").write_text('{"cells": [ this is not json')
    written.append(out_dir / "corrupt.ipynb")
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__)
        return 2
    out = Path(argv[0])
    for assignment in argv[1:] or build.assignments():
        paths = make(out / assignment, assignment)
        print(f"{assignment}: {len(paths)} example submissions in {out / assignment}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
