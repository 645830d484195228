"""The exchange between the judge and the kernel: challenge files in, observation files out.

Trusted side only. Challenges are written into a folder the kernel sees read-only; the
observation folder is the kernel's, so everything read from it is treated as hostile: files are
opened without following symlinks, must be regular files under :data:`MAX_OBSERVATION_BYTES`,
must parse as JSON within :data:`MAX_JSON_DEPTH`, must name their grade cell and carry this
run's nonce. :func:`harvest` runs right after each grade cell (from the executor, see
``autograder.preprocessors.SurvivingExecute``), so an observation counts only if it was written
while that very test cell ran: a test cell that never executed never scores.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import stat
import zlib
from pathlib import Path

import numpy as np

from autograder.judge.core import Challenge, Exercise, Mismatch, Observation, Verdict

MAX_OBSERVATION_BYTES = 4 << 20  # one grade cell's observation file
MAX_JSON_DEPTH = 32
MAX_ENTRIES = 1000  # files looked at in the observation folder per harvest
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
    "executed": [grade_id, ...]}`` as written by the executor. Anything absent scores 0.
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
        verdicts.append(judge_one(grade_id, exercise, challenge, data, points))
    return verdicts


def judge_one(grade_id: str, exercise: Exercise, challenge: Challenge, data: dict,
              points: float) -> Verdict:
    """Apply one exercise's judge to one observation; its own bugs never pass a cell."""
    observation = Observation(data)
    error = observation.error("observer_error")
    if error is not None:
        return Verdict(grade_id, 0.0, points,
                       f"the hidden test could not observe your code: {error}", "failed")
    try:
        exercise.judge(challenge, observation)
    except Mismatch as mismatch:
        return Verdict(grade_id, 0.0, points, str(mismatch), "failed")
    except Exception as exc:  # noqa: BLE001 - hostile data must never crash or pass a cell
        return Verdict(grade_id, 0.0, points,
                       f"the observation could not be judged ({type(exc).__name__}: "
                       f"{str(exc)[:200]})", "failed")
    return Verdict(grade_id, points, points, "", "passed")
