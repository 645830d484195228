"""Build the course's notebooks from their single source.

Pipeline (each step is reproducible and checked by tests/test_release_gate.py)::

    authoring/<assignment>.py   (jupytext percent, nbgrader cell metadata in the cell markers)
        -> source/<assignment>/<assignment>.ipynb   (nbgrader source: solutions + hidden tests)
        -> release/<assignment>/<assignment>.ipynb  (``nbgrader generate_assignment``)
        -> notebooks/<assignment>.ipynb             (reader's edition: worked solutions,
                                                     no hidden tests, no nbgrader metadata)

The ``.py`` files sit outside ``source/<assignment>/`` because nbgrader copies every file of
that folder into the release.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
AUTHORING = REPO_ROOT / "authoring"
SOURCE = REPO_ROOT / "source"
RELEASE = REPO_ROOT / "release"
READERS = REPO_ROOT / "notebooks"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python"}

BEGIN_SOLUTION = re.compile(r"^\s*### BEGIN SOLUTION\s*$")
END_SOLUTION = re.compile(r"^\s*### END SOLUTION\s*$")
BEGIN_HIDDEN = re.compile(r"^\s*### BEGIN HIDDEN TESTS\s*$")
END_HIDDEN = re.compile(r"^\s*### END HIDDEN TESTS\s*$")


#: The order in which the course teaches its assignments (lab, book, docs, CLI listings).
COURSE_ORDER = ("training_basics", "fashion_mnist", "breast_cancer")


def assignments() -> list[str]:
    """Assignment ids, one per authoring file: ``COURSE_ORDER`` first, any others sorted after."""
    found = {p.stem for p in AUTHORING.glob("*.py")}
    return [a for a in COURSE_ORDER if a in found] + sorted(found - set(COURSE_ORDER))


def source_path(assignment: str) -> Path:
    return SOURCE / assignment / f"{assignment}.ipynb"


def release_path(assignment: str, release_dir: Path = RELEASE) -> Path:
    return release_dir / assignment / f"{assignment}.ipynb"


def reader_path(assignment: str) -> Path:
    return READERS / f"{assignment}.ipynb"


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Clean a notebook for git: no outputs or counts, stable ids, fixed kernelspec."""
    nb = copy.deepcopy(nb)
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = nbformat.from_dict(
        {
            "kernelspec": KERNELSPEC,
            "language_info": LANGUAGE_INFO,
            **{k: v for k, v in nb.metadata.items() if k in ("nbgrader",)},
        }
    )
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        cell_id = grade_id or f"cell-{index:03d}"
        while cell_id in seen:
            cell_id += "-x"
        seen.add(cell_id)
        cell["id"] = cell_id
        keep = {k: v for k, v in cell.metadata.items() if k in ("nbgrader", "tags")}
        cell.metadata = nbformat.from_dict(keep)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.source = cell.source.strip("\n")
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write with nbformat's canonical layout (indent 1, sorted keys, trailing newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(nb, version=4)
    if not text.endswith("\n"):
        text += "\n"
    tmp = path.with_suffix(".ipynb.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def source_from_authoring(assignment: str) -> nbformat.NotebookNode:
    import jupytext

    nb = jupytext.read(AUTHORING / f"{assignment}.py", fmt="py:percent")
    return normalise(nb)


def build_source(assignment: str) -> Path:
    target = source_path(assignment)
    write_notebook(source_from_authoring(assignment), target)
    return target


def _strip_blocks(source: str, begin: re.Pattern, end: re.Pattern, keep_body: bool) -> str:
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        if begin.match(line):
            inside = True
            continue
        if end.match(line):
            inside = False
            continue
        if not inside or keep_body:
            out.append(line)
    return "\n".join(out).strip("\n")


def readers_edition(source_nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Worked solutions kept, hidden tests and nbgrader markers removed."""
    nb = copy.deepcopy(source_nb)
    cells = []
    for cell in nb.cells:
        src = _strip_blocks(cell.source, BEGIN_HIDDEN, END_HIDDEN, keep_body=False)
        src = _strip_blocks(src, BEGIN_SOLUTION, END_SOLUTION, keep_body=True)
        src = src.replace("YOUR ANSWER HERE", "")
        cell.source = src
        cell.metadata.pop("nbgrader", None)
        if cell.source.strip():
            cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("nbgrader", None)
    return normalise(nb)


def build_readers(assignment: str) -> Path:
    source_nb = nbformat.read(source_path(assignment), as_version=4)
    target = reader_path(assignment)
    write_notebook(readers_edition(source_nb), target)
    return target


def nbgrader_env(state_dir: Path | None = None) -> dict[str, str]:
    """The environment of an nbgrader command: the course state in ``state_dir`` if given."""
    from autograder.course import STATE_ENV

    env = dict(os.environ)
    if state_dir is not None:
        env[STATE_ENV] = str(state_dir)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # nbgrader runs `alembic` from PATH: make the environment's scripts visible.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def generate_release(
    assignment: str, release_dir: Path = RELEASE, state_dir: Path | None = None
) -> Path:
    """Run the real ``nbgrader generate_assignment`` and normalise what it wrote.

    With ``state_dir`` the gradebook goes there (tests use a temporary one); ``release_dir``
    lets tests regenerate into a temporary folder and compare with the committed release.
    """
    release_dir = Path(release_dir)
    cmd = [
        sys.executable, "-m", "nbgrader", "generate_assignment", assignment,
        "--force", "--create",
        f"--CourseDirectory.release_directory={release_dir}",
        "--log-level=WARN",
    ]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=nbgrader_env(state_dir),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"nbgrader generate_assignment {assignment} failed:\n{proc.stdout}\n{proc.stderr}"
        )
    target = release_path(assignment, release_dir)
    nb = nbformat.read(target, as_version=4)
    clean = normalise(nb)
    clean.metadata.pop("nbgrader", None)  # release carries no course-level metadata
    write_notebook(clean, target)
    return target


def build_all(selected: list[str] | None = None, state_dir: Path | None = None) -> None:
    for assignment in selected or assignments():
        print(f"[build] {assignment}: authoring -> source -> release -> notebooks")
        build_source(assignment)
        if state_dir is None:
            with tempfile.TemporaryDirectory() as tmp:
                generate_release(assignment, state_dir=Path(tmp))
        else:
            generate_release(assignment, state_dir=state_dir)
        build_readers(assignment)


def clean_release_dir() -> None:
    """Remove release folders whose assignment no longer has an authoring file."""
    if not RELEASE.is_dir():
        return
    for folder in RELEASE.iterdir():
        if folder.is_dir() and folder.name not in assignments():
            shutil.rmtree(folder)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m autograder.build",
        description="Regenerate source/, release/ and notebooks/ from authoring/.",
    )
    parser.add_argument(
        "assignments", nargs="*", help=f"default: all ({', '.join(assignments())})")
    args = parser.parse_args(argv)
    unknown = set(args.assignments) - set(assignments())
    if unknown:
        parser.error(f"no authoring file for {sorted(unknown)} in {AUTHORING}")
    build_all(args.assignments or None)
    clean_release_dir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
