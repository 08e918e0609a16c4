"""Print a benchmark JSON file as a Markdown table: `python benchmarks/report.py [FILE]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(path: str) -> None:
    data = json.loads(Path(path).read_text())
    machine = data["machine_info"]
    print(
        f"Machine: {machine.get('cpu_model')}, {machine.get('cpu_count')} cores, torch {machine.get('torch')}"
    )
    print(f"GPU: {machine.get('cuda_device')}; load average at the end: {machine.get('load_average_at_end')}")
    print(f"Run: {data['datetime']}\n")
    print("| benchmark | mean s | examples/s | tokens/s | MFU | load | accuracies (train/val/test) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        examples = info.get("examples_per_s", info.get("examples_per_s_training", 0))
        accuracies = "/".join(
            f"{info[key]:.3f}"
            for key in ("train_accuracy", "validation_accuracy", "test_accuracy")
            if key in info
        )
        mfu = f"{info['mfu'] * 100:.1f}%" if "mfu" in info else ""
        load = info.get("load_average_1min", "")
        print(
            f"| {bench['name']} | {bench['stats']['mean']:.3f} | {examples:.1f} "
            f"| {info.get('tokens_per_s', 0):.0f} | {mfu} | {load} | {accuracies} |"
        )
    phased = [bench for bench in data["benchmarks"] if bench["extra_info"].get("phase_seconds")]
    if phased:
        print_phases(phased)


def print_phases(benchmarks: list[dict]) -> None:
    """The seconds of each finetune phase (the recipe benchmarks), one row per benchmark."""
    names = list(dict.fromkeys(name for bench in benchmarks for name in bench["extra_info"]["phase_seconds"]))
    print("\nSeconds per phase (finetune's metrics.phase_seconds; - not run, skipped: --score book):\n")
    print("| benchmark | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for bench in benchmarks:
        seconds, skipped = bench["extra_info"]["phase_seconds"], bench["extra_info"].get("skipped_phases", {})
        cells = [
            f"{seconds[name]:.1f}" if name in seconds else ("skipped" if name in skipped else "-")
            for name in names
        ]
        print(f"| {bench['name']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/latest.json")
