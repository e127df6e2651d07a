"""pytest fixtures for the fake providers: import them into a ``conftest.py``.

``from tests.fakes.fixtures import fake_sendgrid, fake_smsapi, fake_whatsapp``
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .sendgrid import FakeSendGrid
from .smsapi import FakeSmsApi
from .whatsapp import FakeWhatsApp


@pytest.fixture(scope="session")
def _fake_whatsapp_server() -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp() as fake:
        yield fake


@pytest.fixture(scope="session")
def _fake_sendgrid_server() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        yield fake


@pytest.fixture(scope="session")
def _fake_smsapi_server() -> Iterator[FakeSmsApi]:
    with FakeSmsApi() as fake:
        yield fake


@pytest.fixture
def fake_whatsapp(_fake_whatsapp_server: FakeWhatsApp) -> Iterator[FakeWhatsApp]:
    """A running fake WhatsApp Cloud API, reset for each test."""
    _fake_whatsapp_server.reset()
    _fake_whatsapp_server.invalid_numbers.clear()
    yield _fake_whatsapp_server
    _fake_whatsapp_server.heal()


@pytest.fixture
def fake_sendgrid(_fake_sendgrid_server: FakeSendGrid) -> Iterator[FakeSendGrid]:
    """A running fake SendGrid, reset for each test."""
    _fake_sendgrid_server.reset()
    _fake_sendgrid_server.invalid_addresses.clear()
    yield _fake_sendgrid_server
    _fake_sendgrid_server.heal()


@pytest.fixture
def fake_smsapi(_fake_smsapi_server: FakeSmsApi) -> Iterator[FakeSmsApi]:
    """A running fake SMSAPI, reset for each test."""
    _fake_smsapi_server.reset()
    _fake_smsapi_server.invalid_numbers.clear()
    yield _fake_smsapi_server
    _fake_smsapi_server.heal()
