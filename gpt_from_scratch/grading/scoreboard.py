"""The scoreboard that ends every run of the exercise tests: tests passed per exercise, and what next."""

from __future__ import annotations

import pytest

from .outcomes import ExerciseOutcomes
from .points import EXERCISES


def write_scoreboard(terminal: pytest.TerminalReporter, outcomes: ExerciseOutcomes) -> None:
    """One line per exercise that ran, one per test file that could not be imported, then the next step."""
    scores = outcomes.scores()
    if not scores and not outcomes.collection_errors:
        return
    write = terminal.write_line
    impl = outcomes.impl
    terminal.section(f"scoreboard ({impl}/)")
    not_run = outcomes.not_run()
    stopped = (
        "stopped after the first failure"
        if terminal.config.getoption("maxfail", 0) == 1
        else "the run stopped early"
    )
    for concept, (title, _) in EXERCISES.items():
        if concept in scores:
            passed, total = scores[concept]
            mark = "done" if passed == total else "    "
            skipped = len(not_run.get(concept, []))
            note = f" ({stopped}: {skipped} not run)" if skipped else ""
            write(f"  {mark}  {title:<48} {passed:>3} / {total:<3} tests passed{note}")
    for _concept, path, _ in outcomes.collection_errors:
        write(f"  !!   {path}: could not be imported (see the error above)")
    todo = [c for c, (passed, total) in scores.items() if passed < total]
    if outcomes.collection_errors:
        write("Next: fix the import error above; until then those tests cannot run.")
    elif todo:
        write(f"Next: open {impl}/{todo[0]}.py and run `pytest exercises/ -m {todo[0]}`.")
    elif set(scores) == set(EXERCISES):
        write("All public tests passed. Run your code inside the real GPT-2 classifier:")
        write("  gpt-from-scratch finetune --impl exercises --weights random --model-size tiny \\")
        write("      --data-file path/to/SMSSpamCollection")
