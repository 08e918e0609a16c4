"""GPT-2's byte-pair tokenizer (tiktoken's 'gpt2' encoding), with <|endoftext|> as the pad token."""

from __future__ import annotations

import os

import tiktoken

from .errors import DownloadError

PAD_TOKEN_ID = 50256  # <|endoftext|>, GPT-2's only special token, doubles as padding


def get_tokenizer() -> tiktoken.Encoding:
    """Return tiktoken's GPT-2 encoding; tiktoken downloads its two BPE files once and caches them."""
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as err:  # tiktoken raises requests' or its own errors, depending on version
        cache = os.environ.get("TIKTOKEN_CACHE_DIR", "tiktoken's default cache folder")
        raise DownloadError(
            "could not load GPT-2's tokenizer files (vocab.bpe, encoder.json) from tiktoken's "
            f"cache ({cache}) or download them: {err}. Without internet, set TIKTOKEN_CACHE_DIR to "
            "a folder holding those files laid out as tiktoken's cache."
        ) from err
