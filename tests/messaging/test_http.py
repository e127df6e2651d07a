"""Core's provider HTTP client: what it sends, where, and how failures surface."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from core.messaging.http import ProviderHTTP
from tests.messaging.fake_provider import FakeProvider


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider(dedupe=True).start()
    yield fake
    fake.stop()


def _server(
    handle: Callable[[socket.socket], None], closed: threading.Event | None = None
) -> tuple[str, threading.Event]:
    """A one-thread TCP server on 127.0.0.1 calling *handle* per connection, then closing it."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                handle(conn)
            if closed is not None:
                closed.set()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", done


def _answer_once(conn: socket.socket) -> None:
    """Read one request, answer it as keep-alive, then close (a provider's idle timeout)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += conn.recv(65536)
    answer = json.dumps({"echo": json.loads(body)}).encode()
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer)
    )


def test_posts_json_over_one_keep_alive_connection(provider):
    http = ProviderHTTP(provider.url, timeout=3.0)
    url = http.url("messages")
    assert url == f"{provider.url}/messages"
    first = http.post_json(url, {"key": "k1", "to": "+62", "body": "Hi ü"})
    second = http.post_json(url, {"key": "k2", "to": "+62", "body": "Hi"})
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["id"] != second.json()["id"]
    assert http.post_json(url, {"key": "k1"}).status_code == 409  # the provider deduplicates
    assert provider.deliveries == {"k1": 1, "k2": 1}
    http.close()


def test_a_connection_the_provider_closed_while_idle_is_replaced():
    closed = threading.Event()
    url, done = _server(_answer_once, closed)
    http = ProviderHTTP(url, timeout=3.0)
    try:
        for n in range(3):  # each answer is followed by the server closing the socket
            assert http.post_json(http.url("x"), {"n": n}).json() == {"echo": {"n": n}}
            assert closed.wait(3)
            closed.clear()
    finally:
        done.set()
        http.close()


def test_a_provider_that_does_not_answer_times_out():
    url, done = _server(lambda conn: conn.recv(65536) and done.wait(3))
    http = ProviderHTTP(url, timeout=0.3)
    try:
        with pytest.raises(httpx.ReadTimeout):
            http.post_json(http.url("x"), {})
    finally:
        done.set()
        http.close()


def test_unreachable_provider_raises_a_connect_error():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there
    http = ProviderHTTP(f"http://127.0.0.1:{port}", timeout=1.0)
    with pytest.raises(httpx.ConnectError):
        http.post_json(http.url("messages"), {})


def test_url_merges_like_an_httpx_client_base_url():
    http = ProviderHTTP("http://127.0.0.1:9/base")
    assert http.url("messages") == "http://127.0.0.1:9/base/messages"
    assert http.url("/123/messages") == "http://127.0.0.1:9/base/123/messages"
    assert http.url("https://other.example/x") == "https://other.example/x"


def test_a_transport_or_a_proxy_goes_through_an_httpx_client(monkeypatch):
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "p-1"})

    http = ProviderHTTP(
        "https://api.example.org/v21.0",
        headers={"Authorization": "Bearer t"},
        timeout=3.0,
        transport=httpx.MockTransport(answer),
    )
    response = http.post_json(http.url("123/messages"), {"to": "+62"})
    assert (response.status_code, response.json()) == (201, {"id": "p-1"})
    request = seen[0]
    assert str(request.url) == "https://api.example.org/v21.0/123/messages"
    assert request.headers["authorization"] == "Bearer t"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"to": "+62"}
    assert request.extensions["timeout"]["read"] == 3.0

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "bypassed.example.org")
    assert ProviderHTTP("https://api.example.org")._client is not None
    assert ProviderHTTP("https://bypassed.example.org")._client is None
    assert ProviderHTTP("http://plain.example.org")._client is None  # no HTTP_PROXY
