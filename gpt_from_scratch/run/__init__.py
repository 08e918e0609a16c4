"""A finetuning run's bookkeeping: its inputs checked before any work (preflight.py), and its output
written to a staging folder that replaces --out only once the run has succeeded (staged_output.py).
"""
