"""Shared building blocks of the hidden-test checks."""

from __future__ import annotations

import builtins as _builtins
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

_BUILTINS = {name: getattr(_builtins, name) for name in (
    "isinstance", "float", "len", "abs", "AssertionError", "all", "any")}
RTOL = 1e-5
ATOL = 1e-6


class CheckFailure(AssertionError):
    """A hidden check failed. The message is written for the student."""


class IntegrityFailure(CheckFailure):
    """The checking machinery itself was tampered with; the submission needs manual review."""


def self_test() -> None:
    """Refuse to grade when numpy's comparison helpers no longer tell 0 from 1.

    Student code runs in the same kernel as the checks, so ``np.allclose = lambda *a: True``
    would make every comparison pass. Cheap enough to run before every check.
    """
    import builtins

    problems: list[str] = []
    # A replacement written in Python is a plain function or a class from another module.
    for name in ("isinstance", "len", "abs", "all", "any", "getattr"):
        if type(getattr(builtins, name)).__name__ != "builtin_function_or_method":
            problems.append(f"builtins.{name}")
    for name in ("float", "AssertionError", "Exception"):
        if getattr(getattr(builtins, name), "__module__", "") != "builtins":
            problems.append(f"builtins.{name}")
    if problems:  # numpy itself relies on these; stop before calling it
        raise IntegrityFailure(
            f"Python builtins were replaced at run time ({', '.join(problems)}); this "
            "submission is flagged for manual review"
        )
    if np.allclose(0.0, 1.0) or not np.allclose(1.0, 1.0):
        problems.append("numpy.allclose")
    if bool(np.all(np.isclose([0.0], [1.0]))):
        problems.append("numpy.isclose")
    if np.array_equal([1], [2]) or not np.array_equal([1], [1]):
        problems.append("numpy.array_equal")
    if float(np.max(np.abs(np.array([-2.0, 1.0])))) != 2.0:
        problems.append("numpy.abs/numpy.max")
    try:
        np.testing.assert_allclose(0.0, 1.0)
        problems.append("numpy.testing.assert_allclose")
    except AssertionError:
        pass
    if problems:
        raise IntegrityFailure(
            f"the checking tools were replaced at run time ({', '.join(problems)}); this "
            "submission is flagged for manual review"
        )


def fail(observed: str, expected: str, hint: str) -> None:
    """Raise a :class:`CheckFailure` in the house format: observed / expected / likely mistake."""
    raise CheckFailure(f"{observed}; expected {expected}. Likely mistake: {hint}")


def to_numpy(value: Any) -> np.ndarray:
    """Tensor, Variable, numpy array or Python number -> float64 numpy array."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    return np.asarray(value, dtype=np.float64)


def is_close(a: Any, b: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    self_test()
    a_arr, b_arr = to_numpy(a), to_numpy(b)
    return a_arr.shape == b_arr.shape and bool(np.allclose(a_arr, b_arr, rtol=rtol, atol=atol))


def check_close(
    observed: Any, expected: Any, what: str, hint: str, rtol: float = RTOL, atol: float = ATOL
) -> None:
    """Fail unless ``observed`` equals ``expected`` within the explicit tolerances."""
    self_test()
    obs, exp = to_numpy(observed), to_numpy(expected)
    if obs.shape != exp.shape:
        fail(f"{what} has shape {obs.shape}", f"shape {exp.shape}", hint)
    if not np.allclose(obs, exp, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(obs - exp))) if obs.size else 0.0
        fail(
            f"{what} is {_short(obs)} (max abs difference {worst:.3g})",
            f"{_short(exp)} (rtol={rtol:g}, atol={atol:g})",
            hint,
        )


def snapshot(variables: Iterable[Any]) -> list[np.ndarray]:
    """Copy the current values of variables (before a step) as numpy arrays."""
    return [np.array(v.numpy(), copy=True) for v in variables]


def changed(before: Sequence[np.ndarray], variables: Iterable[Any]) -> list[bool]:
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables, strict=True)]


def _short(arr: np.ndarray) -> str:
    if arr.size <= 6:
        return np.array2string(arr, precision=6, separator=", ")
    flat = arr.ravel()
    return f"array{arr.shape} starting {np.array2string(flat[:4], precision=6, separator=', ')}"
