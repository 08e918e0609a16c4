"""The exercise tests' outcomes as Gradescope's results.json (the format of gradescope/autograder_samples)."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

from .outcomes import ExerciseOutcomes
from .points import EXERCISES

NOT_RUN = "not run: the run stopped before this test"


def results_json(outcomes: ExerciseOutcomes) -> dict:
    """The run as Gradescope's results.json: every test with its share of its exercise's points."""
    per_concept: dict[str, list[str]] = defaultdict(list)
    for nodeid, (concept, _, _) in outcomes.outcomes.items():
        per_concept[concept].append(nodeid)
    for concept, nodeids in outcomes.not_run().items():
        per_concept[concept].extend(nodeids)  # selected but never reached (-x): scored 0, not dropped
    tests = []
    for concept, (title, points) in EXERCISES.items():
        nodeids = per_concept.get(concept, [])
        for nodeid in nodeids:
            _, passed, output = outcomes.outcomes.get(nodeid, (concept, False, NOT_RUN))
            share = points / len(nodeids)
            tests.append(_test(nodeid, title, passed * share, share, output))
    for concept, path, message in outcomes.collection_errors:
        # A file that fails to import still appears, worth its exercise's points, scored 0.
        points = EXERCISES[concept][1] if concept and concept not in per_concept else 0
        tests.append(_test(f"{path} (could not be imported)", concept or "", 0, points, message))
    for number, test in enumerate(tests, start=1):
        test["number"] = str(number)
    return {
        "score": round(sum(t["score"] for t in tests), 2),
        "execution_time": round(time.time() - outcomes.start, 2),
        "output": f"Public tests of {outcomes.impl}/: "
        + ", ".join(f"{EXERCISES[c][0]}: {p}/{t}" for c, (p, t) in outcomes.scores().items()),
        "visibility": "visible",
        "stdout_visibility": "visible",
        "tests": tests,
    }


def write_results_json(path: str | Path, outcomes: ExerciseOutcomes) -> None:
    """Write results_json(outcomes) to path."""
    Path(path).write_text(json.dumps(results_json(outcomes), indent=2) + "\n")


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
