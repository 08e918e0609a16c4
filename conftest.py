"""Loads the exercise tests' grading plugin, gpt_from_scratch/grading/plugin.py (--impl, the scoreboard,
--results-json): it lives in the package, so that exercises/ holds only what the learner works with."""

pytest_plugins = ["gpt_from_scratch.grading.plugin"]
