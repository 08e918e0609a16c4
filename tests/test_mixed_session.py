"""The library's tests pass beside the exercise tests on the untouched stubs, in one pytest session.

The exercise tests check the learner's exercises/ (the default); every other test must still run
solutions/, whichever runs first. Each session runs in a subprocess, out of this one's way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gpt_from_scratch import seam

ROOT = Path(__file__).resolve().parent.parent
# Library tests that build, run and train models through the seam: a choice that leaked would break them.
LIBRARY = ["tests/test_model.py", "tests/test_train.py", "tests/test_seam.py"]
PROBLEMS = ("failure", "error", "skipped")  # what a JUnit test case holds unless it passed
ORDERS = {
    # The real finetunes run after the stubs have failed: nothing of the learner's may reach them.
    "exercises-first": ["exercises", *LIBRARY],
    # No choice a library test makes may outlast it; the slow finetunes already ran in the order above.
    "library-first": [*LIBRARY, "exercises", "-m", "not slow"],
}


def outcomes(junit_xml: Path) -> dict[str, str]:
    """Each test of a JUnit XML report, by dotted name: 'passed', or 'failure: <message>', 'error: ...'."""
    found = {}
    for case in ET.parse(junit_xml).iter("testcase"):
        # A file that failed to import appears as a test case named after the file.
        name = ".".join(part for part in (case.get("classname"), case.get("name")) if part)
        problems = [f"{c.tag}: {c.get('message', '')}" for c in case if c.tag in PROBLEMS]
        found[name] = problems[0] if problems else "passed"
    return found


@pytest.mark.slow
@pytest.mark.parametrize("order", ORDERS)
def test_library_tests_pass_beside_the_exercise_tests_on_the_stubs(tmp_path, order):
    report = tmp_path / "junit.xml"
    environment = {name: value for name, value in os.environ.items() if name != seam.ENV_VAR}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *ORDERS[order], "-p", "no:cacheprovider", f"--junitxml={report}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=600,
    )
    assert report.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    ran = outcomes(report)
    library = {name: outcome for name, outcome in ran.items() if name.startswith("tests.")}
    exercise = {name: outcome for name, outcome in ran.items() if name.startswith("exercises.")}
    broken = {name: outcome for name, outcome in library.items() if outcome != "passed"}
    assert broken == {}, result.stdout[-3000:]
    for path in LIBRARY:
        assert any(name.startswith(f"tests.{Path(path).stem}.") for name in library), f"no test of {path} ran"
    assert len(exercise) >= 30
    not_stub_failures = {
        name: outcome
        for name, outcome in exercise.items()
        if not outcome.startswith("failure: not implemented yet: exercises/")
    }
    assert not_stub_failures == {}
