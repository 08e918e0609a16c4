"""The whole recipe of the book's chapter 6: data, model, new head, training, evaluation, saving."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from . import seam
from .checkpoint import save_classifier
from .config import WEIGHTS_CHOICES, FinetuneConfig, check_config, resolve_device
from .data import SMS_SOURCE, SpamDataset, prepare_splits, read_heldout, read_split_info
from .data.sms_spam import LABELS, download_sms_spam
from .errors import OptionError
from .evaluation import RunMetrics, accuracy, evaluation_markdown
from .evaluation.measure import (
    choose_threshold,
    describe_data,
    describe_threshold,
    evaluate_test,
    natural_applies,
    score_set_aside,
    summary_lines,
)
from .fast import SpeedPlan, plan_inference, plan_speed
from .lora import merge_lora, replace_linear_with_lora
from .model import GPTModel, count_parameters, model_config
from .predict import ClassifierInfo, loader_probabilities, positive_class, positive_probabilities
from .predict.tokenizer import PAD_TOKEN_ID, get_tokenizer
from .progress import progress, say
from .run import distributed
from .run.phases import Phases
from .run.staged_output import staged_output
from .safe_files import atomic_path
from .train import train_classifier_simple
from .weights import DEFAULT_MODEL_SIZE, load_pretrained_gpt

REPORT_FILE = "report.md"  # the test set's evaluation, for a reader: leakage, per class, natural share
SKIPPED_BY_BOOK_SCORING = "skipped (--score book)"


def build_classifier(
    cfg: FinetuneConfig, log: Callable[[str], None] = say, **model_options: bool
) -> GPTModel:
    """GPT-2 (pretrained or random) with a fresh classification head and the chosen layers trainable.

    model_options are the kernels GPTModel picks at construction (fast.SpeedPlan.model_options).
    """
    if cfg.weights not in WEIGHTS_CHOICES:
        raise ValueError(f"weights must be one of {WEIGHTS_CHOICES}, got {cfg.weights!r}")
    if cfg.weights == "pretrained":
        model = load_pretrained_gpt(cfg.model_size, weights_dir=cfg.weights_dir, **model_options)
    else:
        torch.manual_seed(cfg.seed)
        model = GPTModel(model_config(cfg.model_size or DEFAULT_MODEL_SIZE), **model_options)
    if not cfg.causal:
        set_causal(model, False)
    # Seeded right before the new head, as in the book, so the head starts from the same numbers.
    torch.manual_seed(cfg.seed)
    seam.replace_head(model, cfg.num_classes)
    if cfg.trainable == "lora":
        # As in the book's bonus script: everything frozen but the new head, then LoRA on every Linear.
        seam.freeze_all_but(model, "last_layer")
        replace_linear_with_lora(model, cfg.lora_rank, cfg.lora_alpha, cfg.lora_scaling)
    else:
        seam.freeze_all_but(model, cfg.trainable)
    shape = f"{model.cfg.n_layers} layers, {model.cfg.emb_dim} dims"
    log(
        f"Model: {cfg.model_size or shape} ({cfg.weights} weights), {count_parameters(model):,} parameters, "
        f"{count_parameters(model, trainable_only=True):,} trainable ({cfg.trainable})"
    )
    return model


def set_causal(model: GPTModel, causal: bool) -> GPTModel:
    """Switch the causal mask of every attention layer on or off (the config records it for saving)."""
    model.cfg = dataclasses.replace(model.cfg, causal=causal)
    for block in model.trf_blocks:
        block.att.causal = causal
    return model


def make_loaders(
    data_dir: Path, context_length: int, cfg: FinetuneConfig, collate_fn: Callable | None = None
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train, validation and test loaders; every split is padded to the training set's length."""
    tokenizer = get_tokenizer()
    max_length = context_length if cfg.context == "full" else cfg.max_length
    pad = cfg.context != "none"
    classes = {"num_classes": cfg.num_classes, "pad": pad}
    train_ds = SpamDataset(
        data_dir / "train.csv", tokenizer, max_length, PAD_TOKEN_ID, context_length=context_length, **classes
    )
    val_ds = SpamDataset(data_dir / "validation.csv", tokenizer, train_ds.max_length, PAD_TOKEN_ID, **classes)
    test_ds = SpamDataset(data_dir / "test.csv", tokenizer, train_ds.max_length, PAD_TOKEN_ID, **classes)
    eval_batch_size = cfg.batch_size if pad else 1  # unpadded messages of different lengths: one at a time
    torch.manual_seed(cfg.seed)
    train_loader = DataLoader(
        train_ds, batch_size=cfg.batch_size, shuffle=True, drop_last=True, collate_fn=collate_fn
    )
    val_loader = DataLoader(val_ds, batch_size=eval_batch_size, collate_fn=collate_fn)
    test_loader = DataLoader(test_ds, batch_size=eval_batch_size, collate_fn=collate_fn)
    return train_loader, val_loader, test_loader


def finetune(
    cfg: FinetuneConfig,
    log: Callable[[str], None] = say,
    also_score: Callable[[list[str]], list[str]] | None = None,
) -> RunMetrics:
    """Run the recipe, write model, metrics.json and plots to cfg.out_dir; return the metrics.

    Every option, --out and the inputs to download (data, weights) are checked before any work.
    The run writes into a staging folder beside --out that replaces --out in one step once the run
    has succeeded: a failed or interrupted run leaves --out as it was.

    also_score, given the test messages, returns more texts (e.g. reworded copies) for the trained
    classifier to score as `classify` reads messages: their P(spam) is metrics.also_probabilities.
    """
    check_config(cfg)
    with seam.using(cfg.impl):
        return _finetune(cfg, log, also_score)


def _finetune(
    cfg: FinetuneConfig, log: Callable[[str], None], also_score: Callable[[list[str]], list[str]] | None
) -> RunMetrics:
    # Under torchrun, one of several data-parallel processes (run/distributed.py); else the only one.
    parallel, device_name = distributed.setup(cfg.device)
    log = parallel.only_main(log)
    if cfg.impl == "exercises":
        log("Running your exercises/ code for the five learner concepts")
    device = resolve_device(device_name)
    plan = plan_speed(cfg, device, log)  # every fast path decided here, once
    with staged_output(cfg, parallel, log) as stage:
        metrics = _run(cfg, log, also_score, parallel, device, plan, stage)
    log(f"Saved the classifier, metrics.json and plots to {cfg.out_dir}/")
    parallel.close()
    return metrics


@dataclass(frozen=True)
class Run:
    """What every phase of a run shares: the options, where it computes and writes, its log and clock."""

    cfg: FinetuneConfig
    log: Callable[[str], None]
    parallel: distributed.Distributed
    device: torch.device
    plan: SpeedPlan
    out_dir: Path
    phases: Phases


@dataclass(frozen=True)
class Trained:
    """What the data, model and training phases leave for scoring and saving."""

    model: GPTModel
    classifier: nn.Module
    loaders: tuple[DataLoader, DataLoader, DataLoader]
    info: ClassifierInfo
    curves: dict[str, list[float]]  # train_losses, val_losses, train_accs, val_accs
    examples_seen: int


@dataclass(frozen=True)
class Scored:
    """What the scoring phases measured."""

    accuracies: dict[str, float]  # train_accuracy, validation_accuracy, test_accuracy
    test_predictions: list[int]
    test_rows: list[list[float]]  # every class's probability for each test message
    evaluation: dict  # evaluate_test's
    info: ClassifierInfo  # trained.info, with the threshold --target-fpr chose
    also: list[float] | None  # P(spam) of the texts also_score returned


def _run(
    cfg: FinetuneConfig,
    log: Callable[[str], None],
    also_score: Callable[[list[str]], list[str]] | None,
    parallel: distributed.Distributed,
    device: torch.device,
    plan: SpeedPlan,
    out_dir: Path,
) -> RunMetrics:
    """The recipe itself, phase by phase (each timed): splits, model, training, scoring, saving."""
    run = Run(cfg, log, parallel, device, plan, out_dir, Phases(device, log))
    with run.phases.timed("data"):
        cfg, data = _data(run)
    run = dataclasses.replace(run, cfg=cfg)  # with the data's number of classes
    trained = _train(run, data)
    return _save(run, trained, _score(run, trained, also_score))


def _train(run: Run, data: dict) -> Trained:
    """The phases model, cache_fill and training, on the splits data describes."""
    cfg = run.cfg
    with run.phases.timed("model"):
        model = build_classifier(cfg, run.log, **run.plan.model_options)
        loaders = make_loaders(run.out_dir / "data", model.cfg.context_length, cfg, run.plan.collate_fn)
        model.to(run.device)
        classifier = run.plan.classifier(model, cfg.position, cfg.pooling, run.log)  # what the loss calls
    with run.phases.timed("cache_fill"):
        run.plan.fill_cache(classifier, [loader.dataset for loader in loaders], run.log)
    train_loader, val_loader, _ = loaders
    train_set = train_loader.dataset
    padding = f"padded to {train_set.max_length} tokens" if cfg.context != "none" else "unpadded"
    with run.phases.timed("training"):
        run.log(f"Training on {run.device}: {len(train_set)} messages {padding}")
        # Seeded right before training, as in the book: the loader's shuffles draw from this state.
        torch.manual_seed(cfg.seed)
        optimizer = run.plan.optimizer(model, cfg.lr, cfg.weight_decay)
        train_losses, val_losses, train_accs, val_accs, examples_seen = train_classifier_simple(
            run.parallel.wrap(classifier, run.device),  # under torchrun: DistributedDataParallel
            run.parallel.shard(train_loader, cfg.seed),
            val_loader,
            optimizer,
            run.device,
            cfg.num_epochs,
            cfg.eval_freq,
            cfg.eval_iter,
            run.log,
            accumulation_steps=cfg.accumulation_steps,
            max_steps=cfg.max_steps,
        )
    labels = data["labels"]
    info = ClassifierInfo(
        max_length=train_set.max_length,
        pad_token_id=PAD_TOKEN_ID,
        labels=tuple(labels),
        # As the data file writes them, e.g. ham: classify --label-column reads either name.
        data_labels=tuple(LABELS) if data["source"] == SMS_SOURCE else tuple(labels),
        options=asdict(cfg),
        data=data,
    )
    curves = dict(train_losses=train_losses, val_losses=val_losses, train_accs=train_accs, val_accs=val_accs)
    # Each process counted only its own share of every batch.
    return Trained(model, classifier, loaders, info, curves, examples_seen * run.parallel.world_size)


def _data(run: Run) -> tuple[FinetuneConfig, dict]:
    """The phase data: the splits written to out_dir/data; the options with the data's class count."""
    cfg = run.cfg
    data_file = Path(cfg.data_file) if cfg.data_file else download_sms_spam()
    data_dir = run.out_dir / "data"
    if run.parallel.is_main:
        split_seed = cfg.seed if cfg.data_seed is None else cfg.data_seed
        prepare_splits(
            data_file,
            data_dir,
            reading=cfg.reading,
            seed=split_seed,
            log=run.log,
            text_column=cfg.text_column,
            label_column=cfg.label_column,
            dedupe=cfg.dedupe,
            balance=cfg.balance,
        )
    run.parallel.barrier()
    data = read_split_info(data_dir)
    labels = data["labels"]
    if cfg.target_fpr is not None and len(labels) != 2:
        raise OptionError(
            f"--target-fpr {cfg.target_fpr:g} chooses a threshold between two classes, and "
            f"{data_file} has {len(labels)} ({', '.join(labels)}): leave --target-fpr out"
        )
    run.log(describe_data(data))
    return dataclasses.replace(cfg, num_classes=len(labels)), data  # the head has one output per class


def _score(run: Run, trained: Trained, also_score: Callable[[list[str]], list[str]] | None) -> Scored:
    """The scoring phases: each split's accuracy, the threshold, the ham set aside, the reworded copy.

    The passes beyond the loaders' (the messages set aside, a reworded copy) read texts through the
    inference plan's batches, with the training classifier: its prefix cache serves any message it
    holds, and forgets the new ones once scored.
    """
    cfg, phases, classifier, info = run.cfg, run.phases, trained.classifier, trained.info
    train_loader, val_loader, test_loader = trained.loaders
    accuracies = {}
    for split, loader in (("train", train_loader), ("validation", val_loader)):
        with phases.timed(f"score_{split}"), torch.inference_mode():
            batches = progress(loader, f"Scoring the {split} set")
            accuracies[f"{split}_accuracy"] = seam.calc_accuracy_loader(batches, classifier, run.device)
    with phases.timed("score_test"):
        # The test set is predicted once: its accuracy, predictions and probabilities all come from here.
        test_predictions, test_rows = loader_probabilities(
            classifier, test_loader, run.device, "Scoring the test set"
        )
        accuracies["test_accuracy"] = accuracy(test_predictions, test_loader.dataset.labels)
    batching = plan_inference(cfg.position, cfg.pooling, cfg.causal, run.device, exact=cfg.exact).batching
    data_dir = run.out_dir / "data"
    with run.plan.score_only(classifier):
        if cfg.target_fpr is not None:
            with phases.timed("threshold"):
                heldout = read_heldout(data_dir, "validation")
                threshold = choose_threshold(
                    cfg.target_fpr, classifier, val_loader, heldout, info, run.device, batching
                )
            info = dataclasses.replace(info, threshold=threshold)  # saved with the model
            run.log(describe_threshold(threshold, info.labels))
        # Only a classifier of two classes on data with a known share of spam has ham set aside to score.
        heldout_scores, skipped = ([], []), None
        if natural_applies(info) and cfg.score == "book":
            skipped = SKIPPED_BY_BOOK_SCORING
            phases.skip("score_set_aside", skipped)
        elif natural_applies(info):
            with phases.timed("score_set_aside"):
                heldout_scores = score_set_aside(classifier, read_heldout(data_dir, "test"), info, batching)
        evaluation = evaluate_test(trained.loaders, test_rows, info, *heldout_scores, skipped=skipped)
        for line in summary_lines(evaluation):
            run.log(line)
        also = None
        if also_score is not None:
            with phases.timed("score_reworded"):
                texts = also_score(test_loader.dataset.data["Text"].tolist())
                also = positive_probabilities(
                    texts, classifier, info, batching, description="Scoring the reworded test set"
                )
    for split, value in accuracies.items():
        run.log(f"{split.replace('_', ' ').capitalize()}: {value * 100:.2f}%")
    return Scored(accuracies, test_predictions, test_rows, evaluation, info, also)


def _save(run: Run, trained: Trained, scored: Scored) -> RunMetrics:
    """The phase save: the classifier and plots; then metrics.json and report.md, every phase timed."""
    cfg, model, info, phases = run.cfg, trained.model, scored.info, run.phases
    labels, test_rows = list(info.labels), scored.test_rows
    trainable_parameters = count_parameters(model, trainable_only=True)
    total_parameters = count_parameters(model)
    test_labels = trained.loaders[2].dataset.labels
    metrics = RunMetrics(
        **scored.accuracies,
        **trained.curves,
        examples_seen=trained.examples_seen,
        # The cache fill counts as training, as it did before the phases were timed apart.
        training_seconds=phases.seconds["cache_fill"] + phases.seconds["training"],
        device=str(run.device),
        trainable_parameters=trainable_parameters,
        total_parameters=total_parameters,
        test_predictions=scored.test_predictions,
        test_class_probabilities=test_rows,
        test_labels=test_labels,
        labels=labels,
        evaluation=scored.evaluation,
        data=info.data,
        threshold=info.threshold,
        config=asdict(cfg),
        # P(spam) of every test message, for calibration
        test_probabilities=[row[info.positive] for row in test_rows] if len(labels) == 2 else None,
        also_probabilities=scored.also,
    )
    with phases.timed("save"):
        if cfg.trainable == "lora":
            merge_lora(model)  # saved as a plain GPT-2 classifier: W + the update, same outputs
        if run.parallel.is_main:
            save_classifier(model, run.out_dir, info.to_config())
            _write_plots(metrics, cfg.num_epochs, run.out_dir, run.log)
    metrics.phase_seconds = dict(phases.seconds)
    metrics.skipped_phases = dict(phases.skipped)
    if run.parallel.is_main:
        with atomic_path(run.out_dir / "metrics.json") as tmp:
            tmp.write_text(json.dumps(metrics.to_dict(), indent=2) + "\n")
        with atomic_path(run.out_dir / REPORT_FILE) as tmp:
            data = describe_data(info.data)
            heading = f"# The classifier in {cfg.out_dir} on its test set\n\nData: {data}\n\n"
            tmp.write_text(heading + evaluation_markdown(scored.evaluation, "Test set"))
    return metrics


def _write_plots(metrics: RunMetrics, num_epochs: int, out_dir: Path, log: Callable[[str], None]) -> None:
    try:
        from .evaluation.plots import plot_confusion_matrix, plot_precision_recall, plot_values
    except ImportError:
        log("matplotlib is not installed: no plots (pip install 'gpt-from-scratch[plots]')")
        return
    seen = metrics.examples_seen
    plot_values(num_epochs, seen, metrics.train_losses, metrics.val_losses, "loss", out_dir / "loss-plot.png")
    plot_values(
        num_epochs, seen, metrics.train_accs, metrics.val_accs, "accuracy", out_dir / "accuracy-plot.png"
    )
    evaluation = metrics.evaluation
    report = evaluation["class_report"]
    plot_confusion_matrix(report["confusion"], report["names"], out_dir / "confusion-matrix.png")
    if evaluation.get("precision_recall_curve"):
        chosen, positive = metrics.threshold, metrics.labels[positive_class(metrics.labels)]
        label = (
            f"P({positive}) > 0.5, the most probable class"
            if chosen is None
            else f"P({positive}) >= {chosen['value']:.3g}, chosen by --target-fpr"
        )
        used = evaluation["natural"]["threshold"]  # the one its precision and recall were measured at
        plot_precision_recall(
            evaluation["precision_recall_curve"], out_dir / "precision-recall.png", used, label
        )
