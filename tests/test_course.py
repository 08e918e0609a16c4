"""The course kit: the student release, the Gradescope autograder zip (run end to end) and the
instructor-only tests it grades.

The release is run as a student runs it: only its own folder importable, the repository's
editable install (which would find solutions/ from anywhere) switched off in that process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from gpt_from_scratch.cli import main
from gpt_from_scratch.course.autograder import write_autograder
from gpt_from_scratch.course.release import KEPT_OF_COURSE, solution_bodies, solution_leaks, write_release
from gpt_from_scratch.grading.plugin import instructor_grading
from gpt_from_scratch.grading.points import (
    EXERCISES,
    INSTRUCTOR_TESTS,
    VISIBILITIES,
    concept_of,
    is_instructor_test,
)
from gpt_from_scratch.grading.stubs import SOLUTIONS_DIR, stub_source
from gpt_from_scratch.seam import CONCEPTS

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_POINTS = sum(points for _, points in EXERCISES.values())
SUBMITTED = [f"{concept}.py" for concept in CONCEPTS]
# Run pytest as a student would: without the finder of an editable install of this repository.
STUDENT_PYTEST = (
    "import sys; "
    "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')]; "
    "import pytest, gpt_from_scratch.seam as seam; "
    "assert not seam.SOLVED, 'solutions/ is importable: not a student release'; "
    "sys.exit(pytest.main(sys.argv[1:]))"
)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without PYTHONPATH (which may name a checkout holding solutions/)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # python3: this one
    return env | extra


def check_results_schema(results: dict) -> None:
    """The fields Gradescope documents for results.json (gradescope/autograder_samples, docs/specs.md)."""
    assert isinstance(results["score"], int | float)
    assert isinstance(results["execution_time"], int | float)
    assert isinstance(results["output"], str) and results["output"]
    assert results["visibility"] in VISIBILITIES
    assert results["stdout_visibility"] in VISIBILITIES
    assert isinstance(results["tests"], list)
    for test in results["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["number"], str)
        assert isinstance(test["score"], int | float) and isinstance(test["max_score"], int | float)
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed")
        assert isinstance(test["output"], str)
        assert isinstance(test["tags"], list) and all(isinstance(tag, str) for tag in test["tags"])
        assert test["visibility"] in VISIBILITIES
    assert len({test["number"] for test in results["tests"]}) == len(results["tests"])


# --- the student release --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return write_release(tmp_path_factory.mktemp("course") / "release")


def run_release_tests(release: Path, results: Path) -> dict:
    subprocess.run(
        [sys.executable, "-c", STUDENT_PYTEST, "exercises", "-q", "-p", "no:cacheprovider"]
        + [f"--results-json={results}"],
        cwd=release,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return json.loads(results.read_text())


def test_the_release_holds_stubs_tests_and_notebooks_but_no_solutions(release):
    assert not (release / "solutions").exists()
    assert not (release / INSTRUCTOR_TESTS).exists()
    # The kit reads solutions/: only what the notebooks import stays.
    kept = sorted(p.name for p in (release / "gpt_from_scratch" / "course").iterdir())
    assert kept == sorted(KEPT_OF_COURSE)
    for concept in CONCEPTS:
        assert (release / "exercises" / f"{concept}.py").read_text() == stub_source(concept)
        assert (release / "exercises" / "tests" / f"test_{concept}.py").is_file()
        assert (release / "exercises" / "tests" / "golden" / f"{concept}.safetensors").is_file()
    assert sorted(p.name for p in (release / "notebooks").glob("*.py")) == sorted(
        p.name for p in (ROOT / "notebooks").glob("*.py")
    )
    assert "student release" in (release / "README.md").read_text()
    exercises_readme = (release / "exercises" / "README.md").read_text()
    assert "## The scoreboard" in exercises_readme and "For instructors" not in exercises_readme
    assert '"solutions*"' not in (release / "pyproject.toml").read_text()
    assert not [p for p in release.rglob("*") if "instructor" in p.name]


def test_no_function_body_of_solutions_appears_in_the_release(release):
    assert len(solution_bodies()) == 10
    assert solution_leaks(release) == []


def test_the_leak_check_finds_a_copied_body(tmp_path):
    # Reformatted and renamed, a solution's body is still found; only its statements count.
    source = (SOLUTIONS_DIR / "loss.py").read_text().replace("def calc_loss_batch(", "def my_loss(")
    (tmp_path / "copy.py").write_text(
        "# a comment\n" + source.replace("    ", "        ").replace("def ", "def  ")
    )
    assert solution_leaks(tmp_path) == ["copy.py: solutions/loss.py::calc_loss_batch"]


@pytest.mark.slow
def test_the_release_tests_all_fail_on_the_stubs(release, tmp_path):
    results = run_release_tests(release, tmp_path / "results.json")
    check_results_schema(results)
    assert len(results["tests"]) >= 30
    assert results["score"] == 0
    for test in results["tests"]:
        assert test["output"].startswith("not implemented yet: exercises/"), test


@pytest.mark.slow
def test_the_release_tests_all_pass_with_the_reference_files_in_exercises(release, tmp_path):
    solved = shutil.copytree(release, tmp_path / "solved")
    for name in SUBMITTED:
        shutil.copy(SOLUTIONS_DIR / name, solved / "exercises" / name)
    results = run_release_tests(solved, tmp_path / "results.json")
    failed = [test["name"] for test in results["tests"] if test["status"] != "passed"]
    assert failed == []
    assert results["score"] == PUBLIC_POINTS


def test_release_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "old.txt").write_text("keep me")
    assert main(["course", "release", str(tmp_path)]) == 1
    assert "is not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "old.txt").read_text() == "keep me"


# --- the Gradescope autograder ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    return write_autograder(tmp_path_factory.mktemp("course") / "autograder.zip")


def run_autograder(autograder_zip: Path, folder: Path, files: dict[str, str]) -> dict:
    """Lay out folder as Gradescope's /autograder, submit files, run run_autograder; its results.json."""
    root = folder / "autograder"
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    for name in ("run_autograder", "setup.sh"):
        (root / "source" / name).chmod(0o755)  # zipfile does not restore permissions; unzip does
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")  # as Gradescope does
    (root / "submission").mkdir()
    for name, source in files.items():
        (root / "submission" / name).write_text(source)
    run = subprocess.run(
        [str(root / "run_autograder")],
        env=clean_env(AUTOGRADER_ROOT=str(root)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    check_results_schema(results)
    return results


def reference_files() -> dict[str, str]:
    return {name: (SOLUTIONS_DIR / name).read_text() for name in SUBMITTED}


def test_the_zip_holds_the_scripts_the_tests_and_the_solutions(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        setup = archive.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "conftest.py", "pyproject.toml"} <= names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert {f"solutions/{name}" for name in SUBMITTED} <= names
    assert {f"exercises/tests/test_{concept}.py" for concept in CONCEPTS} <= names
    assert any(name.startswith(f"{INSTRUCTOR_TESTS}/test_") for name in names)
    assert "torch==2.13.0" in setup and "https://download.pytorch.org/whl/cpu" in setup
    assert subprocess.run(["bash", "-n", "-c", setup]).returncode == 0


@pytest.mark.slow
def test_the_reference_files_get_full_marks_instructor_tests_included(autograder_zip, tmp_path):
    results = run_autograder(autograder_zip, tmp_path, reference_files())
    instructor = [test for test in results["tests"] if f"{INSTRUCTOR_TESTS}/" in test["name"]]
    assert instructor, "the autograder ran no instructor-only test"
    assert {test["visibility"] for test in instructor} == {"after_published"}
    assert {test["visibility"] for test in results["tests"] if test not in instructor} == {"visible"}
    assert [test["name"] for test in results["tests"] if test["status"] != "passed"] == []
    instructor_points = sum(test["max_score"] for test in instructor)
    assert instructor_points > 0
    assert results["score"] == pytest.approx(PUBLIC_POINTS + instructor_points)


@pytest.mark.slow
def test_the_stubs_score_zero(autograder_zip, tmp_path):
    stubs = {f"{concept}.py": stub_source(concept) for concept in CONCEPTS}
    results = run_autograder(autograder_zip, tmp_path, stubs)
    assert results["score"] == 0
    assert len(results["tests"]) > 30
    assert all(test["status"] == "failed" for test in results["tests"])


@pytest.mark.slow
def test_one_wrong_function_gets_partial_marks_and_the_learners_message(autograder_zip, tmp_path):
    files = reference_files()
    files["loss.py"] = files["loss.py"].replace("logits[:, -1, :]", "logits[:, 0, :]")
    assert files["loss.py"] != (SOLUTIONS_DIR / "loss.py").read_text()
    results = run_autograder(autograder_zip, tmp_path, files)
    failed = [test for test in results["tests"] if test["status"] == "failed"]
    assert failed and all("loss" in test["name"] for test in failed)
    assert 0 < results["score"] < sum(test["max_score"] for test in results["tests"])
    golden = next(test for test in failed if "exercises/tests/test_loss.py" in test["name"])
    assert "exercises/loss.py::calc_loss_batch" in golden["output"]
    assert "Hint:" in golden["output"]


@pytest.mark.slow
def test_a_submission_missing_a_file_is_refused_with_a_clear_message(autograder_zip, tmp_path):
    files = reference_files()
    del files["loss.py"]
    results = run_autograder(autograder_zip, tmp_path, files)
    assert results["score"] == 0
    assert results["tests"] == []
    assert "missing loss.py" in results["output"]


def test_the_autograder_needs_a_zip_name(tmp_path, capsys):
    assert main(["course", "autograder", str(tmp_path / "autograder.tar")]) == 1
    assert "NAME.zip" in capsys.readouterr().err


# --- instructor-only tests --------------------------------------------------------------------------


def test_an_instructor_test_grades_the_exercise_its_file_name_starts_with():
    assert concept_of(f"{INSTRUCTOR_TESTS}/test_loss_long_batches.py::test_x") == "loss"
    assert concept_of(f"{INSTRUCTOR_TESTS}/test_classification_head_big.py::test_x") == "classification_head"
    assert concept_of(f"{INSTRUCTOR_TESTS}/test_other.py::test_x") is None
    assert is_instructor_test(f"{INSTRUCTOR_TESTS}/test_loss_long_batches.py::test_x")
    assert not is_instructor_test("exercises/tests/test_loss.py::test_x")


@pytest.mark.parametrize(
    ("name", "mark", "error"),
    [
        ("test_loss_unmarked.py", None, "give it its points"),
        ("test_loss_peeking.py", pytest.mark.instructor(points=1, visibility="soon"), "is not one of"),
        ("test_homework.py", pytest.mark.instructor(points=1), "name it test_<exercise>_<what>.py"),
    ],
)
def test_an_instructor_test_without_points_a_visibility_or_an_exercise_is_refused(name, mark, error):
    item = SimpleNamespace(
        nodeid=f"{INSTRUCTOR_TESTS}/{name}::test_it", get_closest_marker=lambda _: mark and mark.mark
    )
    with pytest.raises(pytest.UsageError, match=re.escape(error)):
        instructor_grading(item)


def test_an_instructor_tests_visibility_is_after_published_unless_it_says(tmp_path):
    item = SimpleNamespace(
        nodeid=f"{INSTRUCTOR_TESTS}/test_loss_x.py::t",
        get_closest_marker=lambda _: pytest.mark.instructor(points=3).mark,
    )
    assert instructor_grading(item) == (3.0, "after_published")
