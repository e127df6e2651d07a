"""pytest fixtures for the fake providers: import them into a ``conftest.py``.

``from tests.fakes.fixtures import _fake_smsapi_server, fake_smsapi`` (the
server runs once per session; the function fixture resets it for each test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .base import FakeProvider
from .sendgrid import FakeSendGrid
from .smsapi import FakeSmsApi
from .whatsapp import FakeWhatsApp


def _fixtures(kind: type[FakeProvider]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """A session-wide server fixture and a per-test fixture that resets it."""

    def server() -> Iterator[FakeProvider]:
        with kind() as fake:
            yield fake

    def per_test(server: FakeProvider) -> Iterator[FakeProvider]:
        server.reset()
        yield server
        server.heal()

    return server, per_test


_whatsapp_server, _whatsapp = _fixtures(FakeWhatsApp)
_sendgrid_server, _sendgrid = _fixtures(FakeSendGrid)
_smsapi_server, _smsapi = _fixtures(FakeSmsApi)

_fake_whatsapp_server = pytest.fixture(scope="session", name="_fake_whatsapp_server")(
    _whatsapp_server
)
_fake_sendgrid_server = pytest.fixture(scope="session", name="_fake_sendgrid_server")(
    _sendgrid_server
)
_fake_smsapi_server = pytest.fixture(scope="session", name="_fake_smsapi_server")(_smsapi_server)


@pytest.fixture
def fake_whatsapp(_fake_whatsapp_server: FakeWhatsApp) -> Iterator[FakeWhatsApp]:
    """A running fake WhatsApp Cloud API, reset for each test."""
    yield from _whatsapp(_fake_whatsapp_server)


@pytest.fixture
def fake_sendgrid(_fake_sendgrid_server: FakeSendGrid) -> Iterator[FakeSendGrid]:
    """A running fake SendGrid, reset for each test."""
    yield from _sendgrid(_fake_sendgrid_server)


@pytest.fixture
def fake_smsapi(_fake_smsapi_server: FakeSmsApi) -> Iterator[FakeSmsApi]:
    """A running fake SMSAPI, reset for each test."""
    yield from _smsapi(_fake_smsapi_server)
