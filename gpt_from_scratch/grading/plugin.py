"""The pytest plugin for the exercise tests, loaded by the repository's conftest.py.

It adds --impl (whose code the exercise tests check) and --results-json (a Gradescope report), runs
each test in exercises/tests/ (and instructor_tests/) with that implementation and every other test
with solutions/, reads each instructor test's points and visibility from its marker, shortens
"not implemented" failures to one line, puts a property test's message before the example hypothesis
found, and ends the run with the scoreboard.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator

import pytest
from hypothesis import settings

from .. import seam
from . import contract
from .explain import explain
from .gradescope import write_results_json
from .outcomes import ExerciseOutcomes
from .points import EXERCISES, INSTRUCTOR_MARKER, VISIBILITIES, concept_of, is_instructor_test
from .scoreboard import write_scoreboard

OUTCOMES = pytest.StashKey[ExerciseOutcomes]()
INSTRUCTOR = pytest.StashKey[dict[str, tuple[float, str]]]()  # nodeid -> (its file's points, visibility)
# What a stub raises: NotImplementedError("exercises/loss.py::calc_loss_batch"). PyTorch raises
# NotImplementedError too (an operation a device lacks): that one is a learner's error to explain.
STUB_MESSAGE = re.compile(r"\w+/\w+\.py::\w+")

# Graded property tests must give every learner the same examples, run after run; loaded for every
# session, so that a library test sees the same settings whether or not the exercises run beside it.
# One failure at a time (report_multiple_bugs=False): a learner fixes one mistake, then sees the next.
settings.register_profile(
    "exercises",
    max_examples=25,
    deadline=None,
    derandomize=True,
    print_blob=True,
    report_multiple_bugs=False,
)
# How hypothesis's notes that show the failing inputs begin (the wording changed across versions).
EXAMPLE_NOTES = ("Falsifying", "Failing test case", "Failing explicit example")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("exercises")
    group.addoption(
        "--impl",
        choices=seam.IMPLEMENTATIONS,
        default=os.environ.get(seam.ENV_VAR, "exercises"),
        help="whose code the exercise tests check: your exercises/ (default) or the reference solutions/",
    )
    group.addoption("--results-json", metavar="PATH", help="write a Gradescope-compatible results.json")


def pytest_configure(config: pytest.Config) -> None:
    seam.check_implementation(config.getoption("impl"))
    settings.load_profile("exercises")
    for concept, (title, _) in EXERCISES.items():
        config.addinivalue_line("markers", f"{concept}: exercise {title}")
    config.addinivalue_line(
        "markers",
        f"{INSTRUCTOR_MARKER}(points, visibility='after_published'): an instructor-only test file's points "
        "(shared by its tests) and its Gradescope visibility",
    )
    config.stash[INSTRUCTOR] = {}
    if config.getoption("results_json"):
        # A grading run scores every test file it can import, and the others as 0.
        config.option.continue_on_collection_errors = True
    config.stash[OUTCOMES] = ExerciseOutcomes(config.getoption("impl"))
    config.pluginmanager.register(config.stash[OUTCOMES], "exercise-outcomes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if is_instructor_test(item.nodeid):
            config.stash[INSTRUCTOR][item.nodeid] = instructor_grading(item)


def instructor_grading(item: pytest.Item) -> tuple[float, str]:
    """(points, visibility) of an instructor test's file, from its marker; a clear error without one."""
    path = item.nodeid.split("::")[0]
    marker = item.get_closest_marker(INSTRUCTOR_MARKER)
    if concept_of(item.nodeid) is None:
        raise pytest.UsageError(
            f"{path}: name it test_<exercise>_<what>.py, <exercise> one of {', '.join(EXERCISES)}"
        )
    if marker is None or "points" not in marker.kwargs:
        raise pytest.UsageError(
            f"{path}: give it its points: pytestmark = pytest.mark.{INSTRUCTOR_MARKER}(points=10, "
            "visibility='after_published')"
        )
    visibility = marker.kwargs.get("visibility", "after_published")
    if visibility not in VISIBILITIES:
        raise pytest.UsageError(f"{path}: visibility {visibility!r} is not one of {', '.join(VISIBILITIES)}")
    return float(marker.kwargs["points"]), visibility


def pytest_report_header(config: pytest.Config) -> str:
    return f"exercise tests check: {config.getoption('impl')}/"


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    # An exercise test file is imported with the chosen implementation in use: the function names its
    # failure messages give (exercises/loss.py::calc_loss_batch) are computed at import.
    if not (isinstance(collector, pytest.Module) and concept_of(collector.nodeid)):
        return (yield)
    with seam.using(collector.config.getoption("impl")):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    # Only the exercise tests run the chosen implementation; every other test runs solutions/.
    if concept_of(item.nodeid) is None:
        return (yield)
    contract.forget_calls()
    with seam.using(item.config.getoption("impl")):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.excinfo is None or not concept_of(item.nodeid):
        return report
    # A stub that is still a stub: one line saying which function to write, not a traceback.
    if call.excinfo.errisinstance(NotImplementedError) and STUB_MESSAGE.fullmatch(str(call.excinfo.value)):
        report.longrepr = f"not implemented yet: {call.excinfo.value}"
    # A property test's message would sit under hypothesis's traceback: show it first, then the inputs.
    elif getattr(getattr(item, "obj", None), "is_hypothesis_test", False) and call.excinfo.errisinstance(
        (AssertionError, pytest.fail.Exception)
    ):
        report.longrepr = property_failure(call.excinfo.value)
    # An error inside the learner's function: which function, what it was given, what it should return.
    elif not call.excinfo.errisinstance((AssertionError, pytest.fail.Exception, pytest.skip.Exception)):
        explanation = explain(call.excinfo, contract.last_call())
        if explanation:
            report.longrepr = f"{explanation}\n\n{report.longrepr}"
    return report


def property_failure(error: BaseException) -> str:
    """The learner's message of a failed property test, then the example hypothesis found, no traceback."""
    # pytest appends its own explanation ("assert False", "where ... = tensor(...)") to an assert's message.
    failed = isinstance(error, pytest.fail.Exception)
    message = error.msg if failed else str(error).split("\nassert ", 1)[0]
    examples = [note for note in getattr(error, "__notes__", []) if note.startswith(EXAMPLE_NOTES)]
    return "\n".join([message, *examples])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    write_scoreboard(terminalreporter, terminalreporter.config.stash[OUTCOMES])


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("results_json")
    if path:
        write_results_json(path, session.config.stash[OUTCOMES], session.config.stash[INSTRUCTOR])
