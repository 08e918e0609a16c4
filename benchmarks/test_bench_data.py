"""Tokenisation and collation: from the training CSV to padded batches of token ids."""

from __future__ import annotations

import pytest
from torch.utils.data import DataLoader

from conftest import ROUNDS, record
from gpt_from_scratch.data import SpamDataset, prepare_splits
from gpt_from_scratch.predict.tokenizer import PAD_TOKEN_ID, get_tokenizer


@pytest.fixture(scope="module")
def train_csv(sms_file, tmp_path_factory):
    return prepare_splits(sms_file, tmp_path_factory.mktemp("splits"))["train"]


def test_tokenise_and_collate(benchmark, train_csv):
    tokenizer = get_tokenizer()

    def run():
        dataset = SpamDataset(train_csv, tokenizer, None, PAD_TOKEN_ID)
        batches = list(DataLoader(dataset, batch_size=8))
        return dataset, batches

    dataset, _ = benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    record(benchmark, examples=len(dataset), tokens=len(dataset) * dataset.max_length)
    benchmark.extra_info["padded_to"] = dataset.max_length
