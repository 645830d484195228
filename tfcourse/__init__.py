"""Student-facing helpers of the course: data loading, the fast-mode switch and plots.

Nothing in this package contains an exercise solution or a hidden test; those live in the
instructor's ``source/`` notebooks and the ``autograder`` package.
"""

from tfcourse.mode import fast_mode, pick

__all__ = ["fast_mode", "pick"]
__version__ = "0.1.0"
