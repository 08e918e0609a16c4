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
        self.collected: dict[str, str] = {}  # nodeid -> concept: every exercise test selected to run
        self.collection_errors: list[tuple[str | None, str, str]] = []  # (concept, path, message)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # The library's own files are not graded: their errors are pytest's to report, not the scoreboard's.
        if report.failed and is_exercise_test(report.nodeid):
            self.collection_errors.append((concept_of(report.nodeid), report.nodeid, str(report.longrepr)))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # After -m/-k deselection: the tests this run meant to run, whether or not -x stops it first.
        for item in session.items:
            concept = concept_of(item.nodeid)
            if concept is not None:
                self.collected[item.nodeid] = concept

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        concept = concept_of(report.nodeid)
        if concept is None:
            return
        failed = report.failed or (report.skipped and report.when == "call")
        if failed or report.nodeid not in self.outcomes:
            output = "" if not failed else str(report.longrepr)
            if report.when == "call" or failed:
                self.outcomes[report.nodeid] = (concept, not failed, output)

    def not_run(self) -> dict[str, list[str]]:
        """The selected tests of each exercise that never ran (the run stopped first: -x, Ctrl-C)."""
        missing: dict[str, list[str]] = defaultdict(list)
        for nodeid, concept in self.collected.items():
            if nodeid not in self.outcomes:
                missing[concept].append(nodeid)
        return dict(missing)

    def scores(self) -> dict[str, tuple[int, int]]:
        """(tests passed, tests selected) of each exercise, in the exercises' order.

        A selected test that never ran counts as not passed: "0 / 6", not "0 / 1", after -x.
        """
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for concept, passed, _ in self.outcomes.values():
            counts[concept][0] += passed
            counts[concept][1] += 1
        for concept, nodeids in self.not_run().items():
            counts[concept][1] += len(nodeids)
        return {concept: tuple(counts[concept]) for concept in EXERCISES if concept in counts}
