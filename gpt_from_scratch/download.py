"""Fetch files safely: a URL streamed to a temporary file that moves into place once complete, and
GPT-2's weights from the Hugging Face hub, checked against their sha256 before they are used.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import LocalEntryNotFoundError
from tqdm import tqdm

from .errors import DownloadError, WeightsError
from .safe_files import CHUNK_SIZE, atomic_path, sha256_of

HF_REPOS: dict[str, str] = {
    "gpt2-small": "openai-community/gpt2",
    "gpt2-medium": "openai-community/gpt2-medium",
    "gpt2-large": "openai-community/gpt2-large",
    "gpt2-xl": "openai-community/gpt2-xl",
}
WEIGHTS_FILE = "model.safetensors"
DEFAULT_MODEL_SIZE = "gpt2-small"  # the weights a run starts from when --model-size names none


def default_cache_dir() -> Path:
    """Return $GPT_FROM_SCRATCH_CACHE, or $XDG_CACHE_HOME/gpt-from-scratch, or ~/.cache/gpt-from-scratch."""
    if override := os.environ.get("GPT_FROM_SCRATCH_CACHE"):
        return Path(override).expanduser()
    xdg_cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg_cache).expanduser() if xdg_cache else Path.home() / ".cache"
    return base / "gpt-from-scratch"


def download_file(url: str, dest: Path, *, description: str, timeout: float = 30) -> Path:
    """Download url to dest with a progress bar; dest appears only once the whole body has arrived."""
    try:
        with (
            atomic_path(dest) as tmp,
            open(tmp, "wb") as out,
            urllib.request.urlopen(url, timeout=timeout) as response,
        ):
            expected = _content_length(response)
            received = _copy_with_progress(response, out, expected, description)
            if expected is not None and received != expected:
                raise DownloadError(
                    f"could not download {description} from {url}: the connection closed after "
                    f"{received:,} of {expected:,} bytes (partial download discarded); try again"
                )
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        raise DownloadError(f"could not download {description} from {url}: {_reason(err)}") from err
    return dest


def _content_length(response) -> int | None:
    value = response.headers.get("Content-Length", "")
    return int(value) if value.strip().isdigit() else None


def _copy_with_progress(response, out, total: int | None, description: str) -> int:
    received = 0
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=description) as bar:
        while chunk := response.read(CHUNK_SIZE):
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    return received


def _reason(err: Exception) -> str:
    # URLError wraps the real cause (e.g. "Name or service not known") in .reason.
    if isinstance(err, urllib.error.HTTPError):
        return f"the server answered HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    if isinstance(err, http.client.IncompleteRead):
        return f"the connection closed early ({err}); partial download discarded, try again"
    return str(err) or type(err).__name__


def check_size(model_size: str, choices: dict) -> None:
    """Raise WeightsError for a model size that is not one of choices."""
    if model_size not in choices:
        raise WeightsError(f"unknown model size {model_size!r}: choose one of {', '.join(choices)}")


# ---------------------------------------------------------------------------------------------
# GPT-2's weights from the Hugging Face hub
# ---------------------------------------------------------------------------------------------


def download_gpt2(model_size: str, cache_dir: str | Path | None = None) -> Path:
    """Return the local path of GPT-2's model.safetensors, downloading it into the HF cache if needed."""
    check_size(model_size, HF_REPOS)
    repo_id = HF_REPOS[model_size]
    what = f"the {model_size} weights ({WEIGHTS_FILE} from {repo_id})"
    try:
        path = Path(hf_hub_download(repo_id, WEIGHTS_FILE, cache_dir=cache_dir, local_files_only=True))
    except LocalEntryNotFoundError:
        path = _fetch(repo_id, cache_dir, what, force=False)
    if not _sha256_ok(path):
        # A damaged file: remove it from the cache and fetch it once more.
        blob = path.resolve()
        blob.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        path = _fetch(
            repo_id, cache_dir, f"{what} again (the cached copy failed its sha256 check)", force=True
        )
        if not _sha256_ok(path):
            raise DownloadError(
                f"{what} failed its sha256 check twice ({path.resolve()}). " + _local_hint(repo_id)
            )
    return path


def _fetch(repo_id: str, cache_dir: str | Path | None, what: str, force: bool) -> Path:
    # Without internet hf_hub_download retries for ~25 s before failing; find out at once instead.
    if offline():
        raise DownloadError(f"cannot download {what}: HF_HUB_OFFLINE is set. " + _local_hint(repo_id))
    endpoint = urlsplit(constants.ENDPOINT)
    host, port = endpoint.hostname, endpoint.port or (443 if endpoint.scheme == "https" else 80)
    # Behind a proxy the hub is reached through it, so a direct connection proves nothing.
    if not urllib.request.getproxies().get(endpoint.scheme):
        try:
            socket.create_connection((host, port), timeout=5).close()
        except OSError as err:
            raise DownloadError(
                f"cannot download {what}: {host} is unreachable ({err}). " + _local_hint(repo_id)
            ) from err
    try:
        return Path(hf_hub_download(repo_id, WEIGHTS_FILE, cache_dir=cache_dir, force_download=force))
    except Exception as err:  # the hub raises HTTP, network and OS errors alike
        raise DownloadError(f"downloading {what} failed: {err}. " + _local_hint(repo_id)) from err


def offline() -> bool:
    # Read at call time: huggingface_hub reads HF_HUB_OFFLINE only once, when it is imported.
    value = os.environ.get("HF_HUB_OFFLINE", "").upper()
    return constants.HF_HUB_OFFLINE or value in {"1", "ON", "YES", "TRUE"}


def _local_hint(repo_id: str) -> str:
    return (
        f"To use a local copy, pass --weights-dir DIR, a folder holding {WEIGHTS_FILE} from "
        f"https://huggingface.co/{repo_id} (e.g. downloaded on a machine with internet)."
    )


def _sha256_ok(path: Path) -> bool:
    """Check a cached file against its blob name, which the HF cache sets to the file's sha256."""
    blob = path.resolve()
    if not re.fullmatch(r"[0-9a-f]{64}", blob.name):
        return True  # not a content-addressed blob (e.g. a copy instead of a symlink): nothing to compare
    return sha256_of(blob) == blob.name
