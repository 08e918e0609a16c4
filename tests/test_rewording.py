"""The reworded test set: spammers' edits applied to the test messages, the same every time."""

from __future__ import annotations

import random

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpt_from_scratch.data import prepare_splits
from gpt_from_scratch.experiments.rewording import EDITS, LOOKALIKES, REWORD_RATE, reword, reword_all

words = st.text(alphabet=st.characters(categories=["L", "N", "P"]), min_size=1, max_size=12)


@given(words, st.integers(0, 2**32))
def test_a_lookalike_replaces_one_letter_by_its_digit(word, seed):
    edited = EDITS["lookalike"](word, random.Random(seed))
    changed = [(a, b) for a, b in zip(word, edited, strict=True)]
    changed = [(a, b) for a, b in changed if a != b]
    can_change = any(char.lower() in LOOKALIKES for char in word)
    assert len(changed) == (1 if can_change else 0)
    assert all(LOOKALIKES[a.lower()] == b for a, b in changed)


@given(words, st.integers(0, 2**32))
def test_a_swap_keeps_the_letters_and_the_first_and_last_in_place(word, seed):
    edited = EDITS["swap"](word, random.Random(seed))
    assert sorted(edited) == sorted(word)
    assert edited[:1] == word[:1] and edited[-1:] == word[-1:]


@given(words, st.integers(0, 2**32))
def test_a_dot_only_adds_one_dot_between_two_letters(word, seed):
    edited = EDITS["dot"](word, random.Random(seed))
    if edited != word:
        assert len(edited) == len(word) + 1
        i = next(i for i, (a, b) in enumerate(zip(word, edited, strict=False)) if a != b)
        assert edited[i] == "." and edited[:i] + edited[i + 1 :] == word
        assert edited[i - 1].isalpha() and edited[i + 1].isalpha()


def test_short_words_and_the_word_count_never_change():
    text = "Ok lar... Joking wif u oni... WINNER!! Claim your free prize now"
    reworded = reword(text, random.Random(0), rate=1.0)
    assert len(reworded.split(" ")) == len(text.split(" "))
    for before, after in zip(text.split(" "), reworded.split(" "), strict=True):
        if sum(char.isalpha() for char in before) < 4:
            assert after == before


def test_the_same_seed_gives_the_same_messages_and_another_seed_others():
    texts = ["Congratulations you have won a guaranteed cash prize, call now"] * 5
    assert reword_all(texts, seed=1) == reword_all(texts, seed=1)
    assert reword_all(texts, seed=1) != reword_all(texts, seed=2)
    assert reword_all(texts, rate=0.0) == texts


def test_a_rate_that_is_not_a_probability_is_refused():
    with pytest.raises(ValueError, match="from 0 to 1"):
        reword_all(["hello"], rate=25)


def test_about_a_quarter_of_the_long_words_of_the_test_split_are_edited(sms_file, tmp_path):
    paths = prepare_splits(sms_file, tmp_path, reading="book", seed=123)
    texts = pd.read_csv(paths["test"], dtype={"Text": str}, keep_default_na=False)["Text"].tolist()
    reworded = reword_all(texts)
    pairs = [
        (before, after)
        for text, new in zip(texts, reworded, strict=True)
        for before, after in zip(text.split(" "), new.split(" "), strict=True)
        if sum(char.isalpha() for char in before) >= 4
    ]
    edited = sum(before != after for before, after in pairs) / len(pairs)
    # Each long word is drawn with probability 0.25; a few edits find nothing to change
    # (a swap of two equal letters, a lookalike in a word without a, e, i, o, s or t).
    assert REWORD_RATE - 0.05 < edited <= REWORD_RATE + 0.03
    assert sum(a != b for a, b in zip(texts, reworded, strict=True)) > 0.5 * len(texts)
