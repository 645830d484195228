"""The exchange between the judge and the kernel: challenge files in, observation files out.

Trusted side only. Challenges are written into a folder the kernel sees read-only; the
observation folder is the kernel's, so everything read from it is treated as hostile: files are
opened without following symlinks, must be regular files under :data:`MAX_OBSERVATION_BYTES`,
must parse as JSON within :data:`MAX_JSON_DEPTH`, must name their grade cell and carry this
run's nonce. :func:`harvest` runs right after each grade cell (from the executor, see
``autograder.grade.preprocessors.SurvivingExecute``), so an observation counts only if it was
written
while that very test cell ran: a test cell that never executed never scores.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import socket
import stat
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from autograder.judge.core import Challenge, Exercise, Mismatch, Observation, Verdict

MAX_OBSERVATION_BYTES = 4 << 20  # one grade cell's observation file
MAX_JSON_DEPTH = 32
MAX_ENTRIES = 1000  # files looked at in the observation folder per harvest
MAX_REQUEST_BYTES = 4 << 20  # one oracle request
MAX_REQUESTS_PER_CELL = 5000
ORACLE_SOCKET = "oracle.sock"
# Reasons, as the student and the instructor read them in the feedback and the report.
NOT_RUN = "the test cell did not run (no observation was recorded while it executed)"
NO_OBSERVATION = ("the test cell ran but recorded no observation (it stopped with an error "
                  "before its hidden part, or the kernel stopped)")


def exercises(assignment: str) -> dict[str, Exercise]:
    """The grade cells the judge knows for ``assignment`` (``judge.<assignment>.EXERCISES``)."""
    module = importlib.import_module(f"autograder.judge.{assignment}")
    return dict(module.EXERCISES)


def make_challenges(assignment: str, seed: int) -> dict[str, Challenge]:
    """One challenge per grade cell, each from its own stream of ``seed``."""
    return {
        grade_id: exercise.challenge(
            np.random.default_rng([seed, zlib.crc32(grade_id.encode())]))
        for grade_id, exercise in exercises(assignment).items()
    }


def encode_array(arr: np.ndarray) -> dict:
    arr = np.asarray(arr)
    kind = "int64" if arr.dtype.kind in "iub" else str(arr.dtype)
    return {"__nd__": [list(arr.shape), kind, arr.ravel().tolist()]}


def write_challenges(folder: Path, challenges: dict[str, Challenge], nonce: str) -> None:
    """``<folder>/<grade_id>.json`` for each challenge, world-readable, folder read-only."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for grade_id, ch in challenges.items():
        payload = {"nonce": nonce, "params": ch.params,
                   "arrays": {k: encode_array(v) for k, v in ch.arrays.items()}}
        path = folder / f"{grade_id}.json"
        path.write_text(json.dumps(payload))
        path.chmod(0o644)
    folder.chmod(0o755)


def expose_challenge(source: str, target: str, grade_id: str) -> Path | None:
    """Copy ``<source>/<grade_id>.json`` into the kernel's challenge folder ``target`` for the
    duration of one test cell (the caller removes it afterwards), so that no earlier cell can
    read a challenge in advance. Returns the exposed path, or None if there is nothing to do."""
    if not source or not target:
        return None
    origin, path = Path(source) / f"{grade_id}.json", Path(target) / f"{grade_id}.json"
    if not origin.is_file():
        return None
    tmp = path.with_name(f".{grade_id}.tmp")
    tmp.write_bytes(origin.read_bytes())
    tmp.chmod(0o644)
    os.replace(tmp, path)
    return path


def _depth(value: object, limit: int) -> int:
    stack, deepest = [(value, 1)], 1
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > limit:
            return level
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def read_observation(dir_fd: int, name: str) -> tuple[dict | None, str]:
    """(payload, "") or (None, why) for the file ``name`` of an open observation folder."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, "the observation file is a symbolic link (ignored)"
        return None, f"the observation file could not be opened ({exc.strerror})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "the observation is not a regular file (ignored)"
        if info.st_size > MAX_OBSERVATION_BYTES:
            return None, (f"the observation is too large ({info.st_size} bytes, limit "
                          f"{MAX_OBSERVATION_BYTES})")
        with os.fdopen(os.dup(fd), "rb") as fh:
            blob = fh.read(MAX_OBSERVATION_BYTES + 1)
    finally:
        os.close(fd)
    if len(blob) > MAX_OBSERVATION_BYTES:
        return None, "the observation is too large"
    try:
        payload = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, "the observation is not valid JSON"
    if not isinstance(payload, dict) or _depth(payload, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        return None, "the observation is malformed"
    return payload, ""


def clear(folder: Path) -> None:
    """Remove the entries of the kernel's observation folder (never following links)."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        for count, entry in enumerate(os.scandir(dir_fd)):
            if count >= MAX_ENTRIES:
                break
            try:
                if not entry.is_dir(follow_symlinks=False):
                    os.unlink(entry.name, dir_fd=dir_fd)
            except OSError:
                pass
    finally:
        os.close(dir_fd)


def harvest(folder: Path, grade_id: str, nonce: str) -> tuple[dict | None, str]:
    """Take the observation of ``grade_id`` written during the cell that just ran, then clear.

    Returns (observation data, "") or (None, why it is missing or refused).
    """
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None, "the observation folder is missing"
    try:
        payload, why = read_observation(dir_fd, f"{grade_id}.json")
    finally:
        os.close(dir_fd)
    clear(folder)
    if payload is None:
        return None, why if "could not be opened" not in why else NO_OBSERVATION
    if payload.get("grade_id") != grade_id or payload.get("nonce") != nonce:
        return None, "the observation does not belong to this test cell or this grading run"
    data = payload.get("data")
    if not isinstance(data, dict):
        return None, "the observation is malformed"
    return data, ""


def judge_all(
    assignment: str, challenges: dict[str, Challenge], evidence: dict,
    max_points: dict[str, float],
) -> list[Verdict]:
    """A verdict for every grade cell in ``max_points`` (the gradebook's, not the notebook's).

    ``evidence``: ``{"observations": {grade_id: data}, "missing": {grade_id: why},
    "executed": [grade_id, ...], "oracle": {grade_id: served}}`` as written by the executor.
    Anything absent scores 0.
    """
    known = exercises(assignment)
    observations = evidence.get("observations") or {}
    missing = evidence.get("missing") or {}
    executed = set(evidence.get("executed") or [])
    errors = evidence.get("errors") or {}
    verdicts = []
    for grade_id, points in max_points.items():
        exercise, challenge = known.get(grade_id), challenges.get(grade_id)
        if exercise is None or challenge is None:
            verdicts.append(Verdict(grade_id, 0.0, points,
                                    "the grader has no judge for this cell", "missing"))
            continue
        if grade_id not in executed:
            verdicts.append(Verdict(grade_id, 0.0, points, NOT_RUN, "missing"))
            continue
        data = observations.get(grade_id)
        if data is None:
            why = missing.get(grade_id) or NO_OBSERVATION
            if errors.get(grade_id):
                why = f"{why}; the cell stopped with {errors[grade_id]}"
            verdicts.append(Verdict(grade_id, 0.0, points, why, "missing"))
            continue
        served = (evidence.get("oracle") or {}).get(grade_id)
        verdicts.append(judge_one(grade_id, exercise, challenge, data, points, served))
    return verdicts


def judge_one(grade_id: str, exercise: Exercise, challenge: Challenge, data: dict,
              points: float, served: dict | None = None) -> Verdict:
    """Apply one exercise's judge to one observation; its own bugs never pass a cell."""
    observation = Observation(data, served)
    error = observation.error("observer_error")
    if error is not None:
        return Verdict(grade_id, 0.0, points,
                       f"the hidden test could not observe your code: {error}", "failed")
    try:
        exercise.judge(challenge, observation)
    except Mismatch as mismatch:
        message = str(mismatch)
        if ("raised NotImplementedError" in mismatch.observed
                and "NotImplementedError()" not in mismatch.hint):
            message = (f"{mismatch.observed.split(' raised ')[0]} raised NotImplementedError: "
                       "the exercise is not answered yet; replace `raise "
                       "NotImplementedError()` by your code")
        return Verdict(grade_id, 0.0, points, message, "failed")
    except Exception as exc:  # noqa: BLE001 - hostile data must never crash or pass a cell
        return Verdict(grade_id, 0.0, points,
                       f"the observation could not be judged ({type(exc).__name__}: "
                       f"{str(exc)[:200]})", "failed")
    return Verdict(grade_id, points, points, "", "passed")


class Oracle:
    """Answers the replay stubs of the test cell that is running, from the judge's values.

    A replay stub in the kernel (e.g. ``train`` while ``fit`` is observed) sends what it was
    called with over a Unix socket; the exercise's ``oracle`` function checks the request
    against the judge's own numbers (is the model where the previous step left it, is it the
    right batch, ...) and answers with the next reference values, or refuses. The values never
    sit in a file the kernel can read, so a submission gets them only by making the calls the
    exercise asks for, in order. Requests are answered only while a test cell with an oracle
    runs (:meth:`for_cell`), are size-capped and counted; what was served is evidence for the
    judge (:meth:`served`).
    """

    _running: dict[str, Oracle] = {}  # socket path -> oracle, for the executor in this process

    def __init__(self, assignment: str, challenges: dict[str, Challenge], nonce: str,
                 folder: Path):
        self.handlers = {gid: ex.oracle for gid, ex in exercises(assignment).items()
                         if ex.oracle is not None}
        self.challenges, self.nonce = challenges, nonce
        self.path = Path(folder) / ORACLE_SOCKET
        self.current: str | None = None
        self.state: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None

    def start(self) -> Oracle:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(self.path))
        os.chmod(self.path, 0o666)
        self.sock.listen(16)
        Oracle._running[str(self.path)] = self
        threading.Thread(target=self._serve, name="judge-oracle", daemon=True).start()
        return self

    def stop(self) -> None:
        Oracle._running.pop(str(self.path), None)
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    @classmethod
    def at(cls, path: str) -> Oracle | None:
        return cls._running.get(path)

    def for_cell(self, grade_id: str | None) -> None:
        """Answer requests of ``grade_id`` only (None: refuse everything)."""
        with self.lock:
            self.current = grade_id if grade_id in self.handlers else None
            if self.current is not None:
                self.state[self.current] = {"requests": 0}

    def served(self) -> dict[str, dict]:
        """What each test cell's stubs were served (JSON-able): evidence for the judge."""
        with self.lock:
            return json.loads(json.dumps(self.state, default=float))

    def _serve(self) -> None:
        while self.sock is not None:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    reply = self._answer(self._read(conn))
                except Exception as exc:  # noqa: BLE001 - a hostile request is refused
                    reply = {"ok": False, "why": f"bad request ({type(exc).__name__})"}
                try:
                    conn.sendall((json.dumps(reply) + "\n").encode())
                except OSError:
                    pass

    @staticmethod
    def _read(conn: socket.socket) -> dict:
        chunks, size = [], 0
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_REQUEST_BYTES:
                raise ValueError("request too large")
            if chunk.endswith(b"\n"):
                break
        request = json.loads(b"".join(chunks).decode("utf-8"))
        if not isinstance(request, dict) or _depth(request, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
            raise ValueError("malformed")
        return request

    def _answer(self, request: dict) -> dict[str, Any]:
        with self.lock:
            grade_id = request.get("grade_id")
            if request.get("nonce") != self.nonce or grade_id != self.current:
                return {"ok": False, "why": "not this test cell's oracle"}
            state = self.state[grade_id]
            state["requests"] += 1
            if state["requests"] > MAX_REQUESTS_PER_CELL:
                return {"ok": False, "why": "too many requests"}
            payload = request.get("request")
            if not isinstance(payload, dict):
                return {"ok": False, "why": "malformed"}
            return self.handlers[grade_id](self.challenges[grade_id], state, payload)
