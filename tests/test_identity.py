"""Normalising phones, e-mails and names (no database)."""

import pytest

from core.errors import InvalidEmail, InvalidPhoneNumber
from core.identity import compose_display_name, normalize_email, normalize_phone, sort_key


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("0812-3456-7890", "ID", "+6281234567890"),
        ("+62 812 3456 7890", None, "+6281234567890"),
        ("0062 812 3456 7890", "KR", "+6281234567890"),
        ("(0812) 3456.7890", "ID", "+6281234567890"),
        ("138 1234 5678", "CN", "+8613812345678"),
        ("8 (912) 345-67-89", "RU", "+79123456789"),
        ("050 123 4567", "UA", "+380501234567"),
        ("010-1234-5678", "KR", "+821012345678"),
    ],
)
def test_phone_formats_normalise_to_one_e164(raw, region, e164):
    assert normalize_phone(raw, region) == e164


@pytest.mark.parametrize("raw", ["", "abc", "0812-ABC", "12", "+999 1234", "0812 3456 7890 ext 5"])
def test_bad_phone_is_a_clear_error_naming_the_value(raw):
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone(raw, "ID")
    assert info.value.field == "phone"
    if raw:
        assert repr(raw) in str(info.value)


def test_email_is_lower_cased_and_checked():
    assert normalize_email("  Siti.Rahayu@Example.CO.ID ") == "siti.rahayu@example.co.id"
    with pytest.raises(InvalidEmail):
        normalize_email("not-an-address")


@pytest.mark.parametrize(
    ("given", "family", "display"),
    [
        ("小明", "李", "李小明"),
        ("민수", "김", "김민수"),
        ("Сергій", "Коваленко", "Сергій Коваленко"),
    ],
)
def test_display_name_order_follows_the_script(given, family, display):
    assert compose_display_name(given, family) == display


def test_sort_key_ignores_case_and_accents():
    assert sort_key("Ångström", "Élise", "") == sort_key("angstrom", "elise", "")


def test_national_fast_path_agrees_with_the_full_parse_on_every_region():
    import random

    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    from core.errors import InvalidPhoneNumber
    from core.identity import normalize_phone, parse_phone

    def outcome(normalize, text, region):
        try:
            return normalize(text, region)
        except InvalidPhoneNumber as exc:
            return f"error: {exc}"

    rng = random.Random(5)
    cases = [("0812 3456 7890", "ID"), ("8 (912) 345-67-89", "RU"), ("12-abc", "ID")]
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for style in (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL):
                text = phonenumbers.format_number(example, style)
                cases.append((text, region))
                for _ in range(8):  # other digits, one more or one less
                    other = "".join(
                        rng.choice("0123456789") if c.isdigit() and rng.random() < 0.3 else c
                        for c in text
                    )
                    cases += [(other, region), (other + "5", region), (other[:-1], region)]
        code = str(phonenumbers.country_code_for_region(region))
        for prefix in ("", "0", "8", "00", "1", code, "0" + code):  # random national-looking ones
            digits = prefix + "".join(rng.choice("0123456789") for _ in range(rng.randint(2, 12)))
            cases.append(("".join(c + rng.choice(("", "", " ", "-", ".")) for c in digits), region))
    for text, region in cases:
        expected = outcome(parse_phone, text, region)
        assert outcome(normalize_phone, text, region) == expected, (text, region)
