"""The book's own chapter 6 recipe, run with the book's package (PyPI llms-from-scratch): the baseline.

Its code, in the order of the book's ch06 notebook: balance, split 70/10/20 with seed 123, pad to the
longest training message, GPT-2 small, the last block and final norm trainable, AdamW (5e-5, 0.1),
5 epochs of batch 8 with an evaluation every 50 steps, then the three final accuracies. The one
change: random weights, as every recipe benchmark here, since no pretrained GPT-2 is offline.
The package pins old torch and needs TensorFlow for its weight download, neither of which this
recipe uses: install it without them, `pip install --no-deps llms-from-scratch==1.0.19`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader

from gpt_from_scratch.predict.tokenizer import get_tokenizer

GPT2_SMALL = {
    "vocab_size": 50257,
    "context_length": 1024,
    "drop_rate": 0.0,
    "qkv_bias": True,
    "emb_dim": 768,
    "n_layers": 12,
    "n_heads": 12,
}


def book_recipe(data_file: Path, work_dir: Path, num_epochs: int = 5) -> dict[str, float]:
    """Finetune as the book's ch06 does, with its package's functions; the final accuracies."""
    from llms_from_scratch.ch04 import GPTModel
    from llms_from_scratch.ch06 import (
        SpamDataset,
        calc_accuracy_loader,
        create_balanced_dataset,
        random_split,
        train_classifier_simple,
    )

    df = pd.read_csv(data_file, sep="\t", header=None, names=["Label", "Text"])
    balanced_df = create_balanced_dataset(df)
    balanced_df["Label"] = balanced_df["Label"].map({"ham": 0, "spam": 1})
    splits = dict(zip(("train", "validation", "test"), random_split(balanced_df, 0.7, 0.1), strict=True))
    for name, split in splits.items():
        split.to_csv(work_dir / f"{name}.csv", index=None)

    tokenizer = get_tokenizer()  # tiktoken's "gpt2" encoding, from the BPE files shipped here (offline)
    train_dataset = SpamDataset(work_dir / "train.csv", max_length=None, tokenizer=tokenizer)
    longest = train_dataset.max_length
    val_dataset = SpamDataset(work_dir / "validation.csv", max_length=longest, tokenizer=tokenizer)
    test_dataset = SpamDataset(work_dir / "test.csv", max_length=longest, tokenizer=tokenizer)
    torch.manual_seed(123)
    train_loader = DataLoader(train_dataset, batch_size=8, shuffle=True, num_workers=0, drop_last=True)
    val_loader = DataLoader(val_dataset, batch_size=8, num_workers=0, drop_last=False)
    test_loader = DataLoader(test_dataset, batch_size=8, num_workers=0, drop_last=False)

    model = GPTModel(GPT2_SMALL)
    model.eval()
    for param in model.parameters():
        param.requires_grad = False
    torch.manual_seed(123)
    model.out_head = torch.nn.Linear(in_features=GPT2_SMALL["emb_dim"], out_features=2)
    for param in model.trf_blocks[-1].parameters():
        param.requires_grad = True
    for param in model.final_norm.parameters():
        param.requires_grad = True

    device = torch.device("cpu")
    model.to(device)
    torch.manual_seed(123)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.1)
    train_classifier_simple(
        model, train_loader, val_loader, optimizer, device, num_epochs=num_epochs, eval_freq=50, eval_iter=5
    )
    return {
        "train_accuracy": calc_accuracy_loader(train_loader, model, device),
        "validation_accuracy": calc_accuracy_loader(val_loader, model, device),
        "test_accuracy": calc_accuracy_loader(test_loader, model, device),
    }
