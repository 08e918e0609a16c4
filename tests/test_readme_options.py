"""The README's option tables agree with `gpt-from-scratch finetune --help`: flags, choices, defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gpt_from_scratch.cli import main
from gpt_from_scratch.config import command_line_fields, flag

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_option_rows() -> list[tuple[str, str]]:
    """(flag, values cell) of every row of the README's tables whose header begins `| option | values |`."""
    rows, in_table = [], False
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]  # `\|` stays in its cell
        if cells[:2] == ["option", "values"]:
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table and not cells[0].startswith("---"):
            rows.append((re.match(r"`(--[a-z0-9-]+)", cells[0]).group(1), cells[1]))
    return rows


def help_options(capsys) -> dict[str, list[str] | None]:
    """{flag: its choices, or None} of every option `finetune --help` prints."""
    with pytest.raises(SystemExit) as exit_:
        main(["finetune", "--help"])
    assert exit_.value.code == 0
    # An option's line starts two spaces in; wrapped help text is indented further.
    found = re.findall(r"^  (--[a-z0-9-]+)(?: \{([^}]*)\})?", capsys.readouterr().out, flags=re.MULTILINE)
    return {name: choices.split(",") if choices else None for name, choices in found if name != "--help"}


def test_every_readme_option_is_in_help_with_the_same_choices_and_default(capsys):
    options = help_options(capsys)
    defaults = {flag(f): f.default for f in command_line_fields()}
    for name, values in readme_option_rows():
        assert name in options, f"{name} is in the README but not in `finetune --help`"
        listed = re.findall(r"`([^`]+)`", values)
        marked = re.findall(r"`([^`]+)` \(default\)", values)
        if options[name] is None:
            assert not listed, f"{name}: the README lists values {listed}, --help none"
            if defaults[name] is not None and not isinstance(defaults[name], bool):
                assert f"default {defaults[name]}" in values, f"{name}: the default is {defaults[name]}"
        else:
            assert sorted(listed) == sorted(options[name]), f"{name}: README {listed}, --help {options[name]}"
            assert marked == ([] if defaults[name] is None else [defaults[name]]), name


def test_every_help_option_is_in_the_readme_once(capsys):
    listed = [name for name, _ in readme_option_rows()]
    assert len(listed) == len(set(listed)), "an option is in two README tables"
    missing = set(help_options(capsys)) - set(listed)
    assert not missing, f"in `finetune --help` but not in the README's option tables: {sorted(missing)}"
