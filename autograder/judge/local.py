"""Observe and judge one grade cell in this process: for check authors and their tests.

The grading pipeline never uses this (there the observer runs in the sandboxed kernel and the
judge in the worker); it lets an author try an observer + judge pair on a Python function::

    from autograder.judge import local
    verdict = local.run("training_basics", "loss_is_mean_squared_error", my_loss)
    assert not verdict.passed and "sum instead of mean" in verdict.message
"""

from __future__ import annotations

import importlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from autograder.judge import protocol
from autograder.judge.core import Verdict

ENV = ("TFCOURSE_CHALLENGE_DIR", "TFCOURSE_OBS_DIR", "TFCOURSE_ORACLE")


@contextmanager
def exchange(assignment: str, challenges: dict, nonce: str) -> Iterator[tuple[Path, Any]]:
    """Challenge and observation folders and the oracle, as the grading kernel has them."""
    saved = {k: os.environ.get(k) for k in ENV}
    with tempfile.TemporaryDirectory(prefix="tfj-", dir="/tmp") as tmp:
        challenge_dir, obs_dir = Path(tmp) / "challenge", Path(tmp) / "obs"
        obs_dir.mkdir()
        protocol.write_challenges(challenge_dir, challenges, nonce)
        oracle = protocol.Oracle(assignment, challenges, nonce, Path(tmp) / "o").start()
        os.environ["TFCOURSE_CHALLENGE_DIR"] = str(challenge_dir)
        os.environ["TFCOURSE_OBS_DIR"] = str(obs_dir)
        os.environ["TFCOURSE_ORACLE"] = str(oracle.path)
        try:
            yield obs_dir, oracle
        finally:
            oracle.stop()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def run(assignment: str, grade_id: str, *args: Any, seed: int | None = None,
        points: float = 1.0, **kwargs: Any) -> Verdict:
    """Draw the challenge, run the observer on ``args``, judge what it recorded."""
    seed = secrets.randbits(63) if seed is None else seed
    challenges = protocol.make_challenges(assignment, seed)
    observer = getattr(importlib.import_module(f"autograder.observe.{assignment}"), grade_id)
    nonce = secrets.token_hex(8)
    with exchange(assignment, {grade_id: challenges[grade_id]}, nonce) as (obs_dir, oracle):
        oracle.for_cell(grade_id)
        observer(*args, **kwargs)
        oracle.for_cell(None)
        served = oracle.served().get(grade_id)
        data, why = protocol.harvest(obs_dir, grade_id, nonce)
    if data is None:
        return Verdict(grade_id, 0.0, points, why, "missing")
    exercise = protocol.exercises(assignment)[grade_id]
    return protocol.judge_one(grade_id, exercise, challenges[grade_id], data, points, served)
