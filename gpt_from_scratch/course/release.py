"""A student release: the repository a student clones, with the exercises as stubs and no solutions.

It holds the package, exercises/ with stubs generated from solutions/ (grading/stubs.py) and the
public tests with their golden files, the notebooks, the offline data and a README. It leaves out
solutions/, the instructor-only tests, the library's own tests and this course kit. Without
solutions/, the package's reference implementation is the student's exercises/ (seam.REFERENCE):
the library, and a public test that needs another exercise, run the student's own code.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from pathlib import Path

from ..errors import GPTFromScratchError
from ..grading.stubs import EXERCISE_TESTS_DIR, ROOT, SOLUTIONS_DIR, public_functions, stub_source
from ..seam import CONCEPTS

STUDENT_README = Path(__file__).with_name("student_README.md")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", ".tiny-classifier")
# What a student's copy of the package does not need: the kit that builds releases from solutions/.
LEFT_OUT_OF_PACKAGE = ("course",)  # the instructor's kit, but for what the notebooks import:
KEPT_OF_COURSE = ("__init__.py", "notebook.py")
CHECKS = Path("gpt_from_scratch") / "grading" / "checks.py"


def write_release(out: str | Path) -> Path:
    """Write the student release into out (a new or empty folder), all of it or nothing; return its path."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GPTFromScratchError(f"{out} is not an empty folder: give a new folder for the release")
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        lay_out(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()
    partial.rename(out)
    return out


def lay_out(folder: Path) -> None:
    """Write the release's files into folder."""
    package = shutil.ignore_patterns(*LEFT_OUT_OF_PACKAGE, "__pycache__", "*.pyc")
    shutil.copytree(ROOT / "gpt_from_scratch", folder / "gpt_from_scratch", ignore=package)
    course = folder / "gpt_from_scratch" / "course"
    course.mkdir()
    for name in KEPT_OF_COURSE:
        shutil.copy(ROOT / "gpt_from_scratch" / "course" / name, course / name)
    (folder / CHECKS).write_text(reference_in_release((ROOT / CHECKS).read_text()))
    exercises = folder / "exercises"
    shutil.copytree(EXERCISE_TESTS_DIR, exercises / "tests", ignore=IGNORED)
    shutil.copy(ROOT / "exercises" / "__init__.py", exercises / "__init__.py")
    (exercises / "README.md").write_text(for_students((ROOT / "exercises" / "README.md").read_text()))
    for concept in CONCEPTS:
        (exercises / f"{concept}.py").write_text(stub_source(concept))
    shutil.copytree(ROOT / "notebooks", folder / "notebooks", ignore=IGNORED)
    shutil.copytree(ROOT / "tests" / "data", folder / "tests" / "data", ignore=IGNORED)
    for name in ("conftest.py", ".gitignore"):
        shutil.copy(ROOT / name, folder / name)
    shutil.copy(STUDENT_README, folder / "README.md")
    (folder / "pyproject.toml").write_text(without_solutions((ROOT / "pyproject.toml").read_text()))


def reference_in_release(checks: str) -> str:
    """grading/checks.py with the tests' reference taken from seam.REFERENCE, not solutions/ by name.

    A public test that needs another exercise (the attention tests need a causal mask) uses the
    reference one; in a release, which has no solutions/, that is the student's own.
    """
    module = '{concept}")'  # the end of importlib.import_module(f"<package>.{concept}")
    named = [
        (
            'importlib.import_module(f"solutions.' + module,
            'importlib.import_module(f"{seam.REFERENCE}.' + module,
        ),
        ('seam.using("solutions")', "seam.using(seam.REFERENCE)"),
    ]
    for by_name, by_reference in named:
        if by_name in checks:
            checks = checks.replace(by_name, by_reference)
        elif by_reference not in checks:
            raise GPTFromScratchError(
                f"grading/checks.py no longer has {by_name!r}: update course/release.py"
            )
    return checks


def for_students(readme: str) -> str:
    """exercises/README.md without its section for instructors (the last one)."""
    heading = "\n## For instructors\n"
    if heading not in readme:
        raise GPTFromScratchError(f"exercises/README.md has no {heading.strip()!r}: update course/release.py")
    return readme.split(heading)[0]


def without_solutions(pyproject: str) -> str:
    """pyproject.toml without solutions/ among the packages it installs."""
    listed = '"solutions*", '
    if listed not in pyproject:
        raise GPTFromScratchError(f"pyproject.toml no longer lists {listed!r}: update course/release.py")
    return pyproject.replace(listed, "")


def solution_bodies() -> dict[str, list[str]]:
    """Each public function of solutions/ as its statements (docstring left out), in ast.unparse form."""
    bodies = {}
    for concept in CONCEPTS:
        tree = ast.parse((SOLUTIONS_DIR / f"{concept}.py").read_text())
        for function in public_functions(tree):
            body = function.body[1:] if ast.get_docstring(function) is not None else function.body
            bodies[f"solutions/{concept}.py::{function.name}"] = [ast.unparse(s) for s in body]
    return bodies


def solution_leaks(folder: str | Path) -> list[str]:
    """'file: solutions/x.py::f' for each file under folder in which a solution's whole body appears.

    Python files are compared statement by statement (so formatting and comments do not hide a
    copy): a body appears when its statements follow one another in some block of the file. Other
    text files (notebooks, Markdown, shell) are searched for the body's text, spaces ignored.
    """
    bodies = solution_bodies()
    leaks = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # golden tensors, tokenizer files: no code
        blocks = list(_blocks(text)) if path.suffix == ".py" else None
        squeezed = "".join(text.split())
        for name, body in bodies.items():
            if blocks is None:
                found = "".join("".join(body).split()) in squeezed
            else:
                found = any(_contains(block, body) for block in blocks)
            if found:
                leaks.append(f"{path.relative_to(folder)}: {name}")
    return leaks


def _blocks(source: str) -> Iterator[list[str]]:
    """Every block of statements in a Python file (module, function and loop bodies...), unparsed."""
    for node in ast.walk(ast.parse(source)):
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(node, field, None)
            if isinstance(statements, list) and statements and isinstance(statements[0], ast.stmt):
                yield [ast.unparse(s) for s in statements]


def _contains(block: list[str], body: list[str]) -> bool:
    return any(block[i : i + len(body)] == body for i in range(len(block) - len(body) + 1))
