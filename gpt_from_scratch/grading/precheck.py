"""Before `finetune --impl exercises` trains for minutes: which exercises do not pass their tests yet.

The exercise tests run in a subprocess on a copy of the exercises package that finetune would run
(found as seam finds it), beside a copy of the tests, so that the answer is about that very code.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import GPTFromScratchError
from .points import EXERCISES, concept_of
from .stubs import copy_exercise_tests

SKIP_FLAG = "--skip-exercise-check"


class ExerciseCheckError(GPTFromScratchError):
    """exercises/ does not pass its tests yet, or they could not run: finetune waits for them."""


def exercises_folder() -> Path:
    """The folder of the `exercises` package that `import exercises` finds, as seam imports it."""
    spec = importlib.util.find_spec("exercises")
    if spec is None or not spec.submodule_search_locations:
        raise ExerciseCheckError(
            "cannot find the exercises package: run from the repository root or `pip install -e .`"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def failing_concepts(timeout: float = 120, exercises: Path | None = None) -> dict[str, tuple[int, int]]:
    """Run the exercise tests on exercises/; return (tests passed, tests run) of each exercise not passing.

    exercises defaults to exercises_folder(). An exercise none of whose tests ran reads (0, 0).
    """
    source = exercises or exercises_folder()
    with tempfile.TemporaryDirectory(prefix="exercise-check-") as folder:
        checkout = Path(folder)
        ignore = shutil.ignore_patterns("__pycache__", "tests")
        shutil.copytree(source, checkout / "exercises", ignore=ignore)
        copy_exercise_tests(checkout / "exercises")
        results = checkout / "results.json"
        command = [sys.executable, "-m", "pytest", "exercises", "-q", "-p", "no:cacheprovider"]
        # The plugin is named here, not left to a conftest.py: the copy has none.
        command += ["-p", "gpt_from_scratch.grading.plugin", "--rootdir", str(checkout)]
        command += ["--impl", "exercises", f"--results-json={results}"]
        try:
            run = subprocess.run(command, cwd=checkout, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise ExerciseCheckError(
                f"the exercise tests did not finish in {timeout:g} s; finetune anyway with {SKIP_FLAG}"
            ) from err
        if run.returncode not in (0, 1) or not results.exists():
            raise ExerciseCheckError(
                f"the exercise tests could not run (pytest exit status {run.returncode}):\n"
                f"{(run.stdout + run.stderr)[-2000:]}"
            )
        tests = json.loads(results.read_text())["tests"]
    scores = {concept: [0, 0] for concept in EXERCISES}
    for test in tests:
        # A test file that could not be imported counts as one failed test of its exercise.
        concept = concept_of(test["name"].removesuffix(" (could not be imported)"))
        if concept is not None:
            scores[concept][0] += test["status"] == "passed"
            scores[concept][1] += 1
    return {
        concept: (passed, total) for concept, (passed, total) in scores.items() if passed < total or not total
    }


def precheck_message(failing: dict[str, tuple[int, int]]) -> str | None:
    """One line naming the exercises that do not pass yet and what to run; None when all pass."""
    if not failing:
        return None
    parts = [
        f"{EXERCISES[concept][0]} ({passed}/{total} tests)"
        if total
        else f"{EXERCISES[concept][0]} (no test ran)"
        for concept, (passed, total) in failing.items()
    ]
    return (
        f"exercises not passing yet: {', '.join(parts)}: run `pytest exercises/ -m {next(iter(failing))}`; "
        f"finetune anyway with {SKIP_FLAG}"
    )


def check_exercises(timeout: float = 120) -> None:
    """Raise ExerciseCheckError, with precheck_message's line, unless every exercise passes its tests."""
    message = precheck_message(failing_concepts(timeout))
    if message:
        raise ExerciseCheckError(message)
