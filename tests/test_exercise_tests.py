"""The exercise tests themselves are tested: they fail on the stubs, pass on the solutions, pass for
each exercise solved alone, and catch every mistake in the mutant catalog (tests/mutants.py).

The stubs are generated from solutions/, never read from the learner's exercises/ (which stops
being stubs as the learner works): only the committed stubs' signatures are checked against them.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from mutants import MUTANTS

from gpt_from_scratch.grading.points import EXERCISES, concept_of
from gpt_from_scratch.grading.stubs import SOLUTIONS_DIR, public_functions, signatures, stub_source
from gpt_from_scratch.seam import CONCEPTS

HERE = Path(__file__).parent
EXERCISES_DIR = HERE.parent / "exercises"


@pytest.fixture(scope="module")
def runs() -> dict:
    """Outcomes of the exercise tests on the stubs, the solutions, each exercise alone and each mutant."""
    result = subprocess.run(
        [sys.executable, str(HERE / "exercise_runs.py")], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_every_exercise_test_fails_on_the_stubs_with_one_line(runs):
    stubs = runs["stubs"]
    assert not stubs["collection_errors"]
    assert len(stubs["passed"]) >= 30
    passing = [nodeid for nodeid, passed in stubs["passed"].items() if passed]
    assert passing == [], f"these exercise tests pass on a stub, so they prove nothing: {passing}"
    for nodeid, line in stubs["failures"].items():
        assert line.startswith("not implemented yet: exercises/"), (nodeid, line)


def test_no_run_reads_the_learners_exercises(runs):
    # The stubs, and each exercise solved alone, come from the scratch checkout's generated files.
    assert set(runs["stubs"]["files"]) == set(CONCEPTS)
    for name, run in [("stubs", runs["stubs"]), *runs["alone"].items()]:
        assert name == "stubs" or name in run["files"]
        for concept, file in run["files"].items():
            assert Path(file).name == f"{concept}.py", (name, file)
            assert Path(file).parent != EXERCISES_DIR, f"{name} ran the learner's {file}"


def test_every_exercise_test_passes_on_the_solutions(runs):
    solutions = runs["solutions"]
    assert set(solutions["passed"]) == set(runs["stubs"]["passed"])
    failing = [nodeid for nodeid, passed in solutions["passed"].items() if not passed]
    assert failing == []


def test_every_exercise_has_tests_and_mutants():
    assert set(EXERCISES) == set(CONCEPTS)
    per_concept = Counter(m.concept for m in MUTANTS)
    assert set(per_concept) == set(CONCEPTS)
    assert len(MUTANTS) >= 70
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)


@pytest.mark.parametrize("concept", CONCEPTS)
def test_each_exercise_passes_with_only_its_own_solution_written(runs, concept):
    # The other four files are stubs: an exercise's tests need no other exercise done first.
    alone = runs["alone"][concept]
    assert not alone["collection_errors"]
    assert len(alone["passed"]) == sum(concept_of(n) == concept for n in runs["solutions"]["passed"])
    failing = {
        nodeid: alone["failures"].get(nodeid) for nodeid, passed in alone["passed"].items() if not passed
    }
    assert failing == {}


@pytest.mark.parametrize("concept", CONCEPTS)
def test_generated_stubs_keep_the_signatures_and_raise_not_implemented(concept):
    source = stub_source(concept)
    assert signatures(source) == signatures((SOLUTIONS_DIR / f"{concept}.py").read_text())
    for function in public_functions(ast.parse(source)):
        assert ast.get_docstring(function), function.name
        raise_ = function.body[-1]
        assert isinstance(raise_, ast.Raise), function.name
        assert ast.unparse(raise_.exc) == f"NotImplementedError('exercises/{concept}.py::{function.name}')"


@pytest.mark.parametrize("concept", CONCEPTS)
def test_the_committed_stubs_have_the_solutions_signatures(concept):
    # Signatures only: the bodies are the learner's to fill in.
    committed = signatures((EXERCISES_DIR / f"{concept}.py").read_text())
    assert committed == signatures((SOLUTIONS_DIR / f"{concept}.py").read_text())


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.concept}.{m.name}")
def test_exercise_tests_catch_the_mutant(runs, mutant):
    outcome = runs["mutants"][mutant.name]
    assert outcome["passed"], f"no exercise test ran for {mutant.concept}"
    failures = [nodeid for nodeid, passed in outcome["passed"].items() if not passed]
    assert failures, f"mutant {mutant.name} ({mutant.hint}) passes every {mutant.concept} test"


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.concept}.{m.name}")
def test_no_hint_names_another_mistake(runs, mutant):
    # A hint names a mistake only when the evidence identifies it: the failures a mutant causes may
    # show its own hint or a general one, never the hint of a different recorded mistake.
    others = {m.hint for m in MUTANTS if m.hint != mutant.hint}
    wrong = {
        nodeid: hint
        for nodeid, output in runs["mutants"][mutant.name]["outputs"].items()
        for hint in others
        if f"Hint: {hint}" in output
    }
    assert wrong == {}, f"mutant {mutant.name} ({mutant.hint}) was shown another mistake's hint"


@pytest.mark.parametrize("mutant", [m for m in MUTANTS if m.says], ids=lambda m: f"{m.concept}.{m.name}")
def test_the_message_names_the_mistake_or_the_property_it_breaks(runs, mutant):
    outputs = runs["mutants"][mutant.name]["outputs"]
    assert any(mutant.says in output for output in outputs.values()), (
        f"mutant {mutant.name} is caught, but no failure message says {mutant.says!r}:\n"
        + "\n---\n".join(outputs.values())[:3000]
    )


@pytest.mark.parametrize("concept", CONCEPTS)
def test_the_committed_stubs_state_the_solutions_contracts(concept):
    # One text per function: the learner's stub, the generated stub and the reference say the same.
    def docstrings(source: str) -> dict[str, str | None]:
        return {f.name: ast.get_docstring(f) for f in public_functions(ast.parse(source))}

    committed = docstrings((EXERCISES_DIR / f"{concept}.py").read_text())
    assert committed == docstrings((SOLUTIONS_DIR / f"{concept}.py").read_text())
    assert all("Contract" in text for text in committed.values())
