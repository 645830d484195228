"""nbgrader configuration of the course.

Code and course material live at the top of the repository (source/, release/); everything
nbgrader writes while grading (submitted/, autograded/, feedback/, gradebook.db) lives in the
ignored folder course_state/ (or $TFCOURSE_STATE_DIR), never mixed with code.
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when this file is loaded)

_root = os.path.dirname(os.path.abspath(__file__))
_state = os.environ.get("TFCOURSE_STATE_DIR") or os.path.join(_root, "course_state")
_state_rel = os.path.relpath(_state, _root)
os.makedirs(_state, exist_ok=True)  # SQLite cannot create the gradebook's folder

c.CourseDirectory.course_id = "tf_custom_training"
c.CourseDirectory.root = _root
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = os.path.join(_state_rel, "submitted")
c.CourseDirectory.autograded_directory = os.path.join(_state_rel, "autograded")
c.CourseDirectory.feedback_directory = os.path.join(_state_rel, "feedback")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_state, "gradebook.db")
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

# The autograde pipeline, as nbgrader's own but for four course-specific preprocessors:
# * InjectCanary / CheckCanary (autograder/integrity.py): a probe cell that checks the checking
#   functions are the originals, and a last cell that must fail; if error reporting was
#   tampered with, the checks were replaced, or the kernel died early, test cells cannot pass
#   silently.
# * SurvivingExecute, RestoreMissingCells, DropDuplicateIds (autograder/preprocessors.py):
#   fixes to nbgrader 0.9.6's Execute (a dead kernel keeps what ran), OverwriteCells (deleted
#   test cells are re-added) and DeduplicateIds (a pasted grade cell is harmless).
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

from autograder.integrity import CheckCanary, InjectCanary  # noqa: E402
from autograder.preprocessors import (  # noqa: E402
    DropDuplicateIds,
    RestoreMissingCells,
    SurvivingExecute,
)

c.Autograde.sanitize_preprocessors = [
    ClearOutput, DropDuplicateIds, OverwriteKernelspec, RestoreMissingCells, CheckCellMetadata,
    InjectCanary,
]
c.Autograde.autograde_preprocessors = [
    SurvivingExecute, CheckCanary, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
]

# A cell may run at most this long (seconds) when autograding; the sandbox adds CPU-time and
# memory limits per notebook (see autograder/sandbox.py).
c.Execute.timeout = int(os.environ.get("TFCOURSE_CELL_TIMEOUT", "120"))
c.Execute.interrupt_on_timeout = True
c.Execute.allow_errors = True
