"""Normalising what identifies a patient: phone numbers, e-mails, names."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from core.errors import InvalidEmail, InvalidPhoneNumber
from core.phone_national import national_e164

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: what a written phone number may contain besides digits (letters are refused, not
#: read as keypad digits: in a CRM "0812-ABC" is a typo, not a vanity number)
_PHONE_UNEXPECTED = re.compile(r"[^0-9\s()+\-./\u00a0]")
_FAMILY_FIRST_SCRIPTS = ("CJK", "HANGUL", "HIRAGANA", "KATAKANA")


def normalize_phone(raw: str, region: str | None = None) -> str:
    """Return *raw* as E.164 (``+6281234567890``).

    *region* (ISO 3166 alpha-2) is used for numbers written without a country
    code.  Raises :class:`InvalidPhoneNumber` naming the value when the number
    cannot be parsed or is not a possible number.  A national-format number
    takes a faster path with the same result (:mod:`core.phone_national`).
    """
    fast = national_e164(raw, region) if raw else None
    return fast if fast is not None else parse_phone(raw, region)


def parse_phone(raw: str, region: str | None = None) -> str:
    """:func:`normalize_phone` through ``phonenumbers.parse`` for every number."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("phone number is empty", field="phone")
    bad = _PHONE_UNEXPECTED.search(text)
    if bad:
        raise InvalidPhoneNumber(
            f"{raw!r} is not a phone number (unexpected character {bad.group()!r})", field="phone"
        )
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, (region or "").upper() or None)
    except NumberParseException as exc:
        raise InvalidPhoneNumber(
            f"{raw!r} is not a phone number ({_parse_reason(exc)})", field="phone"
        ) from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhoneNumber(
            f"{raw!r} is not a possible phone number for region "
            f"{phonenumbers.region_code_for_number(number) or region or '?'}",
            field="phone",
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def try_normalize_phone(raw: str, region: str | None = None) -> str | None:
    """Like :func:`normalize_phone` but returns ``None`` instead of raising."""
    try:
        return normalize_phone(raw, region)
    except InvalidPhoneNumber:
        return None


def _parse_reason(exc: NumberParseException) -> str:
    return {
        NumberParseException.INVALID_COUNTRY_CODE: "unknown or missing country code",
        NumberParseException.NOT_A_NUMBER: "not a number",
        NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        NumberParseException.TOO_SHORT_NSN: "too short",
        NumberParseException.TOO_LONG: "too long",
    }.get(exc.error_type, "unparseable")


def normalize_email(raw: str) -> str:
    """Trim and lower-case an e-mail address; raise :class:`InvalidEmail` if malformed."""
    text = (raw or "").strip()
    if not _EMAIL.match(text) or len(text) > 320:
        raise InvalidEmail(f"{raw!r} is not an e-mail address", field="email")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.encode('idna').decode('ascii').lower()}".lower()


def looks_like_email(text: str) -> bool:
    return "@" in text


def is_family_name_first(text: str) -> bool:
    """True when *text* is written in a script whose names put the family name first."""
    for char in text:
        if char.isalpha():
            name = unicodedata.name(char, "")
            return name.startswith(_FAMILY_FIRST_SCRIPTS)
    return False


def compose_display_name(
    given_name: str, family_name: str, *, family_first: bool | None = None
) -> str:
    """A display name from its parts: ``李小明`` / ``김민수`` / ``Сергій Коваленко``.

    *family_first* forces the order (e.g. ``Wang Xiaoming`` in a Chinese display);
    ``None`` decides from the script (Han, Hangul, kana go family name first).
    """
    given, family = given_name.strip(), family_name.strip()
    if family_first is None:
        family_first = is_family_name_first(family + given)
    if family_first:
        joiner = "" if _is_cjk_ideographic(family + given) else " "
        return joiner.join(part for part in (family, given) if part)
    return " ".join(part for part in (given, family) if part)


def _is_cjk_ideographic(text: str) -> bool:
    """Han and Hangul names are written without a space between family and given name."""
    return all(
        unicodedata.name(ch, "").startswith(("CJK", "HANGUL")) for ch in text if not ch.isspace()
    )


def sort_key(family_name: str, given_name: str, display_name: str) -> str:
    """A case-folded, accent-free key: family name, then given name.

    Database collations differ between SQLite and PostgreSQL; this key sorts
    the same on both.  Scripts keep their own order (Cyrillic after Latin,
    Hangul syllables in dictionary order, Han by code point).
    """
    base = f"{family_name} {given_name}".strip() or display_name
    decomposed = unicodedata.normalize("NFKD", base.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # NFKD splits Hangul syllables into jamo; recompose them so they sort as syllables.
    return unicodedata.normalize("NFC", stripped)[:250]
