"""Building blocks of the judges: challenges, observations, mismatches and verdicts."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn

import numpy as np

RTOL = 1e-5
ATOL = 1e-6


class Mismatch(Exception):
    """An observation differs from the reference; the message is written for the student."""

    def __init__(self, observed: str, expected: str, hint: str):
        self.observed, self.expected, self.hint = observed, expected, hint
        super().__init__(f"{observed}; expected {expected}. Likely mistake: {hint}")


def fail(observed: str, expected: str, hint: str) -> NoReturn:
    """Raise a :class:`Mismatch` in the house format: observed / expected / likely mistake."""
    raise Mismatch(observed, expected, hint)


@dataclass
class Challenge:
    """Inputs of one grade cell: JSON parameters and float/int numpy arrays (written for the
    kernel), and ``private`` values that only the judge and its oracle see."""

    params: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    private: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.arrays[name] if name in self.arrays else self.params[name]


@dataclass(frozen=True)
class Exercise:
    """One grade cell: how to draw its challenge and how to judge an observation of it.

    ``oracle(challenge, state, request) -> reply``: answers the cell's replay stubs while the
    cell runs (:class:`autograder.judge.protocol.Oracle`); ``state`` is the cell's own dict
    (persisted across requests; the judge reads it as ``obs.served``)."""

    challenge: Callable[[np.random.Generator], Challenge]
    judge: Callable[[Challenge, Observation], None]  # raises Mismatch
    oracle: Callable[[Challenge, dict, dict], dict] | None = None


@dataclass
class Verdict:
    """The judge's decision for one grade cell."""

    grade_id: str
    score: float
    max_score: float
    message: str = ""  # empty when full marks
    status: str = "passed"  # passed | failed | missing

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        return asdict(self)


class Observation:
    """What an observer reported (untrusted data: every accessor validates), plus ``served``:
    what the oracle answered during the cell (trusted: recorded outside the kernel)."""

    def __init__(self, data: dict, served: dict | None = None):
        self.data = data if isinstance(data, dict) else {}
        self.served = served or {}

    def raw(self, name: str) -> Any:
        if name not in self.data:
            fail(f"the observation has no '{name}'", f"'{name}' to be recorded",
                 "the test cell did not run to the end: look at its output for the error")
        return self.data[name]

    def value(self, name: str, what: str, hint: str) -> Any:
        """Decoded value of ``name``; an exception raised by the student's code fails with it."""
        value = decode(self.raw(name))
        error = error_text(value)
        if error is not None:
            fail(f"{what} raised {error}", "it to run without an error", hint)
        return value

    def error(self, name: str) -> str | None:
        return error_text(decode(self.data.get(name)))


def error_text(value: Any) -> str | None:
    if isinstance(value, dict) and "__error__" in value:
        return str(value["__error__"])[:500]
    return None


def decode(value: Any) -> Any:
    """JSON from an observer -> numbers, numpy arrays, lists, dicts (``__nd__`` arrays)."""
    if isinstance(value, dict):
        if "__nd__" in value:
            try:
                shape, _dtype, flat = value["__nd__"]
                numbers = [_number(x) for x in flat]
                return np.asarray(numbers, dtype=np.float64).reshape([int(s) for s in shape])
            except (TypeError, ValueError):
                return {"__type__": "malformed array"}
        return {str(k): decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    return value


def _number(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, str)):
        raise TypeError(x)
    return float(x)


def describe(value: Any) -> str:
    """Short text of an observed value for a message."""
    if isinstance(value, dict) and "__type__" in value:
        return f"a {value['__type__']}"
    if isinstance(value, np.ndarray):
        return short(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)[:120]


def as_array(value: Any, what: str, hint: str) -> np.ndarray:
    """A float64 array from an observed value (number, array or nested list of numbers)."""
    if value is None:
        fail(f"{what} is None", "a number or a tensor", hint)
    if isinstance(value, dict):
        fail(f"{what} is {describe(value)}", "a number or a tensor", hint)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"{what} is {describe(value)}", "a number or a tensor", hint)
    return arr


def as_scalar(value: Any, what: str, hint: str) -> float:
    """The single number in an observed value."""
    arr = as_array(value, what, hint)
    if arr.size != 1:
        fail(f"{what} has shape {arr.shape}", "a single number (shape ())", hint)
    return float(arr.ravel()[0])


def close(a: Any, b: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a_arr.shape == b_arr.shape and bool(
        np.allclose(a_arr, b_arr, rtol=rtol, atol=atol, equal_nan=False))


def check_close(observed: Any, expected: Any, what: str, hint: str,
                rtol: float = RTOL, atol: float = ATOL) -> None:
    """Fail unless ``observed`` equals ``expected`` within the explicit tolerances."""
    obs = as_array(observed, what, hint)
    exp = np.asarray(expected, dtype=np.float64)
    if obs.shape != exp.shape:
        fail(f"{what} has shape {obs.shape}", f"shape {exp.shape}", hint)
    if not np.allclose(obs, exp, rtol=rtol, atol=atol):
        diff = np.abs(obs - exp)
        worst = float(np.nanmax(diff)) if obs.size and not np.all(np.isnan(diff)) else math.nan
        fail(f"{what} is {short(obs)} (max abs difference {worst:.3g})",
             f"{short(exp)} (rtol={rtol:g}, atol={atol:g})", hint)


def short(arr: np.ndarray) -> str:
    arr = np.asarray(arr)
    if arr.size <= 6:
        return np.array2string(arr, precision=6, separator=", ")
    flat = arr.ravel()
    return f"array{arr.shape} starting {np.array2string(flat[:4], precision=6, separator=', ')}"
