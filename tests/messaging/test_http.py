"""Core's provider HTTP client: what it sends, where, and how failures surface."""

from __future__ import annotations

import json

import httpx
import pytest

from core.messaging.http import ProviderHTTP


def test_posts_json_with_headers_and_timeout():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "p-1"})

    http = ProviderHTTP(
        "https://api.example.org/v21.0",
        headers={"Authorization": "Bearer t"},
        timeout=3.0,
        transport=httpx.MockTransport(answer),
    )
    url = http.url("123/messages")
    response = http.post_json(url, {"to": "+62", "body": "Hi ü"})
    assert response.status_code == 200
    assert response.json() == {"id": "p-1"}
    assert response.request is seen[0]
    request = seen[0]
    assert str(request.url) == "https://api.example.org/v21.0/123/messages"
    assert request.method == "POST"
    assert request.headers["authorization"] == "Bearer t"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"to": "+62", "body": "Hi ü"}
    assert request.extensions["timeout"]["read"] == 3.0


def test_url_merges_like_an_httpx_client_base_url():
    http = ProviderHTTP("http://127.0.0.1:9/base/")
    assert str(http.url("messages")) == "http://127.0.0.1:9/base/messages"
    assert str(http.url("/messages")) == "http://127.0.0.1:9/base/messages"
    assert str(http.url("https://other.example/x")) == "https://other.example/x"


def test_transport_errors_are_httpx_errors():
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    http = ProviderHTTP("http://127.0.0.1:9", transport=httpx.MockTransport(fail))
    with pytest.raises(httpx.TransportError):
        http.post_json(http.url("messages"), {})


def test_unreachable_provider_raises_a_transport_error():
    http = ProviderHTTP("http://127.0.0.1:9", timeout=1.0)  # discard port: nothing listens
    try:
        with pytest.raises(httpx.TransportError):
            http.post_json(http.url("messages"), {})
    finally:
        http.close()
