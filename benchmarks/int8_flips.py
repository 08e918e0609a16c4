"""What --quantize int8 changes on a finetuned classifier: its test split scored in fp32 and in int8.

    python benchmarks/int8_flips.py MODEL_DIR

Prints the share of test predictions whose label int8 changes, the largest change of P(spam), and
both accuracies. The test split is the one finetune saved beside the model (MODEL_DIR/data/test.csv).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from gpt_from_scratch.data.splits import read_split_csv
from gpt_from_scratch.fast import load_for_inference
from gpt_from_scratch.predict import classify_texts


def main(model_dir: Path) -> None:
    test = read_split_csv(model_dir / "data" / "test.csv")
    texts = test["Text"].tolist()
    spam, labels = {}, {}
    for name, options in {"fp32": {}, "int8": {"quantize": "int8"}}.items():
        classifier, info, plan = load_for_inference(model_dir, torch.device("cpu"), **options)
        predictions = classify_texts(texts, classifier, info, truncate=True, batching=plan.batching)
        spam[name] = torch.tensor([p.spam_probability for p in predictions])
        labels[name] = [p.label for p in predictions]
    truth = [info.labels[int(label)] for label in test["Label"]]
    flips = sum(a != b for a, b in zip(labels["fp32"], labels["int8"], strict=True))
    print(f"{model_dir}: {len(texts)} test messages, {flips} flipped ({flips / len(texts):.2%})")
    print(f"largest change of P(spam): {(spam['int8'] - spam['fp32']).abs().max():.4f}")
    for name, predicted in labels.items():
        right = sum(a == b for a, b in zip(predicted, truth, strict=True))
        print(f"{name} test accuracy: {right / len(truth):.2%}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
