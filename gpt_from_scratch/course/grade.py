"""Grade one Gradescope submission: what the autograder zip's run_autograder runs.

`python -m gpt_from_scratch.course.grade ROOT`, in ROOT/source (the unpacked zip): finds the five
submitted files in ROOT/submission, copies them into exercises/, runs the public and the
instructor-only tests with their points, and writes ROOT/results/results.json. A submission that
lacks a file gets a results.json that says which, and no tests run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..grading.points import INSTRUCTOR_TESTS
from ..seam import CONCEPTS

SUBMITTED = tuple(f"{concept}.py" for concept in CONCEPTS)
TIME_LIMIT_S = 20 * 60  # far above the minute a run takes; Gradescope's own limit is set per assignment


def find_submitted(submission: Path) -> dict[str, Path | None]:
    """Each of the five files in the submission: at its top, or the shallowest copy in a folder."""
    found = {}
    for name in SUBMITTED:
        copies = [p for p in submission.rglob(name) if p.is_file() and "__MACOSX" not in p.parts]
        found[name] = min(copies, key=lambda p: (len(p.parts), str(p))) if copies else None
    return found


def missing_files_results(missing: list[str]) -> dict:
    """results.json for a submission without all five files: score 0, and which files to add."""
    return {
        "score": 0,
        "execution_time": 0,
        "output": f"Your submission is missing {', '.join(missing)}: submit all five files of exercises/ "
        f"({', '.join(SUBMITTED)}), each with its own name, then resubmit. Nothing was graded.",
        "visibility": "visible",
        "stdout_visibility": "visible",
        "tests": [],
    }


def grade(root: Path) -> dict:
    """Grade root/submission with the tests in root/source; write and return root/results/results.json."""
    source, results = root / "source", root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.unlink(missing_ok=True)
    found = find_submitted(root / "submission")
    missing = [name for name, path in found.items() if path is None]
    if missing:
        results.write_text(json.dumps(missing_files_results(missing), indent=2) + "\n")
        return json.loads(results.read_text())
    for name, path in found.items():
        shutil.copy(path, source / "exercises" / name)
    start = time.time()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "exercises/tests", INSTRUCTOR_TESTS, "--impl", "exercises"]
        + [f"--results-json={results}", "-q", "-p", "no:cacheprovider"],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_S,
    )
    if not results.exists():  # pytest stopped before its last hook: say so rather than leave no results
        crash = {
            "score": 0,
            "execution_time": round(time.time() - start, 2),
            "output": f"The grader could not run the tests (pytest exit code {run.returncode}); tell your "
            f"instructor.\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}",
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": [],
        }
        results.write_text(json.dumps(crash, indent=2) + "\n")
    return json.loads(results.read_text())


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/autograder")
    report = grade(root)
    # Only the total: the tests' own output, instructor-only tests included, is in results.json.
    print(f"score {report['score']}: {report['output']}")


if __name__ == "__main__":
    main()
