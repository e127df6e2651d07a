"""Fixtures for the SMS plugin's tests."""

from __future__ import annotations

from typing import Any

import pytest

from core.runtime import CareLoop
from tests.fakes.fixtures import _fake_smsapi_server, fake_smsapi  # noqa: F401
from tests.fakes.webapp import web_app

CALLBACK_SECRET = "cb-secret-0123456789"


@pytest.fixture
def sms_runtime(runtime: CareLoop, fake_smsapi: Any) -> CareLoop:  # noqa: F811
    runtime.config = runtime.config.with_overrides(
        smsapi_url=fake_smsapi.url + "/",
        smsapi_token=fake_smsapi.token,
        smsapi_callback_secret=CALLBACK_SECRET,
        public_url="https://crm.example.org",
        channel_timeout=1.0,
        channel_mode="live",
        quiet_hours="off",
    )
    return runtime


@pytest.fixture
def client(sms_runtime: CareLoop) -> Any:
    return web_app(sms_runtime).test_client()
