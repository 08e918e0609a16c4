"""The exercise tests' outcomes as Gradescope's results.json (the format of gradescope/autograder_samples)."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

from .outcomes import ExerciseOutcomes
from .points import EXERCISES, is_instructor_test

NOT_RUN = "not run: the run stopped before this test"


def results_json(outcomes: ExerciseOutcomes, instructor: dict[str, tuple[float, str]] | None = None) -> dict:
    """The run as Gradescope's results.json: every test with its share of its exercise's points.

    instructor maps each instructor-only test to its file's points and visibility (the plugin reads
    them from the file's marker): a file's points are shared by its tests, as an exercise's are.
    """
    instructor = instructor or {}
    per_concept: dict[str, list[str]] = defaultdict(list)
    per_file: dict[str, list[str]] = defaultdict(list)  # instructor_tests/<file>.py -> its tests
    ran = list(outcomes.outcomes) + [n for nodeids in outcomes.not_run().values() for n in nodeids]
    for nodeid in ran:  # a test selected but never reached (-x) is scored 0, not dropped
        if nodeid in instructor:
            per_file[nodeid.split("::")[0]].append(nodeid)
        else:
            per_concept[outcomes.collected.get(nodeid) or outcomes.outcomes[nodeid][0]].append(nodeid)
    tests = []
    for concept, (title, points) in EXERCISES.items():
        nodeids = per_concept.get(concept, [])
        for nodeid in nodeids:
            _, passed, output = outcomes.outcomes.get(nodeid, (concept, False, NOT_RUN))
            share = points / len(nodeids)
            tests.append(_test(nodeid, title, passed * share, share, output))
    for nodeids in per_file.values():
        for nodeid in nodeids:
            concept, passed, output = outcomes.outcomes.get(nodeid, ("", False, NOT_RUN))
            points, visibility = instructor[nodeid]
            share = points / len(nodeids)
            title = f"{EXERCISES[concept][0]} (instructor test)" if concept else "instructor test"
            tests.append(_test(nodeid, title, passed * share, share, output, visibility))
    for concept, path, message in outcomes.collection_errors:
        # A file that fails to import still appears, worth its exercise's points, scored 0.
        points = EXERCISES[concept][1] if concept and concept not in per_concept else 0
        visibility = "after_published" if is_instructor_test(path) else "visible"
        tests.append(_test(f"{path} (could not be imported)", concept or "", 0, points, message, visibility))
    for number, test in enumerate(tests, start=1):
        test["number"] = str(number)
    return {
        "score": round(sum(t["score"] for t in tests), 2),
        "execution_time": round(time.time() - outcomes.start, 2),
        "output": public_summary(outcomes, per_concept, len(ran) - sum(map(len, per_concept.values()))),
        "visibility": "visible",
        "stdout_visibility": "visible",
        "tests": tests,
    }


def public_summary(
    outcomes: ExerciseOutcomes, per_concept: dict[str, list[str]], instructor_tests: int
) -> str:
    """Tests passed per exercise, public tests only: the instructor's tests are not counted in them."""
    counts = []
    for concept in EXERCISES:
        nodeids = per_concept.get(concept)
        if not nodeids:
            continue
        passed = sum(outcomes.outcomes.get(n, (concept, False, ""))[1] for n in nodeids)
        counts.append(f"{EXERCISES[concept][0]}: {passed}/{len(nodeids)}")
    summary = f"Public tests of {outcomes.impl}/: " + (", ".join(counts) or "none ran")
    if instructor_tests:
        summary += f". Plus {instructor_tests} instructor tests, shown when your instructor publishes them."
    return summary


def write_results_json(
    path: str | Path, outcomes: ExerciseOutcomes, instructor: dict[str, tuple[float, str]] | None = None
) -> None:
    """Write results_json(outcomes, instructor) to path."""
    Path(path).write_text(json.dumps(results_json(outcomes, instructor), indent=2) + "\n")


def _test(
    name: str, tag: str, score: float, max_score: float, output: str, visibility: str = "visible"
) -> dict:
    return {
        "name": name,
        "score": score,
        "max_score": max_score,
        "status": "passed" if score == max_score and not output else "failed",
        "output": output[-4000:],  # the end of a failure holds the message and the hint
        "tags": [tag],
        "visibility": visibility,
    }
