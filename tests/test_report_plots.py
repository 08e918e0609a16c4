"""The experiment report's figures: plot_report, write_report, and `experiments --report` writing them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from stand_ins import fake_finetune

from gpt_from_scratch import experiments
from gpt_from_scratch.cli import main
from gpt_from_scratch.config import FinetuneConfig
from gpt_from_scratch.experiments import (
    figures,
    read_results,
    report,
    run_experiments,
    summarize,
    write_report,
)
from gpt_from_scratch.experiments.figures import plot_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REPORT_FILES = ("report.md", "accuracy.png", "time-vs-accuracy.png")


def predictions(cfg: FinetuneConfig) -> list[int]:
    """Row 2 misses one message that row 1 gets right; seed 2 gets one more wrong."""
    if cfg.seed == 2:
        return [1, 1, 1]
    return [1, 0, 1] if cfg.position == "last" else [0, 0, 1]


@pytest.fixture
def results(tmp_path, monkeypatch) -> Path:
    """A results file written by the runner: two experiments times two seeds."""

    def seconds(cfg: FinetuneConfig) -> float:
        return 0.5 if cfg.position == "last" else 2.0

    monkeypatch.setattr(experiments.runner, "finetune", fake_finetune(predictions, seconds))
    path = tmp_path / "runs" / "results.jsonl"
    names = ["row01-book", "row02-first-token"]
    run_experiments(names, [1, 2], path, {"model_size": "tiny"}, log=lambda _: None)
    return path


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > 5_000, (path, len(data))  # axes, points and labels, not an empty canvas


def test_the_report_and_the_plots_group_the_records_alike(results):
    summaries = summarize(read_results(results))
    assert [(s.label, [r["seed"] for r in s.runs]) for s in summaries] == [
        ("row01-book (--model-size tiny)", [1, 2]),
        ("row02-first-token (--model-size tiny)", [1, 2]),
    ]
    assert summaries[0].accuracies("test") == pytest.approx([100.0, 200 / 3])
    assert summaries[0].reference_test == 95.00
    assert summaries[0].published_test is None  # a tiny model is not the published setting
    assert summaries[1].mean("training_seconds") == 2.0
    assert (
        "| row01-book (--model-size tiny) | tiny, pretrained | 2 | 90.00 ± 0.00 | 80.00 ± 0.00 "
        "| 83.33 ± 23.57 | - |" in report(read_results(results))
    )


def capture(monkeypatch, name: str) -> list[tuple]:
    """The arguments every call of figures.<name> gets; the figure is still drawn."""
    calls, draw = [], getattr(figures, name)

    def recorded(*args):
        calls.append(args)
        return draw(*args)

    monkeypatch.setattr(figures, name, recorded)
    return calls


def test_the_time_plot_shows_the_seconds_of_the_table(results, tmp_path, monkeypatch):
    records = read_results(results)
    for record in records:  # wall and training seconds apart, so the test tells which one is plotted
        record["wall_seconds"] = record["training_seconds"] * 10 + record["seed"]
    calls = capture(monkeypatch, "_plot_time_vs_accuracy")
    table, _ = write_report(records, tmp_path, note=print)
    ((labels, seconds, accuracies, _),) = calls
    assert "| wall s |" in table.splitlines()[0]
    shown = [line.split("|")[-3].strip() for line in table.splitlines()[2:4]]
    # Wall seconds, mean over seeds: (5 + 1 + 5 + 2) / 2 and (20 + 1 + 20 + 2) / 2, not training's.
    assert shown == [f"{s:.1f}" for s in seconds] == ["6.5", "21.5"]
    assert labels == ["row01-book (--model-size tiny)", "row02-first-token (--model-size tiny)"]
    assert accuracies == pytest.approx((250 / 3, 200 / 3))


def test_the_accuracy_plot_marks_published_numbers_only_beside_the_published_setting(
    results, tmp_path, monkeypatch
):
    calls = capture(monkeypatch, "_plot_accuracy")
    plot_report(summarize(read_results(results)), tmp_path / "tiny")
    (tiny,) = calls
    assert tiny[3] == [None, None] and tiny[4] is True  # no marker, and the caption says why
    # The published setting: pretrained GPT-2 small, the full recipe (--device is not a setting).
    run_experiments(["row01-book"], [1], results, {"device": "cpu"}, log=lambda _: None)
    plot_report(summarize(read_results(results)), tmp_path / "published")
    labels, _, _, published, hidden, _ = calls[1]
    assert labels[0] == "row01-book (--model-size tiny)" and labels[1] == "row01-book"
    assert published == [None, 95.00, None] and hidden is True
    assert_png(tmp_path / "published" / "accuracy.png")


def test_plot_report_writes_the_two_pngs(results, tmp_path):
    out = tmp_path / "plots"
    paths = plot_report(summarize(read_results(results)), out)
    assert paths == [out / "accuracy.png", out / "time-vs-accuracy.png"]
    for path in paths:
        assert_png(path)


def test_plot_report_refuses_an_empty_results_file(tmp_path):
    with pytest.raises(ValueError, match="no experiment records"):
        plot_report(summarize(read_results(tmp_path / "missing.jsonl")), tmp_path)


def test_write_report_writes_the_table_and_the_figures(results, tmp_path):
    records = read_results(results)
    table, written = write_report(records, tmp_path / "report", note=print)
    assert table == report(records)
    assert [path.name for path in written] == list(REPORT_FILES)
    assert written[0].read_text(encoding="utf-8") == table


def test_cli_report_prints_the_table_and_writes_it_with_its_plots_beside_the_results(results, capsys):
    assert main(["experiments", "--report", "--results", str(results)]) == 0
    out, err = capsys.readouterr()
    assert out == report(read_results(results))  # stdout is the table, as before
    assert (results.parent / "report.md").read_text(encoding="utf-8") == out
    for name in REPORT_FILES[1:]:
        assert_png(results.parent / name)
        assert name in err


def test_cli_report_dir(results, tmp_path, capsys):
    report_dir = tmp_path / "report"
    assert main(["experiments", "--report", "--results", str(results), "--report-dir", str(report_dir)]) == 0
    capsys.readouterr()
    for name in REPORT_FILES:
        assert (report_dir / name).is_file(), name
    assert not (results.parent / "report.md").exists()


def test_cli_report_without_matplotlib_still_writes_the_table(results, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "gpt_from_scratch.experiments.figures", None)  # its import fails
    assert main(["experiments", "--report", "--results", str(results)]) == 0
    out, err = capsys.readouterr()
    assert out == report(read_results(results))
    assert 'pip install "gpt-from-scratch[plots]"' in err
    assert (results.parent / "report.md").read_text(encoding="utf-8") == out
    assert not (results.parent / "accuracy.png").exists()


def test_cli_report_notes_a_half_written_last_line(results, capsys):
    with results.open("a") as out:
        out.write('{"key": "0123", "na')  # a run interrupted while recording
    assert main(["experiments", "--report", "--results", str(results)]) == 0
    out, err = capsys.readouterr()
    warning = f"{results} line 5 is half-written (a run interrupted while recording)"
    assert warning in err
    assert f"- {warning}" in out and (results.parent / "report.md").read_text(encoding="utf-8") == out
    assert "| 2 |" in out  # the four whole records are all there


def test_cli_report_refuses_a_line_that_is_not_a_record(results, capsys):
    lines = results.read_text().splitlines(keepends=True)
    results.write_text("".join([*lines[:2], "oops\n", *lines[2:]]))
    assert main(["experiments", "--report", "--results", str(results)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{results} line 3 is not a JSON record: fix or delete that line" in err
    assert not (results.parent / "report.md").exists()


def test_the_accuracy_plots_legend_covers_no_error_bar(tmp_path, monkeypatch):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from gpt_from_scratch.experiments.figures import _plot_accuracy

    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, path, **_: saved.append(figure))
    # Rows spread over the whole width, the lowest one at the left, where the legend used to sit.
    means, stds = (95.0, 80.0, 70.0, 60.0, 50.0), (1.0, 2.0, 3.0, 5.0, 8.0)
    labels = [f"row{number:02d}" for number in range(1, 6)]
    _plot_accuracy(labels, means, stds, [96.0, None, None, 62.0, None], False, tmp_path / "accuracy.png")
    (figure,) = saved
    renderer = FigureCanvasAgg(figure).get_renderer()  # the figure is closed: lay it out again to measure
    (ax,) = figure.axes
    legend = ax.get_legend().get_window_extent(renderer).padded(6)  # and a marker's half-width around it
    rows = list(zip(means, stds, range(len(labels))[::-1], strict=True))  # the plot's rows, top to bottom
    for mean, std, y in rows:  # each error bar, from mean - std to mean + std, in pixels
        (left, row), (right, _) = ax.transData.transform([(mean - std, y), (mean + std, y)])
        assert not (legend.y0 <= row <= legend.y1 and left <= legend.x1 and right >= legend.x0), (mean, y)
    assert figure.bbox.contains(legend.x0, legend.y0) and figure.bbox.contains(legend.x1, legend.y1)
