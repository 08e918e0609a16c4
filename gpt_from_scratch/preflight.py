"""Before any work: the two inputs a run may download (the data, GPT-2's weights), both checked at once.

Offline, a run would otherwise stop at the first missing input, then at the next one on the next
try. check_inputs downloads nothing: an input counts as there if it was given, is in its cache, or
its server answers, and every missing one is reported together, each with how to supply it.
"""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from huggingface_hub import constants as hub_constants
from huggingface_hub import try_to_load_from_cache

from . import weights
from .config import FinetuneConfig
from .errors import DownloadError
from .sms_spam import SMS_SPAM_URL, sms_spam_cache_path
from .tables import is_table_file
from .weights import DEFAULT_MODEL_SIZE, HF_REPOS, WEIGHTS_FILE


def check_inputs(cfg: FinetuneConfig) -> None:
    """Raise one DownloadError naming every input this run can neither find nor download.

    Nothing is downloaded here: an input counts as there if it was given, is in its cache, or its
    server answers. Offline, all the missing inputs are reported at once, each with how to supply it.
    """
    missing = [problem for problem in (_data_problem(cfg), _weights_problem(cfg)) if problem]
    if len(missing) == 1:
        raise DownloadError(f"cannot start: missing {missing[0]}")
    if missing:
        numbered = "; ".join(f"({number}) {problem}" for number, problem in enumerate(missing, start=1))
        raise DownloadError(f"cannot start: {len(missing)} inputs are missing: {numbered}")


def _data_problem(cfg: FinetuneConfig) -> str | None:
    hint = "pass --data-file PATH to the SMSSpamCollection file (from the UCI zip)"
    if cfg.data_file:
        if Path(cfg.data_file).is_file():
            return None
        if is_table_file(cfg.data_file):
            return f"your data (no file at --data-file {cfg.data_file}): check the path"
        return f"the SMS Spam Collection (no file at --data-file {cfg.data_file}): {hint}"
    cached = sms_spam_cache_path()
    if cached.is_file() or _reachable(SMS_SPAM_URL):
        return None
    why = f"not in {cached.parent}, and {_host(SMS_SPAM_URL)} cannot be reached"
    return f"the SMS Spam Collection ({why}): {hint}"


def _weights_problem(cfg: FinetuneConfig) -> str | None:
    if cfg.weights != "pretrained":
        return None
    if cfg.weights_dir:
        given = Path(cfg.weights_dir)
        if (given / WEIGHTS_FILE if given.is_dir() else given).is_file():
            return None
        return (
            f"GPT-2's weights (no {WEIGHTS_FILE} at --weights-dir {cfg.weights_dir}): pass a folder with it"
        )
    size = cfg.model_size or DEFAULT_MODEL_SIZE
    if size not in HF_REPOS:
        return f"the {size} weights (none are published): pass --weights-dir DIR, or --weights random"
    repo = HF_REPOS[size]
    if isinstance(try_to_load_from_cache(repo, WEIGHTS_FILE), str):
        return None
    if weights._offline():
        why = "HF_HUB_OFFLINE is set"
    elif _reachable(hub_constants.ENDPOINT):
        return None
    else:
        why = f"{_host(hub_constants.ENDPOINT)} cannot be reached"
    return (
        f"the {size} weights ({WEIGHTS_FILE} of {repo}; not in the Hugging Face cache, and {why}): "
        f"pass --weights-dir DIR, a folder holding {WEIGHTS_FILE} from https://huggingface.co/{repo}"
    )


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _reachable(url: str, timeout: float = 3) -> bool:
    """Whether url's server accepts a connection (behind a proxy: assumed, the proxy is what is reached)."""
    parts = urlsplit(url)
    if urllib.request.getproxies().get(parts.scheme):
        return True
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True
