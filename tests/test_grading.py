"""The exercise plugin's outputs: the short 'not implemented' lines, the scoreboard, and results.json."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gpt_from_scratch.grading.points import EXERCISES

ROOT = Path(__file__).resolve().parent.parent
TOTAL_POINTS = sum(points for _, points in EXERCISES.values())


def run_exercises(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "exercises", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def check_gradescope_schema(results: dict) -> None:
    for key in ("score", "execution_time", "output", "visibility", "stdout_visibility", "tests"):
        assert key in results, key
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility", "number"}
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] == "visible"


@pytest.fixture(scope="module")
def stub_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stubs") / "results.json"
    result = run_exercises("--impl", "exercises", f"--results-json={out}")
    return result, json.loads(out.read_text())


def test_fresh_stubs_fail_with_one_short_line_each(stub_run):
    result, _ = stub_run
    assert result.returncode == 1
    assert "not implemented yet: exercises/attention.py::scaled_dot_product_attention" in result.stdout
    assert "not implemented yet: exercises/accuracy.py::calc_accuracy_loader" in result.stdout
    assert "Traceback" not in result.stdout
    assert "raise NotImplementedError" not in result.stdout


def test_scoreboard_lists_every_exercise_and_says_what_next(stub_run):
    result, _ = stub_run
    assert "scoreboard (exercises/)" in result.stdout
    for title, _ in EXERCISES.values():
        assert title in result.stdout
    assert "Next: open exercises/attention.py and run `pytest exercises/ -m attention`" in result.stdout


def test_results_json_for_the_stubs_scores_zero(stub_run):
    _, results = stub_run
    check_gradescope_schema(results)
    assert results["score"] == 0
    assert sum(t["max_score"] for t in results["tests"]) == pytest.approx(TOTAL_POINTS)
    assert all(t["status"] == "failed" for t in results["tests"])
    assert all("not implemented yet" in t["output"] for t in results["tests"])


def test_results_json_for_the_solutions_scores_full_marks(tmp_path):
    out = tmp_path / "results.json"
    result = run_exercises("--impl", "solutions", f"--results-json={out}")
    assert result.returncode == 0, result.stdout[-2000:]
    results = json.loads(out.read_text())
    check_gradescope_schema(results)
    assert results["score"] == pytest.approx(TOTAL_POINTS)
    assert "Public tests of solutions/" in results["output"]
    assert "All public tests passed" in result.stdout


def test_a_test_file_that_cannot_be_imported_still_appears_with_zero(tmp_path):
    # A checkout as the grader sees it: exercises/, and the root files that load the grading plugin.
    copy = tmp_path / "exercises"
    shutil.copytree(ROOT / "exercises", copy, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (copy / "tests" / "test_loss.py").write_text("this is not python\n")
    out = tmp_path / "results.json"
    run_exercises("--impl", "solutions", f"--results-json={out}", cwd=tmp_path)
    results = json.loads(out.read_text())
    check_gradescope_schema(results)
    broken = [t for t in results["tests"] if "could not be imported" in t["name"]]
    assert len(broken) == 1
    assert broken[0]["score"] == 0 and broken[0]["max_score"] == EXERCISES["loss"][1]
    assert results["score"] == pytest.approx(TOTAL_POINTS - EXERCISES["loss"][1])


def test_one_exercise_can_be_selected_by_marker():
    result = run_exercises("--impl", "solutions", "-m", "causal_mask", "-q")
    assert result.returncode == 0
    assert "2. the causal mask" in result.stdout
    assert "1. scaled dot-product" not in result.stdout
