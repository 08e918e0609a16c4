"""Run the exercise tests against the stubs, the solutions and every mutant; print the outcomes as JSON.

`python tests/exercise_runs.py` is what tests/test_exercise_tests.py runs, in a subprocess of its
own so that the nested pytest sessions cannot disturb the outer one.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from mutants import MUTANTS, Mutant  # noqa: E402

from gpt_from_scratch.seam import CONCEPTS  # noqa: E402


class Outcomes:
    """A pytest plugin that records whether each test passed."""

    def __init__(self) -> None:
        self.passed: dict[str, bool] = {}
        self.collection_errors: list[str] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(report.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or report.failed:
            self.passed[report.nodeid] = self.passed.get(report.nodeid, True) and report.passed


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


def run(impl: str, marker: str | None = None) -> dict:
    """Run the exercise tests quietly; return each test's outcome."""
    outcomes = Outcomes()
    args = [str(ROOT / "exercises"), "--impl", impl, "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    if marker:
        args += ["-m", marker]
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main(args, plugins=[outcomes])
    return {"passed": outcomes.passed, "collection_errors": outcomes.collection_errors}


def main() -> None:
    results = {"stubs": run("exercises"), "solutions": run("solutions"), "mutants": {}}
    for mutant in MUTANTS:
        with installed(mutant):
            results["mutants"][mutant.name] = run("exercises", marker=mutant.concept) | {
                "concept": mutant.concept
            }
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
