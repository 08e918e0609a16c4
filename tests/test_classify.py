"""Encoding a message for the classifier exactly as its training messages were encoded."""

from __future__ import annotations

import pytest

from gpt_from_scratch.classify import encode_for_classifier
from gpt_from_scratch.errors import DataError
from gpt_from_scratch.tokenizer import PAD_TOKEN_ID


def test_a_message_is_padded_to_the_training_length(tokenizer):
    ids = tokenizer.encode("Call now to win")
    encoded = encode_for_classifier("Call now to win", tokenizer, max_length=10)
    assert encoded == ids + [PAD_TOKEN_ID] * (10 - len(ids))


def test_a_classifier_trained_without_padding_reads_the_message_as_it_is(tokenizer):
    encoded = encode_for_classifier("Call now to win", tokenizer, max_length=10, pad=False)
    assert encoded == tokenizer.encode("Call now to win")


def test_too_long_is_refused_unless_truncated(tokenizer):
    text = "win " * 20
    with pytest.raises(DataError, match="--truncate"):
        encode_for_classifier(text, tokenizer, max_length=5)
    assert encode_for_classifier(text, tokenizer, max_length=5, truncate=True) == tokenizer.encode(text)[:5]


def test_an_empty_message_is_refused(tokenizer):
    with pytest.raises(DataError, match="empty"):
        encode_for_classifier(" \n", tokenizer, max_length=5)
