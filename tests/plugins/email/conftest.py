"""Fixtures for the e-mail plugin's tests: a SendGrid-style ECDSA key pair and signer."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core.runtime import CareLoop
from tests.fakes.fixtures import _fake_sendgrid_server, fake_sendgrid  # noqa: F401
from tests.fakes.webapp import web_app


class Signer:
    """Signs Event Webhook bodies like SendGrid: ECDSA P-256 over ``timestamp + body``."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer()


@pytest.fixture
def email_runtime(runtime: CareLoop, signer: Signer, fake_sendgrid: Any) -> CareLoop:  # noqa: F811
    runtime.config = runtime.config.with_overrides(
        sendgrid_host=fake_sendgrid.url,
        sendgrid_api_key=fake_sendgrid.api_key,
        sendgrid_webhook_public_key=signer.public_key,
        email_from="clinic@example.org",
        public_url="https://crm.example.org",
        channel_timeout=1.0,
        channel_mode="live",
        quiet_hours="off",
    )
    return runtime


@pytest.fixture
def client(email_runtime: CareLoop) -> Any:
    return web_app(email_runtime).test_client()


@pytest.fixture
def post_events(client: Any, signer: Signer) -> Callable[..., Any]:
    """POST an event array to the webhook, signed now (or at *timestamp*)."""

    def post(events: Any, *, timestamp: int | None = None) -> Any:
        body = json.dumps(events, separators=(",", ":")).encode() + b"\r\n"
        return client.post(
            "/webhooks/sendgrid",
            data=body,
            headers=signer.headers(body, timestamp),
            content_type="application/json",
        )

    return post
