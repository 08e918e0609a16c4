"""GPT-2's byte-pair tokenizer, built by tiktoken from the two BPE files that ship inside this package.

The files are OpenAI's GPT-2 `vocab.bpe` and `encoder.json` (MIT licence: gpt2_bpe/LICENSE), the ones
tiktoken downloads for its 'gpt2' encoding. Built from them, the tokenizer needs no network, no cache
folder and no environment variable, and equals tiktoken.get_encoding("gpt2") token for token.
"""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from unittest import mock

import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks

PAD_TOKEN_ID = 50256  # <|endoftext|>, GPT-2's only special token, doubles as padding
BPE_FOLDER = "gpt2_bpe"  # inside the package
# GPT-2's pre-tokenizing pattern as tiktoken writes it (tiktoken_ext/openai_public.py): the same splits
# as the original r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""", faster.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


@cache
def get_tokenizer() -> tiktoken.Encoding:
    """GPT-2's encoding (tiktoken's 'gpt2'), read from the package's own BPE files: nothing is downloaded."""
    folder = resources.files(__package__) / BPE_FOLDER
    with (
        resources.as_file(folder / "vocab.bpe") as vocab,
        resources.as_file(folder / "encoder.json") as encoder,
        # An empty cache folder turns tiktoken's caching off: it would otherwise copy the files into it.
        mock.patch.dict(os.environ, {"TIKTOKEN_CACHE_DIR": ""}),
    ):
        ranks = data_gym_to_mergeable_bpe_ranks(str(vocab), str(encoder))  # checks the two files agree
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,  # token bytes -> id, the merges' order
        special_tokens={"<|endoftext|>": PAD_TOKEN_ID},
        explicit_n_vocab=PAD_TOKEN_ID + 1,
    )
