"""Run the exercise tests against the stubs, the solutions, each exercise solved alone and every mutant;
print the outcomes as JSON.

`python tests/exercise_runs.py` is what tests/test_exercise_tests.py runs, in a subprocess of its
own so that the nested pytest sessions cannot disturb the outer one. No run reads the learner's
exercises/: they all run in a scratch checkout whose exercises/ holds stubs generated from
solutions/ (gpt_from_scratch/grading/stubs.py), so the proof holds however far the learner has got.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys
import tempfile
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the mutants
sys.path.append(str(ROOT))  # the package and solutions/ when not installed; never before the scratch

from mutants import MUTANTS, Mutant  # noqa: E402

from gpt_from_scratch.grading.stubs import write_checkout, write_exercise  # noqa: E402
from gpt_from_scratch.seam import CONCEPTS  # noqa: E402


class Outcomes:
    """A pytest plugin that records whether each test passed, and the first line of each failure."""

    def __init__(self) -> None:
        self.passed: dict[str, bool] = {}
        self.failures: dict[str, str] = {}
        self.outputs: dict[str, str] = {}  # the whole failure message: where the hints are
        self.collection_errors: list[str] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(report.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or report.failed:
            self.passed[report.nodeid] = self.passed.get(report.nodeid, True) and report.passed
        if report.failed:
            self.failures.setdefault(report.nodeid, str(report.longrepr).splitlines()[0])
            self.outputs.setdefault(report.nodeid, str(report.longrepr))


def forget_exercises() -> None:
    """Drop the imported exercises.<concept> modules, so that the next run imports the files anew."""
    for name in CONCEPTS:
        sys.modules.pop(f"exercises.{name}", None)
    importlib.invalidate_caches()


@contextlib.contextmanager
def solved_alone(package: Path, concept: str):
    """Give exercises/<concept>.py its reference source for the block; the other files stay stubs."""
    write_exercise(package, concept, solved=True)
    forget_exercises()
    try:
        yield
    finally:
        write_exercise(package, concept, solved=False)
        forget_exercises()


@contextlib.contextmanager
def installed(mutant: Mutant):
    """Make exercises/ hold the solutions, except the one function the mutant replaces."""
    saved = {name: sys.modules.get(f"exercises.{name}") for name in CONCEPTS}
    for name in CONCEPTS:
        solution = importlib.import_module(f"solutions.{name}")
        module = types.ModuleType(f"exercises.{name}")
        module.__dict__.update(vars(solution))
        if name == mutant.concept:
            setattr(module, mutant.function, mutant.implementation)
        sys.modules[f"exercises.{name}"] = module
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(f"exercises.{name}", None)
            else:
                sys.modules[f"exercises.{name}"] = module


def run(package: Path, impl: str, marker: str | None = None) -> dict:
    """Run the scratch checkout's exercise tests quietly; return each test's outcome."""
    outcomes = Outcomes()
    args = [str(package), "--impl", impl, "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    if marker:
        args += ["-m", marker]
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main(args, plugins=[outcomes])
    modules = {name: sys.modules.get(f"exercises.{name}") for name in CONCEPTS}
    return {
        "passed": outcomes.passed,
        "failures": outcomes.failures,
        "outputs": outcomes.outputs,
        "collection_errors": outcomes.collection_errors,
        # Where each exercises.<concept> the tests ran came from: a file, or a mutant's stand-in (None).
        "files": {name: getattr(m, "__file__", None) for name, m in modules.items() if m is not None},
    }


def main() -> None:
    sys.dont_write_bytecode = True  # the scratch files change between runs: never read a stale .pyc
    with tempfile.TemporaryDirectory(prefix="exercise-runs-") as folder:
        package = write_checkout(Path(folder))
        sys.path.insert(0, folder)  # before anything installed: `exercises` is the scratch one
        results = {"stubs": run(package, "exercises"), "solutions": run(package, "solutions"), "alone": {}}
        for concept in CONCEPTS:
            with solved_alone(package, concept):
                results["alone"][concept] = run(package, "exercises", marker=concept)
        results["mutants"] = {}
        for mutant in MUTANTS:
            with installed(mutant):
                results["mutants"][mutant.name] = run(package, "exercises", marker=mutant.concept) | {
                    "concept": mutant.concept
                }
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
