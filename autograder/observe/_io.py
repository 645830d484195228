"""Read a grade cell's challenge and write its observation (JSON only, inside the kernel).

Protocol (owned by :mod:`autograder.judge.protocol` on the trusted side):

* ``$TFCOURSE_CHALLENGE_DIR/<grade_id>.json``: ``{"params": {...}, "arrays": {name: array}}``
* ``$TFCOURSE_OBS_DIR/<grade_id>.json``: ``{"grade_id": ..., "nonce": ..., "data": {...}}``

Arrays are encoded as ``{"__nd__": [shape, dtype, flat values]}``; an exception raised by the
student's code as ``{"__error__": "TypeName: message"}``. Without a challenge folder (a student
running the source notebook, an author trying a cell) observers print one line and do nothing.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_TEXT = 500  # characters of an exception message kept in an observation
MAX_ELEMENTS = 200_000  # elements of one array kept in an observation


class NoChallenge(RuntimeError):
    """Not running under the grader: there is nothing to observe."""


class Challenge:
    """The inputs of one grade cell: JSON parameters and numpy arrays."""

    def __init__(self, grade_id: str, params: dict, arrays: dict[str, np.ndarray], nonce: str):
        self.grade_id, self.params, self.arrays, self.nonce = grade_id, params, arrays, nonce

    def __getitem__(self, name: str) -> Any:
        return self.arrays[name] if name in self.arrays else self.params[name]


def decode_array(obj: dict) -> np.ndarray:
    shape, dtype, flat = obj["__nd__"]
    return np.asarray(flat, dtype=np.dtype(dtype)).reshape(shape)


def load(grade_id: str) -> Challenge:
    """The challenge of ``grade_id``; :class:`NoChallenge` when not grading."""
    folder = os.environ.get("TFCOURSE_CHALLENGE_DIR")
    if not folder:
        raise NoChallenge(grade_id)
    with open(os.path.join(folder, f"{grade_id}.json"), encoding="utf-8") as fh:
        raw = json.load(fh)
    arrays = {name: decode_array(value) for name, value in raw.get("arrays", {}).items()}
    return Challenge(grade_id, raw.get("params", {}), arrays, raw.get("nonce", ""))


def encode(value: Any, depth: int = 0) -> Any:
    """A JSON-able copy of ``value`` (tensors and arrays as ``__nd__``; unknown types by name)."""
    if depth > 8:
        return {"__type__": "nested too deep"}
    if value is None or isinstance(value, (bool, str)):
        return value if not isinstance(value, str) else value[:MAX_TEXT]
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating, np.bool_)):
        number = float(value)
        return number if math.isfinite(number) else repr(number)
    if isinstance(value, BaseException):
        return {"__error__": f"{type(value).__name__}: {value}"[:MAX_TEXT]}
    if hasattr(value, "numpy") and callable(value.numpy):
        try:
            value = value.numpy()
        except Exception as exc:  # noqa: BLE001 - a symbolic tensor, a broken object
            return {"__type__": f"{type(value).__name__} ({type(exc).__name__})"}
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            return {"__type__": f"array of {value.dtype}"}
        arr = value.astype(np.float64)
        if arr.size > MAX_ELEMENTS:
            return {"__type__": f"array of shape {arr.shape} (too large to record)"}
        flat = [float(x) if math.isfinite(x) else repr(float(x)) for x in arr.ravel()]
        return {"__nd__": [list(arr.shape), "float64", flat]}
    if isinstance(value, dict):
        return {str(k)[:100]: encode(v, depth + 1) for k, v in list(value.items())[:1000]}
    if isinstance(value, (list, tuple)):
        return [encode(v, depth + 1) for v in list(value)[:10_000]]
    return {"__type__": type(value).__name__[:100]}


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """``(returned, None)`` or ``(None, {"__error__": ...})``: student code may raise anything."""
    try:
        return fn(*args, **kwargs), None
    except Exception as exc:  # noqa: BLE001 - reported to the judge, which explains it
        return None, encode(exc)


def ask(challenge: Challenge, request: dict) -> dict | None:
    """Ask the judge's oracle for the values a replay stub returns (None if it refuses or is
    unreachable). The oracle checks the request against its own numbers."""
    path = os.environ.get("TFCOURSE_ORACLE")
    if not path:
        return None
    import socket

    payload = {"grade_id": challenge.grade_id, "nonce": challenge.nonce,
               "request": encode(request)}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(30)
            conn.connect(path)
            conn.sendall((json.dumps(payload) + "\n").encode())
            chunks = []
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        reply = json.loads(b"".join(chunks).decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(reply, dict) or not reply.get("ok"):
        return None
    return {k: decode_array(v) if isinstance(v, dict) and "__nd__" in v else v
            for k, v in reply.items()}


def record(challenge: Challenge, data: dict) -> None:
    """Write the observation of ``challenge.grade_id`` (one file, replaced atomically)."""
    folder = os.environ.get("TFCOURSE_OBS_DIR")
    if not folder:
        raise NoChallenge(challenge.grade_id)
    payload = {"grade_id": challenge.grade_id, "nonce": challenge.nonce, "data": encode(data)}
    tmp = os.path.join(folder, f".{challenge.grade_id}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh)
    os.replace(tmp, os.path.join(folder, f"{challenge.grade_id}.json"))


def observer(grade_id: str) -> Callable[[Callable[..., dict]], Callable[..., None]]:
    """Decorator: load the challenge, run the body (which returns the data), record it.

    The body gets the challenge first, then the test cell's arguments. Outside grading it
    prints one line and returns, so the source notebook still runs for its author.
    """

    def wrap(body: Callable[..., dict]) -> Callable[..., None]:
        def run(*args: Any, **kwargs: Any) -> None:
            try:
                challenge = load(grade_id)
            except NoChallenge:
                if os.environ.get("NBGRADER_EXECUTION") == "autograde":
                    raise RuntimeError(  # a plain `nbgrader autograde` cannot judge: fail
                        "this test cell is scored by the course's judge: grade with "
                        "`python -m autograder autograde`, not plain `nbgrader autograde`"
                    ) from None
                print(f"[{grade_id}: hidden checks run when the notebook is graded]")
                return
            try:
                data = body(challenge, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - an observer never hides a failure
                data = {"observer_error": encode(exc)}
            record(challenge, data)

        run.__name__ = run.__qualname__ = grade_id
        run.__doc__ = body.__doc__
        return run

    return wrap
