"""The judge: decides every grade cell's points and message from observations.

The judge runs in the grading worker, outside the sandbox, and never imports or executes
anything a notebook could have written. For each grade cell of an assignment
(``autograder.judge.<assignment>.EXERCISES``) it

1. draws a *challenge* before the notebook runs: fresh inputs for this grading run (from a
   seed the worker draws with :mod:`secrets`) and, where the exercise builds on another one,
   the reference *values* that stand in for it (never code);
2. after the notebook ran, reads the observation the grade cell's observer wrote during that
   cell's execution (size-capped JSON, see :mod:`autograder.judge.protocol`);
3. computes the reference on the same inputs (numpy, independent of the student's code) and
   compares. A missing, malformed or oversized observation scores 0 with the reason (fail
   closed); a failed comparison scores 0 with what was observed, what was expected and, when
   the observation identifies it, the likely mistake.
"""

from autograder.judge.core import Mismatch, Verdict

__all__ = ["Mismatch", "Verdict"]
