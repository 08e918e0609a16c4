"""pytest plugin for the exercises: choose the implementation, shorten "not implemented" failures,
print a scoreboard, and (with --results-json) write a Gradescope results.json."""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import settings

from exercises.grading import EXERCISES
from gpt_from_scratch import seam

# Graded property tests must give every learner the same examples, run after run.
settings.register_profile("exercises", max_examples=25, deadline=None, derandomize=True, print_blob=True)
settings.load_profile("exercises")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("exercises")
    group.addoption(
        "--impl",
        choices=seam.IMPLEMENTATIONS,
        default=os.environ.get(seam.ENV_VAR, "exercises"),
        help="whose code the exercise tests check: your exercises/ (default) or the reference solutions/",
    )
    group.addoption("--results-json", metavar="PATH", help="write a Gradescope-compatible results.json")


def pytest_configure(config: pytest.Config) -> None:
    seam.use(config.getoption("impl"))
    for concept, (title, _) in EXERCISES.items():
        config.addinivalue_line("markers", f"{concept}: exercise {title}")
    if config.getoption("results_json"):
        # A grading run scores every test file it can import, and the others as 0.
        config.option.continue_on_collection_errors = True
    config._exercise_results = ExerciseResults()
    config.pluginmanager.register(config._exercise_results, "exercise-results")


def pytest_report_header(config: pytest.Config) -> str:
    return f"exercise tests check: {seam.current()}/"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    # A stub that is still a stub: one line saying which function to write, not a traceback.
    if call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError):
        report.longrepr = f"not implemented yet: {call.excinfo.value}"


def concept_of(path: str) -> str | None:
    """The exercise a test file belongs to: exercises/tests/test_loss.py -> 'loss'."""
    name = Path(path).stem.removeprefix("test_")
    return name if name in EXERCISES else None


class ExerciseResults:
    """Collects each exercise test's outcome for the scoreboard and the results.json."""

    def __init__(self) -> None:
        self.start = time.time()
        self.outcomes: dict[str, tuple[str | None, bool, str]] = {}  # nodeid -> (concept, passed, output)
        self.collection_errors: list[tuple[str | None, str, str]] = []  # (concept, path, message)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append((concept_of(report.nodeid), report.nodeid, str(report.longrepr)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        concept = concept_of(report.fspath)
        if concept is None:
            return
        failed = report.failed or (report.skipped and report.when == "call")
        if failed or report.nodeid not in self.outcomes:
            output = "" if not failed else str(report.longrepr)
            if report.when == "call" or failed:
                self.outcomes[report.nodeid] = (concept, not failed, output)

    def scores(self) -> dict[str, tuple[int, int]]:
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for concept, passed, _ in self.outcomes.values():
            counts[concept][0] += passed
            counts[concept][1] += 1
        return {concept: tuple(counts[concept]) for concept in EXERCISES if concept in counts}

    def pytest_terminal_summary(self, terminalreporter) -> None:
        scores = self.scores()
        if not scores and not self.collection_errors:
            return
        write = terminalreporter.write_line
        terminalreporter.section(f"scoreboard ({seam.current()}/)")
        for concept, (title, _) in EXERCISES.items():
            if concept in scores:
                passed, total = scores[concept]
                mark = "done" if passed == total else "    "
                write(f"  {mark}  {title:<48} {passed:>3} / {total:<3} tests passed")
        for _concept, path, _ in self.collection_errors:
            write(f"  !!   {path}: could not be imported (see the error above)")
        todo = [c for c, (passed, total) in scores.items() if passed < total]
        if self.collection_errors:
            write("Next: fix the import error above; until then those tests cannot run.")
        elif todo:
            write(f"Next: open {seam.current()}/{todo[0]}.py and run `pytest exercises/ -m {todo[0]}`.")
        elif set(scores) == set(EXERCISES):
            write("All public tests passed. Run your code inside the real GPT-2 classifier:")
            write("  gpt-from-scratch finetune --impl exercises --weights random --model-size tiny \\")
            write("      --data-file path/to/SMSSpamCollection")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        path = session.config.getoption("results_json")
        if path:
            Path(path).write_text(json.dumps(self.gradescope(), indent=2) + "\n")

    def gradescope(self) -> dict:
        """The run as Gradescope's results.json: every test with its share of its exercise's points."""
        per_concept: dict[str, list[str]] = defaultdict(list)
        for nodeid, (concept, _, _) in self.outcomes.items():
            per_concept[concept].append(nodeid)
        tests = []
        for concept, (title, points) in EXERCISES.items():
            nodeids = per_concept.get(concept, [])
            for nodeid in nodeids:
                _, passed, output = self.outcomes[nodeid]
                share = points / len(nodeids)
                tests.append(self._test(nodeid, title, passed * share, share, output))
        for concept, path, message in self.collection_errors:
            # A file that fails to import still appears, worth its exercise's points, scored 0.
            points = EXERCISES[concept][1] if concept and concept not in per_concept else 0
            tests.append(self._test(f"{path} (could not be imported)", concept or "", 0, points, message))
        for number, test in enumerate(tests, start=1):
            test["number"] = str(number)
        return {
            "score": round(sum(t["score"] for t in tests), 2),
            "execution_time": round(time.time() - self.start, 2),
            "output": f"Public tests of {seam.current()}/: "
            + ", ".join(f"{EXERCISES[c][0]}: {p}/{t}" for c, (p, t) in self.scores().items()),
            "visibility": "visible",
            "stdout_visibility": "visible",
            "tests": tests,
        }

    @staticmethod
    def _test(name: str, tag: str, score: float, max_score: float, output: str) -> dict:
        return {
            "name": name,
            "score": score,
            "max_score": max_score,
            "status": "passed" if score == max_score and not output else "failed",
            "output": output[-4000:],  # the end of a failure holds the message and the hint
            "tags": [tag],
            "visibility": "visible",
        }
