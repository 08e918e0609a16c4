"""Grading the exercises: the pytest plugin behind `pytest exercises/`, and the exercise tests' helpers.

points.py      the five exercises, their points, and which test file grades which
plugin.py      the pytest hooks: --impl and --results-json, which code the exercise tests run
outcomes.py    each exercise test's outcome, collected during the run
scoreboard.py  the summary printed at the end of every run
gradescope.py  the same outcomes as Gradescope's results.json
checks.py      golden values and learner-friendly failure messages, for the tests in exercises/tests/
stubs.py       exercise stubs generated from solutions/, in scratch checkouts the tests are proven on
precheck.py    which exercises do not pass yet: what finetune --impl exercises checks before training

The repository's root conftest.py loads plugin.py, so nothing of this lives in the learner's folder.
"""
