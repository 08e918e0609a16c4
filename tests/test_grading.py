"""The exercise plugin's outputs: the short 'not implemented' lines, property-test messages, the
scoreboard, results.json, and the check that finetune --impl exercises runs first.

Every run that needs stubs runs a scratch checkout whose stubs are generated from solutions/, not
the learner's exercises/ (gpt_from_scratch/grading/stubs.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gpt_from_scratch.grading import precheck
from gpt_from_scratch.grading.plugin import property_failure
from gpt_from_scratch.grading.points import EXERCISES
from gpt_from_scratch.grading.stubs import SOLUTIONS_DIR, write_checkout

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
    checkout = tmp_path_factory.mktemp("stubs")
    write_checkout(checkout)
    out = checkout / "results.json"
    result = run_exercises("--impl", "exercises", f"--results-json={out}", cwd=checkout)
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
    copy = write_checkout(tmp_path)
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


def test_a_failed_property_test_shows_its_message_first_then_the_example(tmp_path):
    # A learner's attention that takes the softmax over the queries: a property test catches it.
    exercises = write_checkout(tmp_path, solved={"attention"})
    source = (exercises / "attention.py").read_text()
    wrong = source.replace("math.sqrt(head_dim), dim=-1)", "math.sqrt(head_dim), dim=-2)")
    assert wrong != source
    (exercises / "attention.py").write_text(wrong)
    out = tmp_path / "results.json"
    result = run_exercises("-m", "attention", "-k", "distribution", f"--results-json={out}", cwd=tmp_path)
    assert result.returncode == 1
    failure = result.stdout.split("test_weights_are_a_distribution_over_the_visible_keys _", 1)[1]
    message = "exercises/attention.py::scaled_dot_product_attention: each row of the attention weights"
    assert failure.lstrip("_ \n").startswith(message)
    assert "Softmax over the keys (dim=-1)." in failure
    assert failure.index("Softmax over the keys") < failure.index("example: test_weights_are_a_distribution")
    for noise in ("Traceback", "hypothesis/core.py", "assert False", "where False", "tensor("):
        assert noise not in failure, noise
    (test,) = json.loads(out.read_text())["tests"]
    assert test["output"].startswith(message)


def test_property_failure_keeps_the_message_and_the_failing_inputs_only():
    error = AssertionError("a row sums to 2.79: softmax over the keys\nassert False\n +  where False = f(x)")
    error.add_note("Failing test case: test_rows(\n    num_tokens=3,\n)")
    error.add_note("You can reproduce this example by temporarily adding @reproduce_failure(...)")
    assert property_failure(error) == (
        "a row sums to 2.79: softmax over the keys\nFailing test case: test_rows(\n    num_tokens=3,\n)"
    )
    with pytest.raises(pytest.fail.Exception) as failed:
        pytest.fail("returned shape (2, 3), expected (3, 2)", pytrace=False)
    failed.value.add_note("Falsifying example: test_shape(n=2)")
    assert property_failure(failed.value) == (
        "returned shape (2, 3), expected (3, 2)\nFalsifying example: test_shape(n=2)"
    )


def test_the_precheck_finds_the_exercises_finetune_would_run():
    assert precheck.exercises_folder() == ROOT / "exercises"


def test_the_precheck_names_the_exercises_not_passing_yet(tmp_path):
    # The learner has written the loss only: the other four are still stubs.
    exercises = write_checkout(tmp_path, solved={"loss"})
    failing = precheck.failing_concepts(exercises=exercises)
    assert list(failing) == ["attention", "causal_mask", "classification_head", "accuracy"]
    for concept, (passed, total) in failing.items():
        assert passed == 0 and total > 0, concept
    message = precheck.precheck_message(failing)
    assert message.startswith("exercises not passing yet: 1. scaled dot-product and multi-head attention (0/")
    assert "4. the last-token loss" not in message
    assert "run `pytest exercises/ -m attention`" in message
    assert message.endswith("finetune anyway with --skip-exercise-check")
    assert "\n" not in message


def test_the_precheck_message_is_none_when_every_exercise_passes():
    assert precheck.precheck_message({}) is None
    message = precheck.precheck_message({"causal_mask": (3, 8), "loss": (0, 0)})
    assert message == (
        "exercises not passing yet: 2. the causal mask (3/8 tests), 4. the last-token loss (no test ran): "
        "run `pytest exercises/ -m causal_mask`; finetune anyway with --skip-exercise-check"
    )


def test_check_exercises_raises_the_message_finetune_prints(monkeypatch):
    monkeypatch.setattr(precheck, "failing_concepts", lambda timeout: {"loss": (1, 3)})
    with pytest.raises(precheck.ExerciseCheckError, match=r"4. the last-token loss \(1/3 tests\)"):
        precheck.check_exercises()
    monkeypatch.setattr(precheck, "failing_concepts", lambda timeout: {})
    precheck.check_exercises()


def test_the_precheck_passes_a_finished_copy_without_a_tests_folder(tmp_path):
    # A learner's exercises/ elsewhere on the path, all written (a copy of the solutions), no tests/.
    learner = tmp_path / "learner" / "exercises"
    shutil.copytree(SOLUTIONS_DIR, learner, ignore=shutil.ignore_patterns("__pycache__"))
    assert precheck.failing_concepts(exercises=learner) == {}
    assert not (learner / "tests").exists()


def test_a_run_stopped_by_x_counts_the_tests_it_never_ran(tmp_path):
    copy = write_checkout(tmp_path)
    selected = sum(
        line.lstrip().startswith(("def test_", "async def test_"))
        for line in (copy / "tests" / "test_loss.py").read_text().splitlines()
    )
    out = tmp_path / "results.json"
    result = run_exercises("--impl", "exercises", "-m", "loss", "-x", f"--results-json={out}", cwd=tmp_path)
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if "4. the last-token loss" in line)
    total = int(line.split("/")[1].split()[0])
    assert total > selected >= 3  # parametrized tests count once per case
    assert f"0 / {total:<3} tests passed (stopped after the first failure: {total - 1} not run)" in line
    results = json.loads(out.read_text())
    check_gradescope_schema(results)
    assert len(results["tests"]) == total
    assert sum(t["max_score"] for t in results["tests"]) == pytest.approx(EXERCISES["loss"][1])
    assert sum("not run" in t["output"] for t in results["tests"]) == total - 1


def test_an_error_inside_the_learners_function_is_explained(tmp_path):
    copy = write_checkout(tmp_path)
    (copy / "loss.py").write_text(
        "import torch\n\n\n"
        "def calc_loss_batch(input_batch, target_batch, model, device):\n"
        "    logits = model(input_batch)\n"
        "    return torch.nn.functional.cross_entropy(logits[:, -1, :, 0], target_batch)\n"
    )
    result = run_exercises("--impl", "exercises", "-m", "loss", "-x", cwd=tmp_path)
    assert result.returncode == 1
    out = result.stdout
    assert "exercises/loss.py::calc_loss_batch raised IndexError: too many indices" in out
    assert "at exercises/loss.py line 6: return torch.nn.functional.cross_entropy(logits[:, -1, :, 0]" in out
    assert "input_batch=tensor of shape (6, 5), dtype torch.int64" in out
    assert "it should return: a scalar tensor (shape ())" in out


def test_the_arguments_are_reported_as_they_were_passed(tmp_path):
    # The learner's function reassigns target_batch before the error: the report shows what it was given.
    copy = write_checkout(tmp_path)
    (copy / "loss.py").write_text(
        "import torch\n\n\n"
        "def calc_loss_batch(input_batch, target_batch, model, device):\n"
        "    target_batch = target_batch[0]\n"
        "    return torch.nn.functional.cross_entropy(model(input_batch)[:, -1, :], target_batch)\n"
    )
    result = run_exercises("--impl", "exercises", "-m", "loss", "-k", "matches_golden", cwd=tmp_path)
    assert result.returncode == 1
    assert "exercises/loss.py::calc_loss_batch raised" in result.stdout
    assert "target_batch=tensor of shape (6,), dtype torch.int64" in result.stdout
    assert "target_batch=tensor of shape ()" not in result.stdout


def test_an_error_pytorch_raises_later_names_the_learners_function(tmp_path):
    # A loss cut off from the graph fails only when the test calls backward(), outside the learner's code.
    copy = write_checkout(tmp_path)
    (copy / "loss.py").write_text(
        "import torch\n\n\n"
        "def calc_loss_batch(input_batch, target_batch, model, device):\n"
        "    logits = model(input_batch)[:, -1, :]\n"
        "    return torch.nn.functional.cross_entropy(logits, target_batch).detach()\n"
    )
    result = run_exercises("--impl", "exercises", "-m", "loss", "-k", "backpropagated", cwd=tmp_path)
    assert result.returncode == 1
    expected = "PyTorch raised RuntimeError after exercises/loss.py::calc_loss_batch had returned"
    assert expected in result.stdout
    assert "calc_loss_batch was last given: input_batch=tensor of shape (6, 5)" in result.stdout


def test_a_call_that_changes_global_state_fails_and_the_state_is_put_back():
    from gpt_from_scratch.grading.contract import checked

    def switches_gradients_off(x):
        torch.set_grad_enabled(False)
        torch.set_default_dtype(torch.float64)
        return x * 2

    with pytest.raises(pytest.fail.Exception) as failure:
        checked("loss", "calc_loss_batch", switches_gradients_off)(torch.ones(2))
    assert "calc_loss_batch changed what it must leave alone" in str(failure.value)
    assert "torch's grad mode was on before the call and off after" in str(failure.value)
    assert "torch's default dtype was torch.float32 before the call and torch.float64 after" in str(
        failure.value
    )
    assert torch.is_grad_enabled() and torch.get_default_dtype() == torch.float32  # the next test is safe


def test_a_call_that_writes_into_its_argument_names_it():
    from gpt_from_scratch.grading.contract import checked

    scores = torch.zeros(2, 3)
    with pytest.raises(pytest.fail.Exception, match=r"the caller's `scores` was changed in place \(4 of 6"):
        checked("causal_mask", "apply_mask", lambda scores, mask: scores.masked_fill_(mask, 1.0))(
            scores, torch.tensor([True, False, True])
        )


@pytest.mark.slow
def test_the_exercise_tests_grade_from_an_installed_wheel(tmp_path):
    # A course may install the package instead of cloning it: the golden files travel in the wheel.
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    build = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(wheels),
    ]
    subprocess.run([*build, str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(wheels.glob("gpt_from_scratch-*.whl"))
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    assert sorted(p.name for p in (site / "exercises" / "tests" / "golden").iterdir()) == sorted(
        p.name for p in (ROOT / "exercises" / "tests" / "golden").glob("*.safetensors")
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "exercises.tests", "--rootdir", str(site), "-q"]
        + ["-p", "gpt_from_scratch.grading.plugin", "-p", "no:cacheprovider", "--impl", "solutions"]
        + [f"--results-json={out}"],
        cwd=outside,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert (
        f"{site}/exercises/tests/golden"
        in subprocess.run(
            [
                sys.executable,
                "-c",
                "from gpt_from_scratch.grading.checks import GOLDEN_DIR; print(GOLDEN_DIR)",
            ],
            cwd=outside,
            env={**os.environ, "PYTHONPATH": str(site)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert json.loads(out.read_text())["score"] == pytest.approx(TOTAL_POINTS)
