"""A stand-in for finetune in the experiment runner's tests: finetune's contract, answered at once.

It returns what finetune returns for a three-message test set, without training or writing
anything: the test predictions are chosen by the test, and the texts the runner asks it to
also_score (the reworded test messages) are scored by a keyword rule, so a test can tell that the
runner handed over the rewording and recorded what came back.
"""

from __future__ import annotations

from collections.abc import Callable

from gpt_from_scratch.config import FinetuneConfig
from gpt_from_scratch.evaluation import RunMetrics, evaluate

TEST_TEXTS = ["WINNER claim your free prize now", "see you at lunch", "call to claim your reward"]
TEST_LABELS = [1, 0, 1]
SEEN_IN_TRAINING = [True, False, False]  # the first test message is also a training message
HELDOUT_HAM_SPAM_PROBABILITIES = [0.1, 0.6, 0.2, 0.3]  # the ham balancing set aside: one flagged
SPAM_SHARE = 0.134


def keyword_spam_probability(text: str) -> float:
    """The stand-in's P(spam) of an also_score text: high if it still says "claim"."""
    return 0.9 if "claim" in text.lower() else 0.2


def fake_finetune(
    predictions: Callable[[FinetuneConfig], list[int]],
    seconds: Callable[[FinetuneConfig], float] = lambda cfg: 0.1,
    calls: list[FinetuneConfig] | None = None,
) -> Callable[..., RunMetrics]:
    """A finetune whose test predictions (and training seconds) are predictions(cfg) (seconds(cfg))."""

    def run(
        cfg: FinetuneConfig,
        log: Callable[[str], None] = print,
        also_score: Callable[[list[str]], list[str]] | None = None,
    ) -> RunMetrics:
        if calls is not None:
            calls.append(cfg)
        predicted = predictions(cfg)
        probabilities = [0.8 if p else 0.3 for p in predicted]
        also = [keyword_spam_probability(t) for t in also_score(TEST_TEXTS)] if also_score else None
        return RunMetrics(
            train_accuracy=0.9,
            validation_accuracy=0.8,
            test_accuracy=sum(p == y for p, y in zip(predicted, TEST_LABELS, strict=True)) / 3,
            test_predictions=predicted,
            test_probabilities=probabilities,
            test_labels=TEST_LABELS,
            trainable_parameters=10,
            total_parameters=100,
            training_seconds=seconds(cfg),
            device="cpu",
            data={},
            evaluation=evaluate(
                TEST_LABELS,
                [[1 - p, p] for p in probabilities],
                ("not spam", "spam"),
                seen_exact=SEEN_IN_TRAINING,
                seen_normalised=SEEN_IN_TRAINING,
                heldout_labels=[0] * len(HELDOUT_HAM_SPAM_PROBABILITIES),
                heldout_probabilities=[[1 - p, p] for p in HELDOUT_HAM_SPAM_PROBABILITIES],
                positive_share=SPAM_SHARE,
            ),
            also_probabilities=also,
        )

    return run
