"""Named finetuning experiments, repeated over seeds, recorded as JSON lines, reported as a Markdown table.

One idea a module:

- grid.py: the named runs (the book's 19 reference rows, ours, the baselines) and the book's split;
- runner.py: runs them for every seed, one record each (results.py: the JSON-lines file), resumable;
- summary.py: the statistics of the records, one group per name and configuration (never pooled):
  mean ± std over seeds, McNemar's exact test against the row-1 runs with the same overrides;
- settings.py: what a group ran next to its name's own configuration, as flags (its label), and
  whether it ran the published setting;
- report.py: the Markdown table, written as report.md with the figures (figures.py, matplotlib).

Runs are paired: every configuration is tested on the same 300 messages (the book's split), so
differences can be tested with McNemar's exact test on the paired predictions.
"""

from .grid import BASELINE, BOOK_SPLIT, DEFAULT_SEEDS, EXPERIMENTS, Experiment, experiment_config
from .report import report, write_report
from .results import read_results
from .runner import run_experiments, run_key
from .summary import Summary, mcnemar_exact, mean_std, summarize

__all__ = [
    "BASELINE",
    "BOOK_SPLIT",
    "DEFAULT_SEEDS",
    "EXPERIMENTS",
    "Experiment",
    "Summary",
    "experiment_config",
    "mcnemar_exact",
    "mean_std",
    "read_results",
    "report",
    "run_experiments",
    "run_key",
    "summarize",
    "write_report",
]
