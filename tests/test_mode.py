"""The fast-mode switch: explicit setting, default, and nbgrader's Validate."""

from __future__ import annotations

import pytest

from tfcourse import mode


def test_default_is_full_and_the_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TFCOURSE_MODE", raising=False)
    monkeypatch.delenv("NBGRADER_VALIDATING", raising=False)
    assert mode.pick(10, 2) == 10
    monkeypatch.setenv("TFCOURSE_MODE", "fast")
    assert mode.pick(10, 2) == 2
    monkeypatch.setenv("TFCOURSE_MODE", "bogus")
    with pytest.raises(ValueError, match="bogus"):
        mode.mode()


def test_validate_runs_in_fast_mode_unless_told_otherwise(monkeypatch) -> None:
    monkeypatch.delenv("TFCOURSE_MODE", raising=False)
    monkeypatch.setenv("NBGRADER_VALIDATING", "1")  # set by nbgrader's Validate
    assert mode.fast_mode() and mode.pick(10, 2) == 2
    monkeypatch.setenv("TFCOURSE_MODE", "full")
    assert mode.pick(10, 2) == 10
