"""Fetch a file safely: stream it to a temporary file and move it into place only once it is complete."""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .errors import DownloadError
from .files import CHUNK_SIZE, atomic_path


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
