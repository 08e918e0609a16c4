"""Every option of a finetuning run, declared once: FinetuneConfig, the check of what it asks, and
what --device means on this machine (resolve_device).

A field made with `option(...)` is also a command-line option: its metadata holds the flag, the
help, the choices and the group that `gpt-from-scratch finetune --help` shows (cli.py builds the
parser from them). A field with a plain default (num_classes, data_seed) is for Python callers only.
"""

from __future__ import annotations

import math
from dataclasses import Field, dataclass, field, fields
from typing import Any

import torch

from .data.sms_spam import READINGS
from .errors import DeviceError, OptionError
from .lora import SCALINGS
from .model import MODEL_CONFIGS
from .predict.readout import POOLINGS, POSITIONS, position_ignored
from .seam import IMPLEMENTATIONS, REFERENCE

WEIGHTS_CHOICES = ("pretrained", "random")
DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")
TRAINABLE_CHOICES = ("last_layer", "last_block", "last_two_blocks", "all", "lora")
CONTEXT_CHOICES = ("longest", "full", "none")
SCORE_CHOICES = ("full", "book")
OPTION_GROUPS = {  # the headings of `finetune --help`; None: the command's own options
    "run": None,
    "experiment": "experiment options (the book's chapter 6 bonus experiments)",
    "speed": "speed (docs/performance.md)",
}
IGNORE_INDEX_EXPLANATION = (
    "ignore_index cannot reach a classification loss: cross_entropy compares it with the labels, "
    "and here the labels are class ids (0 ham, 1 spam), one per message, never token ids, so the "
    "padding token's id (50256) would match nothing and change nothing (the reference's row 18 "
    "repeats row 1's numbers for that reason), and a class id would drop that class's messages from "
    "the loss. It masks padding *targets* in next-token training (chapter 7). To keep padding out of "
    "what the classifier reads, use --position flexible or --pooling mean."
)


def option(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    choices: tuple[str, ...] | None = None,
    group: str = "run",
) -> Any:
    """A FinetuneConfig field that is also a command-line option.

    help says what typing the flag does; flag defaults to --field-name, or to --no-field-name for a
    switch that is on by default (a bool field defaulting to True); choices, when given, are the only
    values check_config accepts; group is a key of OPTION_GROUPS.
    """
    return field(default=default, metadata={"help": help, "flag": flag, "choices": choices, "group": group})


@dataclass
class FinetuneConfig:
    """Every knob of a finetuning run; the defaults are the book's recipe."""

    model_size: str | None = option(
        None,
        "the architecture; left out: gpt2-small, or with --weights-dir the shape its config.json gives",
        choices=tuple(MODEL_CONFIGS),
    )
    weights: str = option(
        "pretrained",
        "start from OpenAI's weights, or from random ones (offline, for tests)",
        choices=WEIGHTS_CHOICES,
    )
    weights_dir: str | None = option(None, "folder holding GPT-2's model.safetensors (skips the download)")
    data_file: str | None = option(
        None,
        "the SMSSpamCollection file (skips the download), or your own labelled .csv, .tsv or .jsonl file",
    )
    text_column: str | None = option(None, "the column of your --data-file holding the texts (default: text)")
    label_column: str | None = option(
        None, "the column of your --data-file holding the labels, any number of classes (default: label)"
    )
    dedupe: bool = option(
        False,
        "drop repeated messages (same text up to whitespace and case) before splitting; the book keeps "
        "them, so some test messages are also training messages",
    )
    balance: bool = option(
        True, "keep every message instead of undersampling each class to the smallest one's count"
    )
    reading: str = option(
        "correct",
        "'book' parses the file as the book does (it merges a few messages), "
        "reproducing its split row for row",
        choices=READINGS,
    )
    out_dir: str = option("spam-classifier", "output folder", flag="--out")
    overwrite: bool = option(
        False, "replace an existing classifier in --out (kept until this run has succeeded)"
    )
    trainable: str = option(
        "last_block",
        "which weights train besides the new head; 'lora' freezes them all and adds LoRA updates",
        choices=TRAINABLE_CHOICES,
    )
    num_classes: int = 2
    max_length: int | None = option(
        None, "pad/truncate messages to this many tokens (left out: the longest training message)"
    )
    num_epochs: int = option(5, "passes over the training set", flag="--epochs")
    batch_size: int = option(8, "messages per batch (under torchrun: the global batch)")
    lr: float = option(5e-5, "AdamW's learning rate")
    weight_decay: float = option(0.1, "AdamW's weight decay")
    eval_freq: int = option(50, "evaluate every N steps")
    eval_iter: int = option(5, "batches per evaluation")
    seed: int = option(123, "seeds the split, the new head's weights and the shuffles")
    target_fpr: float | None = option(
        None,
        "choose the decision threshold on validation data so that at most this share of ham is flagged "
        "as spam (e.g. 0.01); saved with the model, used by classify and serve (two classes only)",
    )
    score: str = option(
        "full",
        "'book' scores only what the book does (train, validation and test accuracy), skipping the "
        "ham set aside and the natural-share figures, for like-for-like timing with the book",
        choices=SCORE_CHOICES,
    )
    device: str = option("auto", f"one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    impl: str = option(
        REFERENCE,  # solutions/, or exercises/ in a student release (which has no solutions/)
        "run the learner concepts from solutions/ or from your own exercises/",
        choices=IMPLEMENTATIONS,
    )
    skip_exercise_check: bool = option(
        False, "with --impl exercises, train even if the exercise tests still fail"
    )
    # The knobs of the book's chapter 6 bonus experiments; the defaults are the book's recipe.
    position: str = option("last", "the token the classifier reads", choices=POSITIONS, group="experiment")
    pooling: str = option(
        "token",
        "'mean' averages the real tokens' vectors; 'mean_with_padding' averages padding in too",
        choices=POOLINGS,
        group="experiment",
    )
    context: str = option(
        "longest",
        "pad to the longest training message, to the model's full context, or not at all "
        "(needs --batch-size 1); a fixed length is --max-length",
        choices=CONTEXT_CHOICES,
        group="experiment",
    )
    accumulation_steps: int = option(
        1, "batches whose gradients are summed before each optimizer step", group="experiment"
    )
    causal: bool = option(
        True, "let every token attend to every other", flag="--no-causal-mask", group="experiment"
    )
    ignore_index: int | None = option(
        None, "refused, with the reason: class labels are never token ids", group="experiment"
    )
    lora_rank: int = option(16, "the rank of the LoRA updates (with --trainable lora)", group="experiment")
    lora_alpha: float = option(16.0, "the LoRA updates' scale (see --lora-scaling)", group="experiment")
    lora_scaling: str = option(
        "book",
        "'book': the update times alpha; 'paper' (LoRA paper, peft): times alpha / rank",
        choices=SCALINGS,
        group="experiment",
    )
    max_steps: int | None = option(None, "stop after this many batches in all", group="experiment")
    data_seed: int | None = None  # the split's seed; None: seed. Fixed, it pairs runs on one test set
    # Speed (docs/performance.md): the switches below change the answer by float rounding only;
    # exact=True turns them all off for the book's computation bit for bit.
    sdpa: bool = option(
        True,
        "run attention through the seam (solutions/ code) instead of PyTorch's fused kernel; "
        "always so with --impl exercises",
        group="speed",
    )
    fused_layers: bool = option(
        True,
        "compute LayerNorm and GELU with the book's formulas instead of PyTorch's fused kernels",
        group="speed",
    )
    skip_unread: bool = option(
        True,
        "compute the last block at every position, then pick the one the classifier reads",
        group="speed",
    )
    prefix_cache: bool = option(
        True, "recompute the frozen blocks at every step instead of once per message", group="speed"
    )
    trim_padding: bool = option(
        True,
        "keep every batch padded to the longest training message (trimmed by default when the "
        "classifier never reads padding: --position flexible/first or --pooling mean)",
        group="speed",
    )
    exact: bool = option(
        False, "the book's computation bit for bit: none of the speed options above", group="speed"
    )
    bf16: bool = option(False, "bf16 autocast (CUDA only)", group="speed")
    compile: bool = option(False, "torch.compile the blocks (CUDA only)", group="speed")


def is_option(f: Field) -> bool:
    """Whether a FinetuneConfig field is a command-line option (made with `option`)."""
    return "help" in f.metadata


def command_line_fields() -> list[Field]:
    """The FinetuneConfig fields that are command-line options, in declaration order."""
    return [f for f in fields(FinetuneConfig) if is_option(f)]


def flag(f: Field) -> str:
    """The flag a user types for a field: e.g. --epochs for num_epochs, --no-sdpa for sdpa."""
    if f.metadata.get("flag"):
        return f.metadata["flag"]
    name = f.name.replace("_", "-")
    return f"--no-{name}" if f.default is True else f"--{name}"


def _as_typed(cfg: FinetuneConfig, name: str) -> str:
    # An option as the user wrote it: "--lr -1", "--trainable everything"; else as Python: name=value.
    f, value = next(f for f in fields(cfg) if f.name == name), getattr(cfg, name)
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{flag(f)} {shown}" if is_option(f) else f"{name}={value!r}"


def check_config(cfg: FinetuneConfig) -> None:
    """Raise OptionError, naming the flags, for an option or a combination that cannot do what it says."""
    for f in command_line_fields():
        value, choices = getattr(cfg, f.name), f.metadata["choices"]
        if choices and value is not None and value not in choices:
            raise OptionError(f"{_as_typed(cfg, f.name)}: choose one of {', '.join(choices)}")
    for f in command_line_fields():
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):  # nan passes every comparison below
            default = f" (the default is {f.default:g})" if isinstance(f.default, float) else ""
            raise OptionError(f"{_as_typed(cfg, f.name)}: not a finite number: give a usual number{default}")
    for name in ("num_epochs", "batch_size", "eval_freq", "eval_iter", "accumulation_steps", "lora_rank"):
        if getattr(cfg, name) < 1:
            raise OptionError(f"{_as_typed(cfg, name)}: must be at least 1")
    for name in ("max_length", "max_steps"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            raise OptionError(f"{_as_typed(cfg, name)}: must be at least 1 (or left out, for no limit)")
    if cfg.lr <= 0:
        raise OptionError(f"{_as_typed(cfg, 'lr')}: the learning rate must be positive")
    if cfg.weight_decay < 0:
        raise OptionError(f"{_as_typed(cfg, 'weight_decay')}: the weight decay must be 0 or more")
    if cfg.lora_alpha <= 0:
        raise OptionError(f"{_as_typed(cfg, 'lora_alpha')}: the LoRA scale must be positive")
    if cfg.target_fpr is not None and not 0 < cfg.target_fpr < 1:
        raise OptionError(
            f"{_as_typed(cfg, 'target_fpr')}: a false-positive rate is a share between 0 and 1, "
            "e.g. 0.01 for at most 1 ham message in 100 flagged"
        )
    if cfg.score == "book" and cfg.target_fpr is not None:
        raise OptionError(
            f"--score book --target-fpr {cfg.target_fpr:g}: the threshold is chosen on the validation ham "
            "set aside and measured on the test ham set aside, which --score book does not score: "
            "leave one of them out"
        )
    for name in ("text_column", "label_column"):
        if getattr(cfg, name) is not None and cfg.data_file is None:
            raise OptionError(
                f"{_as_typed(cfg, name)} names a column of your own --data-file: give the .csv, .tsv or "
                ".jsonl file too"
            )
    if cfg.num_classes < 2:
        raise OptionError(f"{_as_typed(cfg, 'num_classes')}: a classifier needs at least 2 classes")
    if position_ignored(cfg.position, cfg.pooling):
        raise OptionError(
            f"--pooling {cfg.pooling} averages over the tokens, so --position {cfg.position} would be "
            "ignored: leave --position at last, or use --pooling token"
        )
    if cfg.context == "full" and cfg.max_length is not None:
        raise OptionError(
            f"--context full pads to the model's context length: leave --max-length unset "
            f"(got {_as_typed(cfg, 'max_length')})"
        )
    if cfg.context == "none" and cfg.batch_size != 1:
        raise OptionError(
            f"--context none leaves messages at their own lengths, which cannot be stacked into a "
            f"batch of {cfg.batch_size}: use --batch-size 1, with --accumulation-steps 8 for an "
            "effective batch of 8"
        )
    if cfg.ignore_index is not None:
        raise OptionError(f"{_as_typed(cfg, 'ignore_index')} is refused: {IGNORE_INDEX_EXPLANATION}")


# --device: the device a run computes on. auto: a CUDA GPU, then Apple's MPS, then the CPU.


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def resolve_device(name: str = "auto") -> torch.device:
    """Turn 'auto', 'cuda', 'cuda:1', 'mps' or 'cpu' into a torch.device that exists on this machine."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    kind = name.split(":")[0]
    if kind not in DEVICE_CHOICES:
        raise DeviceError(f"unknown device {name!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise DeviceError(
            f"--device {name} was asked for, but PyTorch sees no CUDA GPU (torch {torch.__version__}, "
            f"{build}). Use --device cpu, or --device auto to take the best device available."
        )
    if kind == "mps" and not _mps_available():
        raise DeviceError(
            f"--device {name} was asked for, but Apple's MPS backend is not available here. "
            "Use --device cpu, or --device auto to take the best device available."
        )
    return torch.device(name)
