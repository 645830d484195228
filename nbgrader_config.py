"""nbgrader configuration of the course.

Code and course material live at the top of the repository (source/, release/); everything
nbgrader writes while grading (submitted/, autograded/, feedback/, gradebook.db) lives in the
ignored folder course_state/ (or $TFCOURSE_STATE_DIR), never mixed with code.
"""

import os
import sys

c = get_config()  # noqa: F821 (provided by traitlets when this file is loaded)

_root = os.path.dirname(os.path.abspath(__file__))
if _root not in sys.path:  # nbgrader's own commands, run from anywhere
    sys.path.insert(0, _root)

from autograder.course import CourseState, configure_nbgrader, default_root  # noqa: E402

# the layout's one owner is autograder/course.py; the state sits next to this file's course
_state = CourseState(default_root(_root))
_state.root.mkdir(parents=True, exist_ok=True)  # SQLite cannot create the gradebook's folder
configure_nbgrader(c.CourseDirectory, _root, _state.root)
# nbgrader copies every file of source/<assignment>/ into the release: keep only notebooks.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# nbgrader gives a test cell 0 points if anything reaches stderr. TensorFlow, Keras, absl and
# tqdm write harmless noise there; drop stderr outputs matching this pattern before scoring.
# Real errors are `error` outputs, which this never touches.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"(?m)Warning|WARNING|warnings\.warn|^[IWEF]\d{4} |oneDNN|TF_ENABLE_ONEDNN_OPTS|absl::"
    r"|it/s\]|s/it\]|\d+%\|"
    r"|\A\s*\Z"  # whitespace only: what a closed tqdm bar leaves behind ("\r", "\n")
)

# The autograde pipeline, as nbgrader's own but for three course-specific preprocessors
# (autograder/grade/preprocessors.py): SurvivingExecute (a dead kernel keeps what ran;
# student-edited cell metadata never changes what runs; each test cell's observation is taken
# right after it ran, for the judge), RestoreMissingCells (deleted test cells are re-added) and
# DropDuplicateIds (a pasted grade cell is harmless). Scores are NOT decided here: the grading
# workers replace nbgrader's "did the cell raise" scores by the verdicts of autograder.judge,
# computed outside the kernel from those observations (a test cell that never ran scores 0).
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    IgnorePattern,
    LimitOutput,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from autograder.grade.preprocessors import (  # noqa: E402
    DropDuplicateIds,
    RestoreMissingCells,
    SurvivingExecute,
)

c.Autograde.sanitize_preprocessors = [
    ClearOutput, DropDuplicateIds, OverwriteKernelspec, RestoreMissingCells, CheckCellMetadata,
]
c.Autograde.autograde_preprocessors = [
    SurvivingExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
]

# A cell may run at most this long (seconds) when autograding; the sandbox adds CPU-time and
# memory limits per notebook (see autograder/grade/sandbox.py).
c.Execute.timeout = int(os.environ.get("TFCOURSE_CELL_TIMEOUT", "120"))
c.Execute.interrupt_on_timeout = True
# After an interrupt, wait longer for the cell's last outputs (a loaded grading machine) and
# never fail the whole notebook for them: the cell is marked, the next cell runs.
c.Execute.iopub_timeout = 15
c.Execute.raise_on_iopub_timeout = False
# Each submission's kernel is thrown away after its notebook: stop it at once instead of the
# graceful shutdown request (1.5-3 s per submission, measured by benchmarks/bench_grading.py).
c.Execute.shutdown_kernel = "immediate"
