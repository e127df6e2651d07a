"""Locale-aware formatting: dates in the right zone, money, numbers, name collation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import formatting, i18n
from core.config import Config
from core.identity import sort_key
from core.models import Patient

# 23:30 UTC on 5 March is already 6 March in Jakarta (UTC+7), Seoul, Shanghai,
# Moscow and Kyiv (UTC+2); still 5 March in UTC itself.  CLDR puts a narrow
# no-break space before the Slavic year abbreviation.
LATE = dt.datetime(2026, 3, 5, 23, 30, tzinfo=dt.UTC)


def test_utc_converted_to_clinic_zone() -> None:
    assert formatting.format_date(LATE, "long", tz="Asia/Jakarta", locale="id") == "6 Maret 2026"
    assert (
        formatting.format_date(LATE, "long", tz="Europe/Kyiv", locale="uk")
        == "6 березня 2026\u202fр."
    )
    assert formatting.format_date(LATE, "long", tz="UTC", locale="uk") == "5 березня 2026\u202fр."
    assert formatting.format_time(LATE, tz="Asia/Jakarta", locale="id") == "06.30"
    assert formatting.format_time(LATE, tz="Europe/Moscow", locale="ru") == "02:30"


def test_naive_times_are_utc() -> None:
    naive = LATE.replace(tzinfo=None)
    assert formatting.to_local(naive, "Asia/Seoul").hour == 8
    assert formatting.to_local(naive, "Asia/Seoul").utcoffset() == dt.timedelta(hours=9)


def test_ukrainian_month_names() -> None:
    months = [
        formatting.format_date(dt.date(2026, m, 1), "d MMMM", locale="uk") for m in (1, 5, 12)
    ]
    assert months == ["1 січня", "1 травня", "1 грудня"]
    assert formatting.format_date(dt.date(2026, 5, 1), "LLLL", locale="uk") == "травень"


def test_korean_uses_wide_day_period() -> None:
    text = formatting.format_datetime(LATE, "medium", tz="Asia/Seoul", locale="ko")
    assert text == "2026. 3. 6. 오전 8:30:00"
    assert formatting.format_time(dt.time(14, 5), locale="ko") == "오후 2:05"


def test_chinese_and_russian_dates() -> None:
    assert formatting.format_date(LATE, "long", tz="Asia/Shanghai", locale="zh") == "2026年3月6日"
    assert formatting.format_date(LATE, "full", tz="Europe/Moscow", locale="ru") == (
        "пятница, 6 марта 2026\u202fг."
    )


def _same_as_babel(
    locale: str, zones: Iterable[str], formats: Iterable[str], moments: list[dt.datetime]
) -> None:
    """format_datetime gives Babel's own text for each zone, format and moment."""
    from babel import dates as babel_dates

    for zone in zones:
        for fmt in formats:
            for moment in moments:
                local = formatting.to_local(moment, zone)
                pattern = formatting._datetime_pattern(fmt, locale)
                expected = babel_dates.format_datetime(
                    local, pattern, tzinfo=local.tzinfo, locale=locale
                )
                assert formatting.format_datetime(moment, fmt, zone, locale) == expected


@pytest.mark.parametrize("locale", i18n.SUPPORTED_LOCALES)
def test_datetime_patterns_parsed_once_give_babels_text(locale: str) -> None:
    """format_datetime keeps each locale's parsed patterns: same text as Babel's own call."""
    moments = [
        LATE,
        dt.datetime(2026, 1, 1, 0, 0, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 29, 0, 59, 59, tzinfo=dt.UTC),  # Kyiv's clocks go forward
        dt.datetime(2026, 10, 25, 1, 15, tzinfo=dt.UTC),  # and back
        dt.datetime(2025, 12, 31, 12, 0, tzinfo=dt.UTC),
    ]
    _same_as_babel(
        locale,
        ("UTC", "Asia/Jakarta", "Europe/Kyiv", "Asia/Seoul", "America/New_York"),
        ("short", "medium", "long", "full", "yyyy-MM-dd HH:mm zzzz"),
        moments,
    )
    for zone in ("UTC", "Asia/Seoul", None):
        fixed = formatting.datetime_formatter("medium", zone, locale)
        assert fixed(None) == ""
        for moment in (*moments, LATE.replace(tzinfo=None)):
            assert fixed(moment) == formatting.format_datetime(moment, "medium", zone, locale)
    with i18n.use_locale(locale):  # the current locale when none is given
        assert formatting.format_datetime(LATE, tz="Asia/Seoul") == formatting.format_datetime(
            LATE, "medium", "Asia/Seoul", locale
        )


@pytest.mark.parametrize("locale", i18n.SUPPORTED_LOCALES)
def test_compiled_fields_give_babels_text_for_every_hour_month_and_weekday(locale: str) -> None:
    """The formatter resolves month and weekday names and am/pm once per locale: the text
    must stay Babel's for each of them, and for the fields it leaves to Babel."""
    moments = [dt.datetime(2005, 1, 1, hour, 7, 9, tzinfo=dt.UTC) for hour in range(24)]
    moments += [dt.datetime(2026, month, 10 + month, 12, tzinfo=dt.UTC) for month in range(1, 13)]
    moments += [dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)]
    patterns = (
        "short",
        "medium",
        "long",
        "full",
        "EEEE, d MMMM yyyy 'at' h:mm a",
        "E d LLL yy, HH:mm:ss aaaa G",
        "MMMMM EEEEE w D Q zzzz x '%' K k",
    )
    _same_as_babel(locale, ("Asia/Makassar", "Europe/Kyiv"), patterns, moments)


def test_patient_zone_beats_clinic_zone() -> None:
    config = Config.from_env({}, timezone="Asia/Jakarta")
    patient = SimpleNamespace(time_zone="Asia/Makassar")
    assert str(formatting.timezone_for(patient, config)) == "Asia/Makassar"
    assert str(formatting.timezone_for(SimpleNamespace(time_zone=None), config)) == "Asia/Jakarta"
    assert formatting.timezone_for(None, None) is dt.UTC
    bogus = SimpleNamespace(time_zone="Mars/Olympus")
    assert str(formatting.timezone_for(bogus, config)) == "Asia/Jakarta"


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (150000, "IDR", "id", "Rp150.000"),
        (Decimal("150000.75"), "IDR", "id", "Rp150.001"),  # whole rupiah
        (50000, "KRW", "ko", "₩50,000"),
        (1234.5, "CNY", "zh", "¥1,234.50"),
        (1500, "RUB", "ru", "1\xa0500,00\xa0₽"),
        (1500, "UAH", "uk", "1\xa0500,00\xa0₴"),
        (12.5, "USD", "en", "$12.50"),
        (100, "EUR", "ru", "100,00\xa0€"),
    ],
)
def test_currency(amount: object, currency: str, locale: str, expected: str) -> None:
    assert formatting.format_currency(amount, currency, locale) == expected


def test_currency_defaults_to_clinic_currency() -> None:
    config = Config.from_env({}, currency="KRW")
    with i18n.use_locale("ko"):
        assert formatting.format_currency(12000, config=config) == "₩12,000"
    assert formatting.currency_digits("IDR") == 0
    assert formatting.currency_digits("KRW") == 0
    assert formatting.currency_digits("UAH") == 2


def test_numbers_and_lists() -> None:
    assert formatting.format_number(1234567, "id") == "1.234.567"
    assert formatting.format_number(1234567, "ru") == "1\xa0234\xa0567"
    assert formatting.format_number(1234567, "ko") == "1,234,567"
    assert formatting.format_percent(0.25, "uk") == "25%"
    assert formatting.format_list(["a", "b", "c"], locale="id") == "a, b, dan c"
    assert formatting.format_list(["甲", "乙", "丙"], locale="zh") == "甲、乙和丙"


def test_timedelta_with_plurals() -> None:
    delta = dt.timedelta(days=3)
    assert formatting.format_timedelta(delta, add_direction=True, locale="uk") == "через 3 дні"
    assert formatting.format_timedelta(dt.timedelta(days=5), locale="ru") == "5 дней"


def test_collation_choice() -> None:
    assert formatting.name_collation("sqlite", "zh") is None
    assert formatting.name_collation("postgresql", "zh", {"zh-x-icu", "und-x-icu"}) == "zh-x-icu"
    assert formatting.name_collation("postgresql", "id", {"und-x-icu"}) == "und-x-icu"
    assert formatting.name_collation("postgresql", "ko", set()) is None


def _add(session: Session, given: str, family: str) -> None:
    display = formatting.format_person_name(given, family, "en")
    session.add(
        Patient(
            given_name=given,
            family_name=family,
            display_name=display,
            sort_name=sort_key(family, given, display),
        )
    )


def test_patient_list_sorted_by_name(session: Session) -> None:
    for given, family in [
        ("小明", "张"),
        ("伟", "李"),
        ("芳", "王"),
        ("Ann", "Zed"),
        ("Émile", "abel"),
    ]:
        _add(session, given, family)
    session.commit()
    query = select(Patient.family_name).order_by(
        formatting.order_by_name(session, Patient.sort_name, "zh"), Patient.id
    )
    families = list(session.scalars(query))
    assert families.index("abel") < families.index("Zed")  # case- and accent-insensitive
    han = [f for f in families if f in ("张", "李", "王")]
    if session.get_bind().dialect.name == "postgresql":
        assert han == ["李", "王", "张"]  # ICU zh: by pinyin li, wang, zhang
    else:
        assert han == sorted(han)  # SQLite: the stored sort_name, by code point
