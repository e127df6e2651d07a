"""Fixtures for the WhatsApp plugin's tests."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest

from core.runtime import CareLoop
from tests.fakes.fixtures import _fake_whatsapp_server, fake_whatsapp  # noqa: F401
from tests.fakes.webapp import web_app

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"


@pytest.fixture
def wa_runtime(runtime: CareLoop, fake_whatsapp: Any) -> CareLoop:  # noqa: F811
    runtime.config = runtime.config.with_overrides(
        whatsapp_api_url=fake_whatsapp.url + "/v21.0",
        channel_timeout=1.0,
        whatsapp_app_secret=APP_SECRET,
        whatsapp_verify_token=VERIFY_TOKEN,
        whatsapp_token="test-wa-token",
        whatsapp_phone_number_id="1122334455667",
        channel_mode="live",
        quiet_hours="off",
    )
    return runtime


@pytest.fixture
def client(wa_runtime: CareLoop) -> Any:
    return web_app(wa_runtime).test_client()


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def post_signed(client: Any) -> Callable[..., Any]:
    """POST a payload to the webhook, signed with the app secret."""

    def post(payload: Any, *, secret: str = APP_SECRET) -> Any:
        body = json.dumps(payload).encode()
        return client.post(
            "/webhooks/whatsapp",
            data=body,
            headers={"X-Hub-Signature-256": sign(body, secret)},
            content_type="application/json",
        )

    return post
