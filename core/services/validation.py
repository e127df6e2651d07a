"""Checks shared by services: languages, time zones, enum values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError

from core.errors import ValidationError
from core.models.enums import ConsentChannel

E = TypeVar("E", bound=StrEnum)


def language_tag(value: str | None) -> str | None:
    """Validate a BCP 47 language tag (``id``, ``zh-Hans``, ``uk``) and return it tidied."""
    if value is None or not value.strip():
        return None
    text = value.strip().replace("_", "-")
    try:
        Locale.parse(text, sep="-")
    except (UnknownLocaleError, ValueError):
        raise ValidationError(f"{value!r} is not a known language tag", field="language") from None
    return text


def time_zone(value: str | None) -> str | None:
    """Validate an IANA time-zone name."""
    if value is None or not value.strip():
        return None
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone", field="time_zone") from None
    return value.strip()


def parse_channel_order(value: str | Sequence[str] | None) -> str | None:
    """Validate an ordered list of contact channels (``"whatsapp, sms"`` or a list).

    Names must be consent channels (a message needs consent on its channel);
    repeats are dropped, the first mention wins.  Returns ``"whatsapp,sms"``,
    or ``None`` for an empty value.
    """
    if value is None:
        return None
    names = value.replace(";", ",").split(",") if isinstance(value, str) else list(value)
    order: list[str] = []
    for raw in names:
        name = str(raw).strip().lower()
        if name:
            channel = choice(ConsentChannel, name, "preferred_channels").value
            if channel not in order:
                order.append(channel)
    return ",".join(order) or None


def choice(enum: type[E], value: str | E, field: str) -> E:
    """Return *value* as a member of *enum* or raise naming the allowed values."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise ValidationError(f"{field} {value!r} is not one of: {allowed}", field=field) from None


def aware(value: dt.datetime, field: str) -> dt.datetime:
    """Require a timezone-aware datetime and return it in UTC."""
    if value.tzinfo is None:
        raise ValidationError(f"{field} must carry a time zone", field=field)
    return value.astimezone(dt.UTC)
