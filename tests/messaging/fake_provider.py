"""A tiny fake messaging provider on 127.0.0.1 that counts deliveries per idempotency key.

``POST /messages`` with JSON ``{"key": ..., "to": ..., "body": ...}`` answers
``200 {"id": "p-<n>"}``.  With ``dedupe=True`` a second message with the same
key is refused with ``409`` (as SMSAPI does with ``idx`` + ``check_idx``) and
not counted.  ``delay`` slows every call (so a killed worker is often caught
mid-call); ``fail_ratio`` answers some calls with ``503``.  Used by the fault
test and the messaging benchmark.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeProvider:
    """Start with :meth:`start`; read :attr:`deliveries` (key -> count) afterwards."""

    def __init__(
        self,
        *,
        dedupe: bool = True,
        delay: tuple[float, float] = (0.0, 0.0),
        fail_ratio: float = 0.0,
    ) -> None:
        self.dedupe = dedupe
        self.delay = delay
        self.fail_ratio = fail_ratio
        self.deliveries: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.failed = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # killed clients reset
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _accept(self, key: str) -> tuple[int, dict[str, Any]]:
        low, high = self.delay
        if high:
            time.sleep(random.uniform(low, high))
        with self.lock:
            if self.fail_ratio and random.random() < self.fail_ratio:
                self.failed += 1
                return 503, {"error": "try later"}
            if self.dedupe and self.deliveries[key]:
                self.refused[key] += 1
                return 409, {"error": "duplicate idempotency key"}
            self.deliveries[key] += 1
            return 200, {"id": f"p-{sum(self.deliveries.values())}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                status, answer = provider._accept(str(payload.get("key", "")))
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        return Handler
