"""The Gradescope autograder: one zip with setup.sh, run_autograder and the tests, public and instructor-only.

Gradescope unpacks the zip into /autograder/source, runs setup.sh once to build its image, and runs
run_autograder for each submission (grade.py does the work). Unlike the student release, the zip
holds solutions/: a public test that needs another exercise uses the reference one, and the
instructor-only tests compare the student's answers with it. Students never see the zip.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from ..errors import GPTFromScratchError
from ..grading.points import INSTRUCTOR_TESTS
from ..grading.stubs import ROOT, write_checkout

SCRIPTS = Path(__file__).with_name("gradescope")
EXECUTABLE = ("setup.sh", "run_autograder")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def lay_out(folder: Path, wheels: Path | None = None) -> None:
    """Write the autograder's files into folder: the unpacked zip, /autograder/source on Gradescope."""
    write_checkout(folder)  # exercises/ with stubs (replaced by the submission), its tests, conftest.py
    for package in ("gpt_from_scratch", "solutions", INSTRUCTOR_TESTS):
        shutil.copytree(ROOT / package, folder / package, ignore=IGNORED)
    shutil.copy(ROOT / "README.md", folder / "README.md")  # pyproject.toml's readme: pip needs it
    for name in EXECUTABLE:
        shutil.copy(SCRIPTS / name, folder / name)
    if wheels is not None:
        found = sorted(Path(wheels).glob("*.whl"))
        if not found:
            raise GPTFromScratchError(f"no .whl files in {wheels}: fill it with `pip download` first")
        (folder / "wheels").mkdir()
        for wheel in found:
            shutil.copy(wheel, folder / "wheels" / wheel.name)


def write_autograder(out: str | Path, wheels: str | Path | None = None) -> Path:
    """Write the autograder zip to out (atomically: a finished zip or none); return its path."""
    out = Path(out)
    if out.suffix != ".zip":
        raise GPTFromScratchError(f"{out}: name the autograder file NAME.zip, as Gradescope expects")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="autograder-") as tmp:
        folder = Path(tmp) / "source"
        folder.mkdir()
        lay_out(folder, Path(wheels) if wheels is not None else None)
        partial = out.with_name(out.name + ".part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    _add(archive, path, path.relative_to(folder).as_posix())
        os.replace(partial, out)
    return out


def _add(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    # Keep the scripts executable: Gradescope runs them as they are unpacked.
    info = zipfile.ZipInfo.from_file(path, name)
    info.external_attr = (0o755 if name in EXECUTABLE else 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, path.read_bytes())
