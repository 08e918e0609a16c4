"""The course kit: what an instructor builds from this repository (`gpt-from-scratch course ...`).

release.py      a student repository: the package, stubs generated from solutions/, the public tests
autograder.py   the zip Gradescope takes: setup.sh, run_autograder, the tests (public and instructor-only)
grade.py        what run_autograder runs: the submitted files put in place, graded, results.json written
gradescope/     setup.sh and run_autograder, copied into the zip
notebook.py     what the notebooks in notebooks/ share (the one part a student release keeps)
"""
