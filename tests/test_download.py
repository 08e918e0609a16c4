"""Downloads against a local HTTP server on 127.0.0.1: caching, checksums, corrupt and partial bodies."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from gpt_from_scratch.data.sms_spam import download_sms_spam
from gpt_from_scratch.download import default_cache_dir, download_file
from gpt_from_scratch.errors import DownloadError
from gpt_from_scratch.safe_files import sha256_of

# From tests/data/README.md: the sha256 of the SMSSpamCollection file inside the UCI zip.
SMS_SHA256 = "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    # A proxy from the environment would receive our loopback and .invalid requests instead.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    """A loopback HTTP server: set server.routes[path] = (body, announced_length); unknown paths 404."""
    routes: dict[str, tuple[bytes, int | None]] = {}
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            if self.path not in routes:
                self.send_error(404)
                return
            body, length = routes[self.path]
            self.send_response(200)
            if length is not None:
                self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(body)  # HTTP/1.0: the connection closes after this, even if body is short

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()

    def serve(path: str, body: bytes, length: int | None = -1) -> str:
        routes[path] = (body, len(body) if length == -1 else length)
        return f"http://127.0.0.1:{httpd.server_port}{path}"

    yield SimpleNamespace(
        serve=serve, requests=requests, url=lambda p: f"http://127.0.0.1:{httpd.server_port}{p}"
    )
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def make_zip(sms_bytes: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("SMSSpamCollection", sms_bytes)
        archive.writestr("readme", "SMS Spam Collection v.1\n")
    return buffer.getvalue()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def good_zip(sms_file) -> bytes:
    return make_zip(sms_file.read_bytes())


# --- download_sms_spam ------------------------------------------------------------------------------


def test_good_zip_is_cached_verified_and_not_fetched_again(server, good_zip, tmp_path):
    url = server.serve("/sms.zip", good_zip)
    path = download_sms_spam(tmp_path, url=url)
    assert path == tmp_path / "sms_spam_collection" / "SMSSpamCollection"
    assert sha256_of(path) == SMS_SHA256
    assert files_under(tmp_path) == [path]  # the zip and temp files are gone
    assert len(server.requests) == 1
    assert download_sms_spam(tmp_path, url=url) == path
    assert len(server.requests) == 1


def test_altered_file_is_fetched_once_more_then_refused(server, sms_file, tmp_path):
    original = sms_file.read_bytes()
    altered = original.replace(b"Free entry", b"Free ENTRY", 1)
    assert altered != original
    url = server.serve("/sms.zip", make_zip(altered))
    with pytest.raises(DownloadError, match="sha256") as caught:
        download_sms_spam(tmp_path, url=url)
    assert "--data-file" in str(caught.value)
    assert len(server.requests) == 2
    assert files_under(tmp_path) == []


def test_body_that_is_not_a_zip_is_refused(server, tmp_path):
    url = server.serve("/sms.zip", b"<html>Service temporarily unavailable</html>")
    with pytest.raises(DownloadError, match="zip"):
        download_sms_spam(tmp_path, url=url)
    assert len(server.requests) == 2
    assert files_under(tmp_path) == []


def test_partial_body_is_refused_and_discarded(server, good_zip, tmp_path):
    url = server.serve("/sms.zip", good_zip[:1000], length=len(good_zip))
    with pytest.raises(DownloadError, match="--data-file") as caught:
        download_sms_spam(tmp_path, url=url)
    assert "partial" in str(caught.value)
    assert len(server.requests) == 1  # a network failure is not retried
    assert files_under(tmp_path) == []


def test_cached_file_with_wrong_checksum_is_replaced(server, good_zip, tmp_path):
    cached = tmp_path / "sms_spam_collection" / "SMSSpamCollection"
    cached.parent.mkdir()
    cached.write_text("ham\tthis copy was edited\n")
    url = server.serve("/sms.zip", good_zip)
    assert download_sms_spam(tmp_path, url=url) == cached
    assert sha256_of(cached) == SMS_SHA256
    assert len(server.requests) == 1


def test_unresolvable_host_fails_fast_with_instructions(tmp_path):
    url = "http://nonexistent.invalid/x.zip"
    start = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        download_sms_spam(tmp_path, url=url)
    assert time.monotonic() - start < 10
    message = str(caught.value)
    assert "SMS Spam Collection" in message
    assert url in message
    assert "--data-file" in message
    assert files_under(tmp_path) == []


def test_http_404_is_a_download_error(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download_sms_spam(tmp_path, url=server.url("/missing.zip"))
    assert len(server.requests) == 1


# --- download_file, sha256_of, default_cache_dir ----------------------------------------------------


def test_download_file_without_content_length(server, tmp_path):
    url = server.serve("/a.bin", b"x" * 100_000, length=None)
    dest = download_file(url, tmp_path / "sub" / "a.bin", description="test file")
    assert dest.read_bytes() == b"x" * 100_000


def test_failed_download_keeps_the_previous_file(server, tmp_path):
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"old")
    url = server.serve("/a.bin", b"new but cut", length=1000)
    with pytest.raises(DownloadError, match="test file"):
        download_file(url, dest, description="test file")
    assert dest.read_bytes() == b"old"
    assert files_under(tmp_path) == [dest]


def test_sha256_of_matches_the_standard_test_vector(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")  # FIPS 180-2's example message
    assert sha256_of(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_default_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("GPT_FROM_SCRATCH_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("GPT_FROM_SCRATCH_CACHE")
    assert default_cache_dir() == tmp_path / "xdg" / "gpt-from-scratch"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "gpt-from-scratch"
