"""A loopback HTTP server (127.0.0.1 only) serving weight files, with a log of every request.

Tests point $SER_WEIGHTS_MIRROR at it; the log tells which files were asked for, and when.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import threading
import time
from pathlib import Path
from typing import Iterator


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        self.server.requests.append((time.time(), self.path))

    def end_headers(self) -> None:
        for name, value in self.server.headers.get(self.path.lstrip("/"), {}).items():
            self.send_header(name, value)
        super().end_headers()


@contextlib.contextmanager
def serve(folder: Path, headers: dict[str, dict[str, str]] | None = None
          ) -> Iterator[http.server.ThreadingHTTPServer]:
    """Serve `folder` on 127.0.0.1 at a free port; `.requests` lists (time, path) per request
    and `.url` is the base URL. `headers`: extra response headers per served path (as the model
    hub sends a large file's SHA-256)."""
    handler = functools.partial(_Handler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests = []
    server.headers = headers or {}
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
