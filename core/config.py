"""Configuration, read from environment variables in this one place.

Every setting has exactly one documented name (see the README's configuration
reference). Nothing else in CareLoop reads ``os.environ`` for settings.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from core.errors import ConfigurationError

DEFAULT_DATABASE_URL = "sqlite:///careloop.db"
#: key of the :class:`Config` in ``session.info`` for sessions made by a runtime
CONFIG_KEY = "careloop.config"


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _flag(value: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); anything else is a ValueError."""
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


@dataclass(frozen=True)
class Config:
    """Settings of one CareLoop process.  Build it with :meth:`from_env`."""

    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = field(default="", repr=False)
    default_region: str = "ID"
    timezone: str = "UTC"
    default_locale: str = "en"
    currency: str = "IDR"
    broker_url: str = ""
    disabled_plugins: tuple[str, ...] = ()
    plugin_state_ttl: float = 1.0
    import_workers: int = 0
    telephony_token: str = field(default="", repr=False)
    #: a 360 page view and a ringing call wait for their audit events to reach the disk
    durable_view_audit: bool = False
    # messaging: outbox, policy and workers (core/messaging)
    channel_mode: str = "console"
    channel_order: tuple[str, ...] = ("whatsapp", "sms", "email")
    quiet_hours: str = "21:00-08:00"
    marketing_cap: str = "3/7d"
    send_max_attempts: int = 5
    send_backoff: float = 5.0
    outbox_stuck_after: int = 600
    worker_prefetch: int = 64
    # channel plugins (whatsapp, email, sms) and their webhooks
    public_url: str = ""
    channel_timeout: float = 10.0
    webhook_max_age: int = 600
    #: days a processed raw webhook event is kept (nightly purge; they hold phone numbers)
    webhook_retention_days: int = 90
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"
    whatsapp_token: str = field(default="", repr=False)
    whatsapp_phone_number_id: str = ""
    whatsapp_app_secret: str = field(default="", repr=False)
    whatsapp_verify_token: str = field(default="", repr=False)
    sendgrid_host: str = "https://api.sendgrid.com"
    sendgrid_api_key: str = field(default="", repr=False)
    sendgrid_webhook_public_key: str = ""
    email_from: str = ""
    smsapi_url: str = "https://api.smsapi.com/"
    smsapi_token: str = field(default="", repr=False)
    smsapi_callback_secret: str = field(default="", repr=False)
    sms_sender: str = ""
    sms_optout_keywords: tuple[str, ...] = ()
    # back office: send the session cookie over HTTPS only (turn off for a plain-http demo)
    session_cookie_secure: bool = True
    # back office: how many reverse proxies in front set X-Forwarded-For/-Proto (0: none)
    proxy_hops: int = 0
    # languages: a JSON file adding to or replacing the per-language keywords (core/keywords.py)
    keywords_file: str = ""

    #: environment variable -> field name; the README documents the same table.
    ENV_NAMES: ClassVar[dict[str, str]] = {
        "CARELOOP_DATABASE_URL": "database_url",
        "CARELOOP_SECRET_KEY": "secret_key",
        "CARELOOP_DEFAULT_REGION": "default_region",
        "CARELOOP_TIMEZONE": "timezone",
        "CARELOOP_DEFAULT_LOCALE": "default_locale",
        "CARELOOP_CURRENCY": "currency",
        "CARELOOP_BROKER_URL": "broker_url",
        "CARELOOP_DISABLED_PLUGINS": "disabled_plugins",
        "CARELOOP_PLUGIN_STATE_TTL": "plugin_state_ttl",
        "CARELOOP_IMPORT_WORKERS": "import_workers",
        "CARELOOP_TELEPHONY_TOKEN": "telephony_token",
        "CARELOOP_DURABLE_VIEW_AUDIT": "durable_view_audit",
        "CARELOOP_CHANNEL_MODE": "channel_mode",
        "CARELOOP_CHANNEL_ORDER": "channel_order",
        "CARELOOP_QUIET_HOURS": "quiet_hours",
        "CARELOOP_MARKETING_CAP": "marketing_cap",
        "CARELOOP_SEND_MAX_ATTEMPTS": "send_max_attempts",
        "CARELOOP_SEND_BACKOFF": "send_backoff",
        "CARELOOP_OUTBOX_STUCK_AFTER": "outbox_stuck_after",
        "CARELOOP_WORKER_PREFETCH": "worker_prefetch",
        "CARELOOP_PUBLIC_URL": "public_url",
        "CARELOOP_CHANNEL_TIMEOUT": "channel_timeout",
        "CARELOOP_WEBHOOK_MAX_AGE": "webhook_max_age",
        "CARELOOP_WEBHOOK_RETENTION_DAYS": "webhook_retention_days",
        "CARELOOP_WHATSAPP_API_URL": "whatsapp_api_url",
        "CARELOOP_WHATSAPP_TOKEN": "whatsapp_token",
        "CARELOOP_WHATSAPP_PHONE_NUMBER_ID": "whatsapp_phone_number_id",
        "CARELOOP_WHATSAPP_APP_SECRET": "whatsapp_app_secret",
        "CARELOOP_WHATSAPP_VERIFY_TOKEN": "whatsapp_verify_token",
        "CARELOOP_SENDGRID_HOST": "sendgrid_host",
        "CARELOOP_SENDGRID_API_KEY": "sendgrid_api_key",
        "CARELOOP_SENDGRID_WEBHOOK_PUBLIC_KEY": "sendgrid_webhook_public_key",
        "CARELOOP_EMAIL_FROM": "email_from",
        "CARELOOP_SMSAPI_URL": "smsapi_url",
        "CARELOOP_SMSAPI_TOKEN": "smsapi_token",
        "CARELOOP_SMSAPI_CALLBACK_SECRET": "smsapi_callback_secret",
        "CARELOOP_SMS_SENDER": "sms_sender",
        "CARELOOP_SMS_OPTOUT_KEYWORDS": "sms_optout_keywords",
        "CARELOOP_SESSION_COOKIE_SECURE": "session_cookie_secure",
        "CARELOOP_PROXY_HOPS": "proxy_hops",
        "CARELOOP_KEYWORDS_FILE": "keywords_file",
    }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Config:
        """Read every ``CARELOOP_*`` setting from *environ* (default: the process)."""
        environ = os.environ if environ is None else environ
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, object] = {}
        for env_name, attr in cls.ENV_NAMES.items():
            raw = environ.get(env_name)
            if raw is None or raw == "":
                continue
            kind = types[attr]
            try:
                if kind == "float":
                    values[attr] = float(raw)
                elif kind == "int":
                    values[attr] = int(raw)
                elif kind.startswith("tuple"):
                    values[attr] = _split(raw)
                elif kind == "bool":
                    values[attr] = _flag(raw)
                else:
                    values[attr] = raw
            except ValueError as exc:
                raise ConfigurationError(f"{env_name}={raw!r} is not a valid value") from exc
        values.update(overrides)
        config = cls(**values)  # type: ignore[arg-type]
        config.validate()
        return config

    def with_overrides(self, **overrides: object) -> Config:
        """A copy of this configuration with some settings replaced."""
        config = replace(self, **overrides)  # type: ignore[arg-type]
        config.validate()
        return config

    def validate(self) -> None:
        """Raise :class:`ConfigurationError` naming the first bad setting."""
        region = self.default_region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigurationError(
                f"CARELOOP_DEFAULT_REGION={self.default_region!r} is not an ISO 3166 region "
                "known to phonenumbers"
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(
                f"CARELOOP_TIMEZONE={self.timezone!r} is not an IANA time zone"
            ) from exc
        if self.plugin_state_ttl < 0:
            raise ConfigurationError("CARELOOP_PLUGIN_STATE_TTL must be zero or positive")
        if self.webhook_retention_days < 7:
            raise ConfigurationError(
                "CARELOOP_WEBHOOK_RETENTION_DAYS must be at least 7 (providers retry for days)"
            )
        from core.messaging.policy import validate_settings

        validate_settings(self)

    @property
    def effective_secret_key(self) -> str:
        """The secret key, or a random per-process one when none is configured."""
        return self.secret_key or _process_secret()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


_PROCESS_SECRET: list[str] = []


def _process_secret() -> str:
    if not _PROCESS_SECRET:
        _PROCESS_SECRET.append(secrets.token_urlsafe(32))
    return _PROCESS_SECRET[0]


def config_of(session: Any) -> Config:
    """The configuration of the runtime that made *session* (defaults otherwise)."""
    config = session.info.get(CONFIG_KEY)
    return config if isinstance(config, Config) else _DEFAULT_CONFIG


_DEFAULT_CONFIG = Config()
