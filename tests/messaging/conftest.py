"""Fixtures for the outbox tests: a messaging runtime, patients, a recording channel."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.orm import Session

from core import Manifest, hookimpl
from core.audit import Actor
from core.messaging.channel import OutgoingMessage, SendResult
from core.messaging.registry import clear_cache
from core.runtime import CareLoop
from core.services import consent
from core.services.patients import PatientInput, create_patient


@dataclass(eq=False)
class RecordingChannel:
    """A fake channel: records every send; can be told to raise."""

    name: str
    contact_kind: str
    provider_deduplicates: bool = True
    sent: list[OutgoingMessage] = field(default_factory=list)
    #: exceptions to raise on the next sends, in order
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: OutgoingMessage) -> SendResult:
        with self.lock:
            if self.errors:
                raise self.errors.pop(0)
            self.sent.append(message)
            return SendResult(provider_message_id=f"{self.name}-{len(self.sent)}")


class FakeChannels:
    """A plugin providing recording channels for whatsapp, sms and email."""

    manifest = Manifest(name="fake_channels", version="1.0", summary="recording channels")

    def __init__(self) -> None:
        self.channels = {
            "whatsapp": RecordingChannel("whatsapp", "whatsapp"),
            "sms": RecordingChannel("sms", "phone"),
            "email": RecordingChannel("email", "email"),
        }

    @hookimpl
    def careloop_register_channels(self) -> list[Any]:
        return list(self.channels.values())

    def all_sent(self) -> list[OutgoingMessage]:
        return [m for ch in self.channels.values() for m in ch.sent]


@pytest.fixture
def msg_runtime(runtime: CareLoop) -> Iterator[CareLoop]:
    """The runtime with quiet hours and the marketing cap off, console channels."""
    runtime.config = runtime.config.with_overrides(
        quiet_hours="off", marketing_cap="off", send_backoff=0.01
    )
    clear_cache()
    yield runtime
    clear_cache()


@pytest.fixture
def fake_channels(msg_runtime: CareLoop, plugin_registrar: Callable[..., Any]) -> FakeChannels:
    """Live mode with recording channels registered as a plugin."""
    plugin = FakeChannels()
    plugin_registrar(plugin)
    msg_runtime.config = msg_runtime.config.with_overrides(channel_mode="live")
    clear_cache()
    return plugin


@pytest.fixture
def make_patient(msg_runtime: CareLoop, actor: Actor) -> Callable[..., int]:
    """``make_patient(consents=[("sms", "care")], phone=..., email=..., tz=...)`` -> id."""
    counter = [0]

    def make(
        *,
        consents: list[tuple[str, str]] = (),  # type: ignore[assignment]
        phone: str | None = "+6281234567890",
        email: str | None = "pat@example.org",
        whatsapp: str | None = None,
        tz: str | None = None,
        language: str | None = None,
    ) -> int:
        counter[0] += 1
        with msg_runtime.transaction() as session:
            patient = create_patient(
                session,
                PatientInput(
                    given_name=f"Pat{counter[0]}",
                    family_name="Test",
                    phones=[phone] if phone else [],
                    emails=[email] if email else [],
                    whatsapp=[whatsapp] if whatsapp else [],
                    time_zone=tz,
                    preferred_language=language,
                ),
                actor,
            )
            for channel, purpose in consents:
                consent.grant(session, patient.id, channel, purpose, actor)
            return patient.id

    return make


def reload(session: Session, model: Any, ident: int) -> Any:
    session.expire_all()
    return session.get(model, ident)


REDIS_URL_ENV = "CARELOOP_TEST_REDIS_URL"
REQUIRE_REDIS_ENV = "CARELOOP_TEST_REQUIRE_REDIS"


@pytest.fixture
def redis_url() -> Iterator[str]:
    """``CARELOOP_TEST_REDIS_URL`` with a namespace of its own (keys removed afterwards).

    Skips when the variable is unset or Redis is unreachable, unless
    ``CARELOOP_TEST_REQUIRE_REDIS=1`` (then it fails).
    """
    import os
    import uuid

    url = os.environ.get(REDIS_URL_ENV)
    required = os.environ.get(REQUIRE_REDIS_ENV) == "1"
    if not url:
        if required:
            pytest.fail(f"{REQUIRE_REDIS_ENV}=1 but {REDIS_URL_ENV} is not set")
        pytest.skip(f"{REDIS_URL_ENV} is not set")
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        if required:
            pytest.fail(f"Redis at {REDIS_URL_ENV} is unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL_ENV} is unreachable: {exc}")
    namespace = f"careloop-test-{uuid.uuid4().hex[:10]}"
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}namespace={namespace}"
    finally:
        keys = list(client.scan_iter(f"{namespace}*"))
        if keys:
            client.delete(*keys)
        client.close()
