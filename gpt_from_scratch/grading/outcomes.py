"""Each exercise test's outcome, collected as the run goes: what the scoreboard and results.json read."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from .points import EXERCISES, concept_of, is_exercise_test


class ExerciseOutcomes:
    """A pytest plugin object recording each exercise test's outcome and each file that failed to import."""

    def __init__(self, impl: str) -> None:
        self.impl = impl
        self.start = time.time()
        self.outcomes: dict[str, tuple[str, bool, str]] = {}  # nodeid -> (concept, passed, output)
        self.collection_errors: list[tuple[str | None, str, str]] = []  # (concept, path, message)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # The library's own files are not graded: their errors are pytest's to report, not the scoreboard's.
        if report.failed and is_exercise_test(report.nodeid):
            self.collection_errors.append((concept_of(report.nodeid), report.nodeid, str(report.longrepr)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        concept = concept_of(report.nodeid)
        if concept is None:
            return
        failed = report.failed or (report.skipped and report.when == "call")
        if failed or report.nodeid not in self.outcomes:
            output = "" if not failed else str(report.longrepr)
            if report.when == "call" or failed:
                self.outcomes[report.nodeid] = (concept, not failed, output)

    def scores(self) -> dict[str, tuple[int, int]]:
        """(tests passed, tests run) of each exercise that ran, in the exercises' order."""
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for concept, passed, _ in self.outcomes.values():
            counts[concept][0] += passed
            counts[concept][1] += 1
        return {concept: tuple(counts[concept]) for concept in EXERCISES if concept in counts}
