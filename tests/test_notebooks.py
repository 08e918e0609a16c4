"""The notebooks in notebooks/ run from top to bottom: on the reference solutions every picture is
drawn; on the stubs each cell that calls one prints the "not implemented yet" line and the notebook
still runs to its end.

They are jupytext .py files, read with jupytext and run in a Jupyter kernel by nbclient. The stub
run uses stubs generated from solutions/ in a scratch checkout, never the learner's exercises/.
"""

from __future__ import annotations

import os
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

from gpt_from_scratch import seam
from gpt_from_scratch.course.notebook import MODEL_DIR_VAR, train_tiny_classifier
from gpt_from_scratch.grading.stubs import write_checkout

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.py"))


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The notebooks' tiny classifier, trained once for all of them."""
    folder = tmp_path_factory.mktemp("notebook-model") / "tiny-classifier"
    training = train_tiny_classifier(folder)
    assert training.returncode == 0, training.stderr[-3000:]
    return folder


def execute(path: Path) -> nbformat.NotebookNode:
    """The notebook run in a fresh kernel, from its own folder; raises at the first cell that fails."""
    notebook = jupytext.read(path)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    ).execute()
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> tuple[str, int]:
    """All the text the notebook printed, and the number of pictures it drew."""
    text, pictures = [], 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text.append(output.get("text", ""))
            pictures += "image/png" in output.get("data", {})
    return "".join(text), pictures


def test_there_is_one_notebook_per_exercise():
    assert [p.stem.split("_", 1)[1] for p in NOTEBOOKS] == list(seam.CONCEPTS)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_draws_its_pictures_with_the_solutions(path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv(seam.ENV_VAR, "solutions")
    monkeypatch.setenv(MODEL_DIR_VAR, str(tiny_model_dir))
    text, pictures = outputs(execute(path))
    assert "not implemented yet" not in text
    assert pictures >= 1


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_runs_to_its_end_on_the_stubs(path, tiny_model_dir, tmp_path, monkeypatch):
    write_checkout(tmp_path)  # exercises/ with generated stubs, imported before any other
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv(seam.ENV_VAR, "exercises")
    monkeypatch.setenv(MODEL_DIR_VAR, str(tiny_model_dir))
    text, pictures = outputs(execute(path))  # no cell raised
    assert "not implemented yet: exercises/" in text
    assert pictures == 0
