"""`gpt-from-scratch serve`: the browser app over a finetuned classifier, a Gradio server on host:port.

The model is loaded once, before the server starts, and every request reads that one copy: inference
changes nothing in it, so requests need no lock. Gradio's queue runs up to CONCURRENT_REQUESTS of
them at a time and holds the rest in order; none is dropped.
"""

from __future__ import annotations

import importlib.util
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MissingExtraError, OptionError

if TYPE_CHECKING:
    import gradio as gr

    from .inference import ServedClassifier

CONCURRENT_REQUESTS = 4  # per kind of request (one message, many); more would only share the same cores
MAX_UPLOAD = "20mb"  # an upload of 10,000 messages (the most one request classifies) is far smaller


def serve(
    model_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 7860,
    device: str = "cpu",
    quantize: str | None = None,
) -> None:
    """Load the classifier in model_dir and serve the app at http://host:port until Ctrl+C."""
    if importlib.util.find_spec("gradio") is None:
        raise MissingExtraError('the app needs Gradio: pip install "gpt-from-scratch[app]"')
    from ..config import resolve_device
    from .inference import ServedClassifier

    # Refuses a folder with no model, and a --quantize that cannot run on the device.
    served = ServedClassifier.load(model_dir, resolve_device(device), quantize=quantize)
    page = start(served, host, port)
    # Ctrl+C and a service manager's stop (SIGTERM) both close the server, even in a process started
    # in the background, which inherits SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    print(f"Serving the classifier in {model_dir} at {page.local_url} (Ctrl+C stops it)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        page.close()
    print("Stopped.", flush=True)


def start(served: ServedClassifier, host: str = "127.0.0.1", port: int = 7860) -> gr.Blocks:
    """Start the app's server on host:port and return at once; the page's .close() stops it."""
    from .page import CSS, THEME, build_page  # app.page switches Gradio's analytics off first

    page = build_page(served).queue(default_concurrency_limit=CONCURRENT_REQUESTS)
    try:
        page.launch(
            server_name=host,
            server_port=port,
            share=False,  # a share link would tunnel through gradio.live: never
            prevent_thread_lock=True,
            quiet=True,
            max_file_size=MAX_UPLOAD,
            enable_monitoring=False,
            run_history=False,
            footer_links=["api"],
            theme=THEME,
            css=CSS,
        )
    except OSError as err:  # Gradio's "Cannot find empty port in range: 7860-7860", or the host's error
        where = f"cannot serve on {host}:{port}"
        if "empty port" in str(err):
            where += ": the port is taken (another program listens on it): stop that program, or pass"
            raise OptionError(f"{where} another --port") from err
        raise OptionError(f"{where}: {err}: check --host and --port") from err
    return page


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
