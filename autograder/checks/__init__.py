"""Hidden-test helpers, one module per assignment.

Hidden test cells call these functions; each computes its expected result from an independent
reference at run time (fresh tape, numpy formula, scikit-learn) and raises
:class:`CheckFailure` with a message that says what was observed, what was expected and the
likely mistake.
"""

from autograder.checks._common import CheckFailure

__all__ = ["CheckFailure"]
