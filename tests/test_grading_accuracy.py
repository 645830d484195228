"""Grading accuracy: every variant graded in a fresh kernel through the judge, fresh challenges.

One test per variant asserts its outcome (correct -> full credit; mutant -> fails the cells it
names, with a message naming the mistake, and loses no point in other exercises). CI grades
each variant once (the judges' in-process tests cover many seeds); ``make accuracy`` grades
twice and reports any difference. The table is written to artifacts/grading_accuracy.txt and
printed (``pytest -s``); README shows it.
"""

from __future__ import annotations

import pytest

from autograder import build
from autograder.qa import accuracy, variants

ALL = [v for a in build.assignments() for v in variants.discover(a)]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def outcomes() -> dict[str, accuracy.Outcome]:
    graded = accuracy.evaluate(build.assignments(), repeat=1, workers=2)
    text = accuracy.table(graded)
    out = build.REPO_ROOT / "artifacts"
    out.mkdir(exist_ok=True)
    (out / "grading_accuracy.txt").write_text(text + "\n")
    print("\n" + text)
    return {f"{o.variant.assignment}/{o.variant.name}": o for o in graded}


def test_catalogue_is_large_enough() -> None:
    correct = [v for v in ALL if v.is_correct]
    mutants = [v for v in ALL if not v.is_correct]
    assert len(correct) >= 15 and len(mutants) >= 40, (len(correct), len(mutants))
    for assignment in build.assignments():
        kinds = {v.kind for v in ALL if v.assignment == assignment}
        assert kinds == {"correct", "mutant"}, f"{assignment} lacks a kind of variant"


@pytest.mark.parametrize("variant", ALL, ids=lambda v: f"{v.assignment}/{v.name}")
def test_variant_is_graded_right(variant: variants.Variant, outcomes) -> None:
    outcome = outcomes[f"{variant.assignment}/{variant.name}"]
    assert outcome.ok, f"{variant.kind} '{variant.description}': {outcome.why}"
    assert outcome.collateral == 0
    if not variant.is_correct:
        assert variant.message, f"{variant.name}: a mutant must declare its # message:"


def test_messages_name_the_mistake(outcomes) -> None:
    mutants = [o for o in outcomes.values() if not o.variant.is_correct]
    named = sum(o.named for o in mutants)
    assert named >= 0.9 * len(mutants), [o.variant.name for o in mutants if not o.named]
