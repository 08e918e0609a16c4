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


def is_exercise_test(nodeid: str) -> bool:
    """Whether a test (or test file) is in exercises/tests/; node ids are relative to the checkout."""
    folder = PurePath(nodeid.split("::")[0]).parent
    return folder.name == "tests" and folder.parent.name == "exercises"


def concept_of(nodeid: str) -> str | None:
    """The exercise a test grades: 'exercises/tests/test_loss.py::test_x' -> 'loss'; None for the others."""
    name = PurePath(nodeid.split("::")[0]).stem.removeprefix("test_")
    return name if is_exercise_test(nodeid) and name in EXERCISES else None
