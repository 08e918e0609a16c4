"""Exercise stubs generated from solutions/, as otter-grader makes them from one source, and scratch
checkouts that hold them: the exercise tests are proven against these, never against the learner's
working copy of exercises/, which stops being stubs as soon as the learner starts.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Collection
from pathlib import Path

from ..seam import CONCEPTS
from .checks import GOLDEN_DIR

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS_DIR = ROOT / "solutions"
EXERCISE_TESTS_DIR = GOLDEN_DIR.parent  # exercises/tests/: the tests, beside their golden files


def public_functions(tree: ast.Module) -> list[ast.FunctionDef]:
    """A module's top-level functions whose names do not start with an underscore."""
    return [node for node in tree.body if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")]


def signatures(source: str) -> dict[str, str]:
    """Each public function's parameters and return type, e.g. {'merge_heads': '(x: Tensor) -> Tensor'}."""
    return {
        f.name: f"({ast.unparse(f.args)})" + (f" -> {ast.unparse(f.returns)}" if f.returns else "")
        for f in public_functions(ast.parse(source))
    }


def stub_source(concept: str) -> str:
    """solutions/<concept>.py with every public function's body replaced by its docstring and a raise."""
    tree = ast.parse((SOLUTIONS_DIR / f"{concept}.py").read_text())
    for function in public_functions(tree):
        where = f"exercises/{concept}.py::{function.name}"
        stub: list[ast.stmt] = [
            ast.Raise(exc=ast.Call(ast.Name("NotImplementedError", ast.Load()), [ast.Constant(where)], []))
        ]
        docstring = ast.get_docstring(function, clean=False)
        if docstring is not None:
            stub.insert(0, ast.Expr(ast.Constant(docstring)))
        function.body = stub
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def write_exercise(package: Path, concept: str, *, solved: bool) -> None:
    """Write package/<concept>.py: the generated stub, or with solved=True the reference source."""
    source = (SOLUTIONS_DIR / f"{concept}.py").read_text() if solved else stub_source(concept)
    (package / f"{concept}.py").write_text(source)


def copy_exercise_tests(package: Path) -> None:
    """Copy the exercise tests and their golden files into package/tests."""
    shutil.copytree(EXERCISE_TESTS_DIR, package / "tests", ignore=shutil.ignore_patterns("__pycache__"))


def write_checkout(folder: Path, solved: Collection[str] = ()) -> Path:
    """Lay out a checkout in folder whose exercises/ holds generated stubs; return that exercises/.

    The concepts in solved get their reference source instead of a stub. Beside exercises/ (and its
    copy of the tests) go the root files that load the grading plugin, so that `pytest exercises`
    run in folder behaves as in the repository.
    """
    package = folder / "exercises"
    copy_exercise_tests(package)
    (package / "__init__.py").write_text('"""Exercise stubs generated from solutions/."""\n')
    for concept in CONCEPTS:
        write_exercise(package, concept, solved=concept in solved)
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copy(ROOT / name, folder / name)
    return package
