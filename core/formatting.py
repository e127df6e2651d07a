"""Locale-aware formatting with Babel: dates, numbers, money, plurals, names, sorting.

Every function takes an optional ``locale`` (default: :func:`core.i18n.current_locale`)
and, for times, an optional time zone (default: UTC).  Times are stored in UTC
(:class:`core.db.UTCDateTime`); :func:`to_local` converts them for display in
the clinic's (``CARELOOP_TIMEZONE``) or the patient's (``Patient.time_zone``)
zone, which :func:`timezone_for` picks.  No Flask imports: the back office,
workers rendering messages and the CLI share these.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import dates as babel_dates
from babel import lists as babel_lists
from babel import numbers as babel_numbers
from babel.core import Locale

from core import i18n
from core.identity import compose_display_name

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
    from sqlalchemy.sql import ColumnElement

    from core.config import Config

__all__ = [
    "CURRENCY_DIGITS",
    "FAMILY_NAME_FIRST_LOCALES",
    "ICU_COLLATIONS",
    "count_messages",
    "count_patients",
    "currency_digits",
    "datetime_formatter",
    "format_currency",
    "format_date",
    "format_datetime",
    "format_decimal",
    "format_list",
    "format_number",
    "format_percent",
    "format_person_name",
    "format_time",
    "format_timedelta",
    "in_days",
    "name_collation",
    "ngettext",
    "order_by_name",
    "timezone_for",
    "to_local",
]

#: Minor units shown for a currency when everyday practice differs from CLDR's
#: ``digits`` (the rupiah has sen on paper only; prices are whole rupiah).
CURRENCY_DIGITS: dict[str, int] = {"IDR": 0, "KRW": 0, "JPY": 0, "VND": 0, "CLP": 0}
#: Languages whose display puts the family name first, even for Latin-script names.
FAMILY_NAME_FIRST_LOCALES: frozenset[str] = frozenset({"zh", "ko", "ja", "vi", "hu"})
#: PostgreSQL ICU collations used to sort patient lists, per display language.
ICU_COLLATIONS: dict[str, str] = {
    "en": "en-x-icu",
    "id": "id-x-icu",
    "zh": "zh-x-icu",
    "ru": "ru-x-icu",
    "uk": "uk-x-icu",
    "ko": "ko-x-icu",
}
ROOT_COLLATION = "und-x-icu"
#: Locales whose clocks read better with the wide day period (``오전``/``오후``
#: rather than CLDR's abbreviated ``AM``/``PM`` in Korean).
WIDE_DAY_PERIOD_LOCALES: frozenset[str] = frozenset({"ko"})
_NAMED_FORMATS = ("short", "medium", "long", "full")
_DAY_PERIOD = re.compile(r"(?<![a'])a(?!a)")

ngettext = i18n.ngettext


def _locale(locale: str | None) -> str:
    return locale or i18n.current_locale()


# --------------------------------------------------------------------------- time zones


def _zone(tz: str | dt.tzinfo | None) -> dt.tzinfo:
    if tz is None or tz == "":
        return dt.UTC
    if isinstance(tz, dt.tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def timezone_for(patient: Any = None, config: Config | None = None) -> dt.tzinfo:
    """The zone to show a time in: the patient's, else the clinic's, else UTC."""
    for candidate in (getattr(patient, "time_zone", None), getattr(config, "timezone", None)):
        if candidate:
            zone = _zone(candidate)
            if zone is not dt.UTC or candidate.upper() in ("UTC", "ETC/UTC"):
                return zone
    return dt.UTC


def to_local(value: dt.datetime, tz: str | dt.tzinfo | None = None) -> dt.datetime:
    """*value* (aware, or naive meaning UTC) as an aware time in zone *tz*."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(_zone(tz))


# --------------------------------------------------------------------------- dates


def _time_pattern(format: str, locale: str) -> str:
    """*format*, or for a named format in a wide-day-period locale, its adjusted pattern."""
    if format not in _NAMED_FORMATS or locale.split("-")[0] not in WIDE_DAY_PERIOD_LOCALES:
        return format
    pattern = babel_dates.get_time_format(format, locale=locale).pattern
    return _DAY_PERIOD.sub("aaaa", pattern)


def _datetime_pattern(format: str, locale: str) -> str:
    if format not in _NAMED_FORMATS or locale.split("-")[0] not in WIDE_DAY_PERIOD_LOCALES:
        return format
    date_pattern = babel_dates.get_date_format(format, locale=locale).pattern
    combined = babel_dates.get_datetime_format(format, locale=locale)
    return combined.replace("{0}", _time_pattern(format, locale)).replace("{1}", date_pattern)


#: a field of a parsed Babel pattern (``%(MMM)s``)
_PATTERN_FIELD = re.compile(r"%\((\w+)\)s")
#: sample values for fields that depend on one small key only (names of months, days,
#: am/pm): Babel answers once per key, the page looks the answer up
_MONTHS = [dt.date(2001, month, 1) for month in range(1, 13)]
_WEEKDAYS = [dt.date(2001, 1, 1 + day) for day in range(7)]  # Monday first, as weekday()
_HALVES = [dt.time(1), dt.time(13)]

Field = Callable[[Any, Any], str]


def _field(name: str, loc: Locale) -> Field:
    """One field of a pattern as a function of ``(value, reference_date)``: Babel's
    :class:`~babel.dates.DateTimeFormat` text, computed without it where that is simple."""
    char, num = name[0], len(name)
    if char in "dHms" or (char == "M" and num <= 2):
        attribute = {"d": "day", "H": "hour", "m": "minute", "s": "second", "M": "month"}[char]
        return lambda value, _ref: f"{getattr(value, attribute):0{num}d}"
    if char == "h":
        return lambda value, _ref: f"{value.hour % 12 or 12:0{num}d}"
    if char == "y":
        if num == 2:
            return lambda value, _ref: f"{value.year:02d}"[-2:]
        return lambda value, _ref: f"{value.year:0{num}d}"
    if char in "ML":
        months = [babel_dates.DateTimeFormat(day, loc)[name] for day in _MONTHS]
        return lambda value, _ref: months[value.month - 1]
    if char in "Eec":
        weekdays = [babel_dates.DateTimeFormat(day, loc)[name] for day in _WEEKDAYS]
        return lambda value, _ref: weekdays[value.weekday()]
    if char == "a":
        halves = [babel_dates.DateTimeFormat(time, loc)[name] for time in _HALVES]
        return lambda value, _ref: halves[value.hour >= 12]
    # anything else (eras, weeks, zones, flexible day periods): Babel each time
    return lambda value, ref: babel_dates.DateTimeFormat(value, loc, ref)[name]


def _compiled(pattern: babel_dates.DateTimePattern, loc: Locale) -> Callable[..., str]:
    """``pattern.apply(value, loc, reference_date)`` with each field resolved once.

    Babel's ``apply`` builds a formatter object and dispatches on every field's
    letter for every value; a page of times spent most of its formatting there.
    """
    pieces: list[str | Field] = []
    at = 0
    for match in _PATTERN_FIELD.finditer(pattern.format):
        if match.start() > at:
            pieces.append(pattern.format[at : match.start()].replace("%%", "%"))
        pieces.append(_field(match.group(1), loc))
        at = match.end()
    if at < len(pattern.format):
        pieces.append(pattern.format[at:].replace("%%", "%"))
    parts = tuple(pieces)

    def apply(value: Any, reference_date: Any = None) -> str:
        if isinstance(value, dt.datetime | dt.time) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)  # as Babel's own formatter does
        return "".join(
            part if isinstance(part, str) else part(value, reference_date) for part in parts
        )

    return apply


@functools.lru_cache(maxsize=256)
def _datetime_formatter(format: str, locale: str) -> Callable[[dt.datetime], str]:
    """*format* in *locale* as a function of an aware local time, its patterns parsed once.

    Same text as ``babel.dates.format_datetime(value, format, tzinfo=value.tzinfo,
    locale=locale)``, which looks up the locale and its patterns on every call.
    """
    loc = Locale.parse(locale)
    pattern = _datetime_pattern(format, locale)
    if pattern not in _NAMED_FORMATS:
        return _compiled(babel_dates.parse_pattern(pattern), loc)
    # a named format: the locale's "{1}, {0}" with its date and its time patterns
    combined = babel_dates.get_datetime_format(pattern, locale=loc).replace("'", "")
    time_part = _compiled(
        babel_dates.parse_pattern(babel_dates.get_time_format(pattern, locale=loc)), loc
    )
    date_part = _compiled(
        babel_dates.parse_pattern(babel_dates.get_date_format(pattern, locale=loc)), loc
    )

    def named(value: dt.datetime) -> str:
        day = value.date()
        clock = time_part(value.timetz(), day)
        return combined.replace("{0}", clock).replace("{1}", date_part(day))

    return named


def format_datetime(
    value: dt.datetime | None,
    format: str = "medium",
    tz: str | dt.tzinfo | None = None,
    locale: str | None = None,
) -> str:
    """A date and time in *tz*: ``5 Mar 2026, 16.30.00`` (id), ``2026. 3. 5. 오후 4:30:00`` (ko)."""
    if value is None:
        return ""
    return _datetime_formatter(format, _locale(locale))(to_local(value, tz))


def datetime_formatter(
    format: str = "medium", tz: str | dt.tzinfo | None = None, locale: str | None = None
) -> Callable[[dt.datetime | None], str]:
    """:func:`format_datetime` with these arguments fixed: its zone and patterns looked up
    once, for a page that shows many times."""
    zone, apply = _zone(tz), _datetime_formatter(format, _locale(locale))

    def formatted(value: dt.datetime | None) -> str:
        if value is None:
            return ""
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return apply(value.astimezone(zone))

    return formatted


def format_date(
    value: dt.date | dt.datetime | None,
    format: str = "medium",
    tz: str | dt.tzinfo | None = None,
    locale: str | None = None,
) -> str:
    """A date; a datetime is first converted to *tz* (so 23:30 UTC may be the next day)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = to_local(value, tz).date()
    return babel_dates.format_date(value, format, locale=_locale(locale))


def format_time(
    value: dt.datetime | dt.time | None,
    format: str = "short",
    tz: str | dt.tzinfo | None = None,
    locale: str | None = None,
) -> str:
    """A time of day; a datetime is converted to *tz* first."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = to_local(value, tz)
    loc = _locale(locale)
    tzinfo = value.tzinfo if isinstance(value, dt.datetime) else None
    return babel_dates.format_time(value, _time_pattern(format, loc), tzinfo=tzinfo, locale=loc)


def format_timedelta(
    delta: dt.timedelta | int,
    granularity: str = "second",
    add_direction: bool = False,
    locale: str | None = None,
) -> str:
    """A duration in words: ``3 hari`` (id), ``через 3 дня`` (ru, with *add_direction*)."""
    return babel_dates.format_timedelta(
        delta, granularity=granularity, add_direction=add_direction, locale=_locale(locale)
    )


# --------------------------------------------------------------------------- numbers and money


def format_number(value: int | float | Decimal, locale: str | None = None) -> str:
    """A number with the locale's grouping: ``1.234.567`` (id), ``1 234 567`` (ru)."""
    return babel_numbers.format_decimal(value, locale=_locale(locale))


def format_decimal(
    value: int | float | Decimal, format: str | None = None, locale: str | None = None
) -> str:
    """A decimal number, optionally with a CLDR *format* pattern (``#,##0.00``)."""
    return babel_numbers.format_decimal(value, format=format, locale=_locale(locale))


def format_percent(value: int | float | Decimal, locale: str | None = None) -> str:
    """A ratio as a percentage: ``0.25`` -> ``25%`` / ``25 %`` (ru, uk)."""
    return babel_numbers.format_percent(value, locale=_locale(locale))


def currency_digits(currency: str) -> int:
    """Minor units shown for *currency*: CareLoop's override, else CLDR's."""
    code = currency.upper()
    if code in CURRENCY_DIGITS:
        return CURRENCY_DIGITS[code]
    return babel_numbers.get_currency_precision(code)


def format_currency(
    amount: int | float | Decimal | None,
    currency: str | None = None,
    locale: str | None = None,
    config: Config | None = None,
) -> str:
    """Money in the clinic's currency (``CARELOOP_CURRENCY``) unless *currency* is given.

    ``Rp150.000`` (IDR, id: whole rupiah), ``₩50,000`` (KRW), ``¥1,234.50`` (CNY),
    ``1 500,00 ₽`` (RUB), ``1 500,00 ₴`` (UAH).
    """
    if amount is None:
        return ""
    code = (currency or getattr(config, "currency", None) or "IDR").upper()
    loc = i18n.babel_locale(_locale(locale))
    digits = currency_digits(code)
    pattern = babel_numbers.parse_pattern(loc.currency_formats["standard"])
    pattern = _with_fraction_digits(pattern, digits)
    return pattern.apply(
        Decimal(str(amount)), loc, currency=code, currency_digits=False, decimal_quantization=True
    )


@functools.lru_cache(maxsize=64)
def _with_fraction_digits(
    pattern: babel_numbers.NumberPattern, digits: int
) -> babel_numbers.NumberPattern:
    """A copy of *pattern* showing exactly *digits* minor units."""
    copy = babel_numbers.NumberPattern(
        pattern.pattern,
        pattern.prefix,
        pattern.suffix,
        pattern.grouping,
        pattern.int_prec,
        (digits, digits),
        pattern.exp_prec,
        pattern.exp_plus,
        pattern.number_pattern,
    )
    return copy


def format_list(items: list[str], style: str = "standard", locale: str | None = None) -> str:
    """``a, b dan c`` (id), ``a、b和c`` (zh), ``a, b и c`` (ru)."""
    return babel_lists.format_list(list(items), style=style, locale=_locale(locale))


# --------------------------------------------------------------------------- counted phrases


def count_patients(num: int) -> str:
    """``1 patient`` / ``21 пациент`` / ``22 пациента`` / ``25 пациентов``."""
    return i18n.ngettext("%(num)d patient", "%(num)d patients", num)


def count_messages(num: int) -> str:
    """``3 messages`` / ``3 повідомлення`` / ``5 повідомлень``."""
    return i18n.ngettext("%(num)d message", "%(num)d messages", num)


def in_days(num: int) -> str:
    """``in 1 day`` / ``через 2 дня`` / ``через 5 днів``."""
    return i18n.ngettext("in %(num)d day", "in %(num)d days", num)


# --------------------------------------------------------------------------- names


def format_person_name(given_name: str, family_name: str, locale: str | None = None) -> str:
    """A person's name in the order the display language expects.

    Han and Hangul names always go family name first without a space (``李小明``,
    ``김민수``); in a Chinese or Korean display a Latin-script name does too
    (``Wang Xiaoming``); elsewhere given name first (``Сергій Коваленко``).
    """
    return compose_display_name(
        given_name,
        family_name,
        family_first=_locale(locale).split("-")[0] in FAMILY_NAME_FIRST_LOCALES or None,
    )


# --------------------------------------------------------------------------- collation


def name_collation(
    dialect: str, locale: str | None = None, available: set[str] | None = None
) -> str | None:
    """The collation to sort names with on *dialect*, or ``None`` for the column's own.

    PostgreSQL with ICU gets the display language's collation (``zh-x-icu`` sorts
    Han names by pinyin, ``ko-x-icu`` Hangul in dictionary order) or the root
    ``und-x-icu``; SQLite keeps the stored ``sort_name`` order (case-folded,
    accent-free, see :func:`core.identity.sort_key`).
    """
    if dialect != "postgresql":
        return None
    wanted = ICU_COLLATIONS.get(_locale(locale).split("-")[0], ROOT_COLLATION)
    if available is None:
        return wanted
    for name in (wanted, ROOT_COLLATION):
        if name in available:
            return name
    return None


_ICU_CACHE: dict[str, frozenset[str]] = {}


def _icu_collations(session: Session) -> frozenset[str]:
    from sqlalchemy import text

    bind = session.get_bind()
    key = repr(bind.engine.url)
    if key not in _ICU_CACHE:
        rows = session.execute(
            text("SELECT collname FROM pg_collation WHERE collname LIKE '%-x-icu'")
        )
        _ICU_CACHE[key] = frozenset(row[0] for row in rows)
    return _ICU_CACHE[key]


def order_by_name(
    session: Session, column: ColumnElement[str], locale: str | None = None
) -> ColumnElement[Any]:
    """*column* (e.g. ``Patient.sort_name``) collated for the display language when the
    database can; use it in ``select(...).order_by(order_by_name(session, col), Patient.id)``.
    """
    dialect = session.get_bind().dialect.name
    available = set(_icu_collations(session)) if dialect == "postgresql" else set()
    collation = name_collation(dialect, locale, available)
    return column.collate(collation) if collation else column
