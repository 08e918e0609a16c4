"""The exercise tests themselves are tested: they fail on the stubs, pass on the solutions, and catch
every mistake in the mutant catalog (tests/mutants.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from mutants import MUTANTS

from gpt_from_scratch.grading.points import EXERCISES
from gpt_from_scratch.seam import CONCEPTS

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def runs() -> dict:
    """Outcomes of the exercise tests on the stubs, the solutions and each mutant (one subprocess)."""
    result = subprocess.run(
        [sys.executable, str(HERE / "exercise_runs.py")], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_every_exercise_test_fails_on_the_untouched_stubs(runs):
    stubs = runs["stubs"]
    assert not stubs["collection_errors"]
    assert len(stubs["passed"]) >= 30
    passing = [nodeid for nodeid, passed in stubs["passed"].items() if passed]
    assert passing == [], f"these exercise tests pass on a stub, so they prove nothing: {passing}"


def test_every_exercise_test_passes_on_the_solutions(runs):
    solutions = runs["solutions"]
    assert set(solutions["passed"]) == set(runs["stubs"]["passed"])
    failing = [nodeid for nodeid, passed in solutions["passed"].items() if not passed]
    assert failing == []


def test_every_exercise_has_tests_and_mutants():
    assert set(EXERCISES) == set(CONCEPTS)
    per_concept = Counter(m.concept for m in MUTANTS)
    assert set(per_concept) == set(CONCEPTS)
    assert len(MUTANTS) >= 20
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.concept}.{m.name}")
def test_exercise_tests_catch_the_mutant(runs, mutant):
    outcome = runs["mutants"][mutant.name]
    assert outcome["passed"], f"no exercise test ran for {mutant.concept}"
    failures = [nodeid for nodeid, passed in outcome["passed"].items() if not passed]
    assert failures, f"mutant {mutant.name} ({mutant.hint}) passes every {mutant.concept} test"
