"""A small HTTP file server for download tests: 127.0.0.1 only, HTTP Range, injectable connection cuts.

Standard library only. Files live in memory; `cut_after` makes the next response(s) for a
file announce the full length but drop the connection after some bytes, like a flaky host.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"bytes=(\d+)-$")


@dataclass
class _Hosted:
    data: bytes
    cuts: list[int] = field(default_factory=list)  # byte counts after which the next responses stop


class RangeHTTPServer:
    """Serves registered byte strings at `/<name>`; records the Range header of every GET."""

    def __init__(self, *, supports_range: bool = True, timeout_s: float = 10.0) -> None:
        self.files: dict[str, _Hosted] = {}
        self.statuses: dict[str, int] = {}
        """Names answered with an HTTP error status instead of a file (`refuse`)."""
        self.requests: list[tuple[str, str | None]] = []
        self.supports_range = supports_range
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class(timeout_s))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-http", daemon=True
        )

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>"""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, name: str, data: bytes) -> str:
        """Host `data` at /<name>; returns its URL."""
        self.files[name] = _Hosted(data)
        return f"{self.base_url}/{name}"

    def refuse(self, name: str, status: int) -> None:
        """Answer every GET of /<name> with the error `status` (e.g. 401, as an API refusing a key)."""
        self.statuses[name] = status

    def cut_after(self, name: str, *byte_counts: int) -> None:
        """Make the next responses for `name` drop the connection after these many body bytes each."""
        self.files[name].cuts.extend(byte_counts)

    def start(self) -> None:
        """Start serving in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self, timeout_s: float) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = timeout_s

            def log_message(self, format: str, *args: object) -> None:
                """Keep test output quiet."""

            def do_GET(self) -> None:
                hosted = server.files.get(self.path.lstrip("/"))
                range_header = self.headers.get("Range")
                with server._lock:
                    server.requests.append((self.path, range_header))
                    cut = hosted.cuts.pop(0) if hosted and hosted.cuts else None
                if hosted is None:
                    self.send_error(server.statuses.get(self.path.lstrip("/"), 404))
                    return
                start = 0
                match = _RANGE.match(range_header or "")
                if match and server.supports_range:
                    start = int(match.group(1))
                    if start >= len(hosted.data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(hosted.data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(hosted.data) - 1}/{len(hosted.data)}"
                    )
                else:
                    self.send_response(200)
                body = hosted.data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes" if server.supports_range else "none")
                self.end_headers()
                self.wfile.write(body if cut is None else body[:cut])
                self.wfile.flush()
                if cut is not None:
                    self.close_connection = True

        return Handler
