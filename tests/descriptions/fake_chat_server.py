"""A real local OpenAI-compatible chat completions server (127.0.0.1, any free port) with scripted replies."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY_SENTINEL = "sk-test-SENTINEL-7f3a9c1e5b2d-do-not-leak"


@dataclass
class Reply:
    """One scripted HTTP reply: status, JSON body (or raw text), optional delay and headers."""

    status: int = 200
    body: object = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def chat_reply(content: str) -> Reply:
    """A 200 chat completion whose assistant message is `content`."""
    return Reply(
        body={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": "test-model",
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
            ],
        }
    )


def error_reply(status: int, message: str = "error", **kwargs) -> Reply:
    """An OpenAI-style error body with `status`."""
    return Reply(status=status, body={"error": {"message": message, "type": "test"}}, **kwargs)


class FakeChatServer:
    """Serves POST /v1/chat/completions from a script (the last reply repeats) and records each request."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.requests: list[dict] = []
        self.authorization: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    index = len(server.requests)
                    server.requests.append({"path": self.path, "json": payload})
                    server.authorization.append(self.headers.get("Authorization", ""))
                    reply = server.script[min(index, len(server.script) - 1)]
                if self.path != "/v1/chat/completions":
                    reply = error_reply(404, f"no route {self.path}")
                time.sleep(reply.delay_s)
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False  # do not wait for handlers still sleeping (timeout tests)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def calls(self) -> int:
        """How many requests the server has received."""
        return len(self.requests)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
