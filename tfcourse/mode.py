"""The one switch between the full course and the fast grading/test mode.

``TFCOURSE_MODE=fast`` makes the notebooks use small data and few epochs, so that autograding
and CI are quick. It never changes *what* is graded: hidden tests build their own data and
reference results, whatever the mode.
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

ENV_VAR = "TFCOURSE_MODE"
_MODES = ("full", "fast")
#: Kernel environment that keeps TensorFlow's C++ start-up log (absl ``I0000 ...`` lines:
#: CPU features, oneDNN, memory patches) off stderr, where it shows as a pink box. oneDNN
#: itself stays on (``TF_ENABLE_ONEDNN_OPTS=0`` would only hide the same line, at a cost in
#: speed and a different numeric path from grading).
QUIET_TENSORFLOW_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}


def mode() -> str:
    """Return the current mode, ``"full"`` (default) or ``"fast"``.

    nbgrader's Validate button (``NBGRADER_VALIDATING``) runs in fast mode unless
    ``TFCOURSE_MODE`` says otherwise: a full-size training cell would hit the cell time limit
    and Validate would report on a notebook that never finished.
    """
    default = "fast" if os.environ.get("NBGRADER_VALIDATING") else "full"
    value = os.environ.get(ENV_VAR, default).strip().lower() or default
    if value not in _MODES:
        raise ValueError(f"{ENV_VAR}={value!r} is not one of {', '.join(_MODES)}")
    return value


def fast_mode() -> bool:
    """True when notebooks should run on small data with few epochs."""
    return mode() == "fast"


def pick(full: T, fast: T) -> T:
    """Return ``fast`` in fast mode and ``full`` otherwise, e.g. ``EPOCHS = pick(10, 2)``."""
    return fast if fast_mode() else full
