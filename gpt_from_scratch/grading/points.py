"""The five exercises in order, with their points: the one place the scoreboard and grading read."""

from __future__ import annotations

from pathlib import PurePath

EXERCISES: dict[str, tuple[str, int]] = {
    # marker / file name: (title, points)
    "attention": ("1. scaled dot-product and multi-head attention", 30),
    "causal_mask": ("2. the causal mask", 20),
    "classification_head": ("3. the classification head, and freezing", 20),
    "loss": ("4. the last-token loss", 15),
    "accuracy": ("5. accuracy", 15),
}

# Tests that grade but stay out of the student release: instructor_tests/test_<exercise>_<what>.py,
# each file marked with its own points and Gradescope visibility (see instructor_tests/README.md).
INSTRUCTOR_TESTS = "instructor_tests"
INSTRUCTOR_MARKER = "instructor"
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


def is_instructor_test(nodeid: str) -> bool:
    """Whether a test (or test file) is in instructor_tests/: graded, never released to students."""
    return PurePath(nodeid.split("::")[0]).parent.name == INSTRUCTOR_TESTS


def is_exercise_test(nodeid: str) -> bool:
    """Whether a test (or test file) grades an exercise: exercises/tests/ (public) or instructor_tests/."""
    folder = PurePath(nodeid.split("::")[0]).parent
    return (folder.name == "tests" and folder.parent.name == "exercises") or is_instructor_test(nodeid)


def concept_of(nodeid: str) -> str | None:
    """The exercise a test grades: 'exercises/tests/test_loss.py::test_x' -> 'loss'; None for the others.

    An instructor test's file name starts with its exercise: instructor_tests/test_loss_long.py -> 'loss'.
    """
    name = PurePath(nodeid.split("::")[0]).stem.removeprefix("test_")
    if not is_exercise_test(nodeid):
        return None
    if is_instructor_test(nodeid):
        return next((concept for concept in EXERCISES if name.startswith(concept)), None)
    return name if name in EXERCISES else None
