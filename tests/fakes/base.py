"""A small threaded HTTP server that plays a messaging provider on 127.0.0.1.

Each fake records every request it receives and can be told to misbehave for
the next *n* requests (or until :meth:`FakeProvider.heal`):

* ``fail`` — answer with a 5xx (or any) status and the provider's error shape;
* ``timeout`` — stall for a while before answering, so the client times out;
  with ``accept=True`` the message is accepted *before* the stall, which is
  what a provider does when the connection drops after it took the message;
* ``rate_limit`` — answer 429 with ``Retry-After``.

Subclasses implement :meth:`FakeProvider.handle` (the happy path and the
provider's own validation), :meth:`FakeProvider.error_body` and
:meth:`FakeProvider.our_id` (which of our outbox ids an accepted message carries).

The same controls answer over HTTP under ``/_fake/`` for a fake run in another
process (``python -m tests.fakes smsapi --port 8081``): ``GET /_fake/accepted``,
``GET /_fake/counts``, ``POST /_fake/fail?times=3&status=503``,
``POST /_fake/timeout?times=1&seconds=5&accept=1``, ``POST /_fake/rate_limit?times=2``,
``POST /_fake/heal``, ``POST /_fake/reset``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    """One HTTP request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        """The url-encoded body as a dict (last value wins)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8")).items()}


@dataclass
class Response:
    """What the fake answers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode("utf-8")


@dataclass
class Fault:
    """A misbehaviour for the next requests."""

    kind: str  # "fail" | "timeout" | "rate_limit"
    remaining: int | None  # None: until healed
    status: int = 503
    seconds: float = 0.0
    accept: bool = False


class FakeProvider:
    """Base class of the fake provider servers; use as a context manager."""

    #: a name for logs and reports
    name = "fake"

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, keep_requests: bool = True
    ) -> None:
        #: every request, unless ``keep_requests=False`` (long benchmarks)
        self.keep_requests = keep_requests
        self.requests: list[Request] = []
        self.accepted: list[dict[str, Any]] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash (``http://127.0.0.1:PORT``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeProvider:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"{self.name}-fake", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- misbehaviour --------------------------------------------------------

    def fail(self, times: int | None = 1, *, status: int = 503) -> None:
        """Answer the next *times* requests (None: all) with *status*."""
        self._add(Fault("fail", times, status=status))

    def timeout(self, times: int | None = 1, *, seconds: float = 2.0, accept: bool = False) -> None:
        """Stall the next *times* requests for *seconds*; *accept* takes the message first."""
        self._add(Fault("timeout", times, seconds=seconds, accept=accept))

    def rate_limit(self, times: int | None = 1) -> None:
        """Answer the next *times* requests with 429 Too Many Requests."""
        self._add(Fault("rate_limit", times, status=429))

    def heal(self) -> None:
        """Forget every pending misbehaviour."""
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Heal and forget what was received."""
        with self._lock:
            self._faults.clear()
            self.requests.clear()
            self.accepted.clear()
            self.reset_state()

    def reset_state(self) -> None:
        """Subclasses forget their own state (seen idempotency keys...)."""

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.popleft()
            return fault

    # -- provider behaviour --------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer a well-behaved request (validation, acceptance)."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Any:
        """The provider's error document for an injected failure."""
        return {"error": message}

    def our_id(self, item: dict[str, Any]) -> str | None:
        """The outbox id an accepted message carries (idx, callback data, custom arg)."""
        return None

    def counts(self) -> Counter[str]:
        """How many times each of our ids was accepted (a count above 1 is a duplicate)."""
        with self._lock:
            ids = [self.our_id(item) for item in self.accepted]
        return Counter(i for i in ids if i is not None)

    def record_accepted(self, item: dict[str, Any]) -> None:
        with self._lock:
            self.accepted.append(item)

    def _control(self, request: Request) -> Response:
        """The ``/_fake/...`` endpoints: the same controls for another process."""
        action = request.path.removeprefix("/_fake/")
        arg = {k: v[-1] for k, v in request.query.items()}
        times = int(arg["times"]) if arg.get("times") else None
        if action == "accepted":
            with self._lock:
                return Response(200, list(self.accepted))
        if action == "counts":
            return Response(200, dict(self.counts()))
        if action == "fail":
            self.fail(times, status=int(arg.get("status", 503)))
        elif action == "timeout":
            seconds = float(arg.get("seconds", 2.0))
            self.timeout(times, seconds=seconds, accept=arg.get("accept") == "1")
        elif action == "rate_limit":
            self.rate_limit(times)
        elif action == "heal":
            self.heal()
        elif action == "reset":
            self.reset()
        else:
            return Response(404, {"error": f"unknown control {action}"})
        return Response(200, {"ok": True})

    def _dispatch(self, request: Request) -> Response:
        if request.path.startswith("/_fake/"):
            return self._control(request)
        if self.keep_requests:
            with self._lock:
                self.requests.append(request)
        fault = self._next_fault()
        if fault is None:
            return self.handle(request)
        if fault.kind == "timeout":
            response = self.handle(request) if fault.accept else None
            time.sleep(fault.seconds)
            return response or Response(504, self.error_body(504, "timed out"))
        if fault.kind == "rate_limit":
            return Response(
                429, self.error_body(429, "Too many requests"), headers={"Retry-After": "1"}
            )
        return Response(fault.status, self.error_body(fault.status, "Injected failure"))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                response = fake._dispatch(request)
                payload = response.encoded()
                try:
                    self.send_response(response.status)
                    headers = {"Content-Type": "application/json", **response.headers}
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header."""
    value = request.headers.get("authorization", "")
    return value[7:] if value.lower().startswith("bearer ") else None
