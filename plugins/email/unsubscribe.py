"""Signed unsubscribe links: ``/unsubscribe/<token>``, the token naming one outbox row."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from core.config import Config

SALT = "careloop.email.unsubscribe"


def _serializer(config: Config) -> URLSafeSerializer:
    return URLSafeSerializer(config.effective_secret_key, salt=SALT)


def make_token(config: Config, message_id: int) -> str:
    """A token for the outbox row *message_id* (no patient data in the URL)."""
    return _serializer(config).dumps({"m": int(message_id)})


def read_token(config: Config, token: str) -> int | None:
    """The outbox row id in *token*, or ``None`` when it is forged or malformed."""
    try:
        data = _serializer(config).loads(token)
    except BadSignature:
        return None
    value = data.get("m") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None


def unsubscribe_url(config: Config, message_id: int) -> str:
    """The absolute unsubscribe URL (``CARELOOP_PUBLIC_URL`` + path) for one message."""
    return f"{config.public_url.rstrip('/')}/unsubscribe/{make_token(config, message_id)}"
