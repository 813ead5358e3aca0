"""Test doubles of the synthesis backends: a scripted in-process backend and a misbehaving loopback server.

`FaultServer` speaks just enough of the OpenAI chat-completions API to answer, and on request answers 429,
500, an unreadable body or a stall instead, so the HTTP backend's retries can be tested without a model.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edit_handbook.synth.backends import Reply


class ScriptedBackend:
    """Answers each request with `answer(request)` (a string, or a `Reply` for an error); records requests."""

    name = "scripted"
    model_name = "scripted"

    def __init__(self, answer: Callable) -> None:
        self.answer = answer
        self.requests = []

    def describe(self):
        return {"backend": self.name, "model": self.model_name}

    def generate(self, requests):
        self.requests += requests
        replies = [self.answer(request) for request in requests]
        return [reply if isinstance(reply, Reply) else Reply(text=reply) for reply in replies]


def request_text(request_or_body) -> str:
    """All text parts of a request's (or a chat body's) messages, joined."""
    messages = getattr(request_or_body, "messages", None) or request_or_body["messages"]
    return " ".join(part.get("text", "") for m in messages for part in m["content"] if isinstance(part, dict))


class FaultServer:
    """Loopback chat-completions server. `faults` is consumed one per request: "429", "500", "garbage"
    (an unreadable body), "stall" (no answer for `stall_s`), or "ok"; when it is empty every request is ok.
    `respond(body)` gives the answer text; `on_request(n)` runs before the n-th request (1-based) is answered.
    """

    def __init__(self, respond: Callable[[dict], str], faults=(), stall_s: float = 3.0, on_request=None) -> None:
        self.respond = respond
        self.faults = list(faults)
        self.stall_s = stall_s
        self.on_request = on_request
        self.count = 0
        self.headers_seen: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.count += 1
                    number = server.count
                    fault = server.faults.pop(0) if server.faults else "ok"
                    server.headers_seen.append(dict(self.headers))
                if server.on_request:
                    server.on_request(number)
                try:
                    if fault == "stall":
                        time.sleep(server.stall_s)
                        return
                    if fault in ("429", "500"):
                        self._send(
                            int(fault), b'{"error": "injected"}', {"Retry-After": "0"} if fault == "429" else {}
                        )
                    elif fault == "garbage":
                        self._send(200, b"{not json at all")
                    else:
                        answer = {
                            "choices": [
                                {"index": 0, "message": {"role": "assistant", "content": server.respond(body)}}
                            ]
                        }
                        self._send(200, json.dumps(answer).encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, status: int, payload: bytes, headers: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
