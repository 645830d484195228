"""Test-wide settings: fast mode, quiet TensorFlow, and the data mirror of the course machines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

os.environ.setdefault("TFCOURSE_MODE", "fast")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if "TFCOURSE_DATA_MIRROR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["TFCOURSE_DATA_MIRROR"] = str(SHARED_DATA)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def shared_data() -> Path:
    """The data mirror: $TFCOURSE_DATA_MIRROR, else ../shared/data next to the checkout."""
    mirror = Path(os.environ.get("TFCOURSE_DATA_MIRROR") or SHARED_DATA)
    if not (mirror / "breast-cancer-wisconsin.data").is_file():
        pytest.fail(
            f"the course data mirror {mirror} is missing; set TFCOURSE_DATA_MIRROR to a "
            "folder holding breast-cancer-wisconsin.data"
        )
    return mirror
