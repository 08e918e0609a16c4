"""What a record ran, next to what its experiment's name stands for: the differences, named as flags.

A record keeps the full configuration of its run. The grid gives each name a configuration of its
own (`experiments --list`); the command line's overrides (--model-size tiny, --max-steps 30) change
it. The report labels every configuration by its name and those differences, as the flags a user
types, and shows a published number only beside a run of the published setting.

A record made before an option existed holds no value for it: it is taken at the name's own value,
since a new option's default keeps what ran before it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..config import command_line_fields, flag
from .grid import EXPERIMENTS, Experiment, experiment_config

# Where the data was read from, and what ran the run: they locate a run, they do not change its
# setting, so a label names them only to tell two configurations of one name apart. (--weights-dir
# is a setting: without --model-size, its config.json picks the architecture.)
WHERE = ("data_file", "device")
# The overrides a baseline row leaves out (grid.py): a baseline record cannot say which ones ran beside it.
GPT_ONLY = ("model_size", "weights", "weights_dir")
OPTIONS = {f.name: f for f in command_line_fields()}
PUBLISHED_CAVEAT = (  # what is_published_setting checks, as the report and its figure say it
    "published numbers are shown only beside runs of the published setting: pretrained GPT-2 "
    "(row 10: random weights, as published) of the row's own size, full recipe (5 epochs, lr 5e-05, "
    "no --max-steps)"
)


def named_config(name: str, baseline: bool) -> dict[str, Any]:
    """The configuration the grid gives a name without overrides, seed and out_dir left out.

    A name the grid does not hold stands for the book's recipe (or the default baseline) on its split.
    """
    experiment = EXPERIMENTS.get(name) or Experiment(name, {}, baseline=baseline)
    config = dataclasses.asdict(experiment_config(experiment, 0, {}))
    return {key: value for key, value in config.items() if key not in ("seed", "out_dir")}


def completed(config: dict[str, Any], named: dict[str, Any]) -> dict[str, Any]:
    """A recorded config with the options it predates taken at the name's own values."""
    return {key: value for key, value in named.items() if key not in config} | config


def differences(config: dict[str, Any], named: dict[str, Any]) -> dict[str, Any]:
    """The options of config whose values differ from named, in the order the configuration declares them."""
    keys = [*(key for key in named if key in config), *(key for key in config if key not in named)]
    changed = {key: config[key] for key in keys if key not in named or config[key] != named[key]}
    if config.get("weights_dir") is not None:
        # With --weights-dir the shape comes from its config.json, unless --model-size named one.
        changed.pop("model_size", None)
        if config.get("model_size") is not None:
            changed = {"model_size": config["model_size"]} | changed
    return changed


def as_typed(name: str, value: Any) -> str:
    """An option as a user types it (--max-steps 30, --no-causal-mask), else as Python (limit=100)."""
    f = OPTIONS.get(name)
    if f is None or value is None:  # a baseline-only option, or a None no flag can type
        return f"{name}={value!r}"
    if isinstance(value, bool):  # a switch: its flag types only the value that differs from its default
        return flag(f) if value != f.default else f"{name}={value}"
    return f"{flag(f)} {value}"


def label(name: str, changed: dict[str, Any], where: bool = False) -> str:
    """The name, with the options that differ from its own as flags; where: with WHERE's options too."""
    shown = [as_typed(key, value) for key, value in changed.items() if where or key not in WHERE]
    return f"{name} ({', '.join(shown)})" if shown else name


def model_size(config: dict[str, Any]) -> str | None:
    """The GPT-2 size a config ran: model_size None means gpt2-small, or with weights_dir: unknown (None)."""
    return config.get("model_size") or ("gpt2-small" if config.get("weights_dir") is None else None)


def is_published_setting(changed: dict[str, Any], config: dict[str, Any], named: dict[str, Any]) -> bool:
    """Whether a run with these differences from its row ran the row's published setting.

    The row's own options, its model size and weights, the full recipe (5 epochs, lr 5e-5, no
    --max-steps): nothing may differ but where the data and the weights were read from (with the
    size named) and the device.
    """
    size = model_size(config)
    allowed = {*WHERE, "weights_dir", "model_size"}
    return size is not None and size == model_size(named) and set(changed) <= allowed
