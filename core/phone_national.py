"""E.164 for a number in its region's national format, without ``phonenumbers.parse``.

Almost every number staff type or a patient file holds is written in its
region's national format: digits, spaces and ``- . ( ) /``, with the national
prefix (``0812 3456 7890``, ``8 (912) 345-67-89``).  For those,
:func:`national_e164` takes the same steps as ``phonenumbers.parse`` followed by
``is_possible_number`` and E.164 formatting, with ``phonenumbers``' own helpers
and metadata, minus the generic work (RFC 3966, extensions, Unicode digits,
keypad letters): about 4 µs instead of 15.  It answers ``None`` for anything
else — a ``+`` or an international prefix, a number starting with the region's
country code, a region whose prefix is rewritten (Argentina, Mexico...), a
leading zero kept in the number, a number that is not possible — and
:func:`core.identity.normalize_phone` then parses it in full, so results and
error messages are the same either way (``tests/test_identity.py`` compares
both on numbers of every region).

It uses three of ``phonenumbers``' internal helpers; that test fails first if a
release changes them.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers import phonenumberutil as util

#: national format: what phonenumbers would only strip (all of it is its punctuation)
_NATIONAL = re.compile(r"[0-9 ()\-./]+")
_NOT_DIGIT = re.compile(r"[^0-9]+")
_Result = util.ValidationResult
#: a stripped national prefix is kept unless the rest is one of these (phonenumbers.parse)
_PREFIX_NOT_STRIPPED = (_Result.TOO_SHORT, _Result.IS_POSSIBLE_LOCAL_ONLY, _Result.INVALID_LENGTH)
_POSSIBLE = (_Result.IS_POSSIBLE, _Result.IS_POSSIBLE_LOCAL_ONLY)


@functools.cache
def _region(region: str) -> tuple[Any, str, Any, Any] | None:
    """(metadata, country code, international prefix pattern, metadata for is_possible)."""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        return None
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or metadata.national_prefix_transform_rule:
        return None
    code = metadata.country_code
    # is_possible_number uses the main region of the country code (US for +1, RU for +7)
    possible = PhoneMetadata.metadata_for_region_or_calling_code(
        code, util.region_code_for_country_code(code)
    )
    if possible is None:
        return None
    idd = metadata.international_prefix
    return metadata, str(code), util.re_compile(idd) if idd else None, possible


def national_e164(raw: str, region: str | None) -> str | None:
    """*raw* in E.164 when it is a possible national-format number of *region*, else ``None``."""
    text = raw.strip()
    found = _region(region.upper()) if region else None
    if found is None or len(text) > 250 or not _NATIONAL.fullmatch(text):
        return None
    metadata, code, idd, possible = found
    digits = _NOT_DIGIT.sub("", text)
    if (
        len(digits) < 3  # phonenumbers' viability rules differ below 3 digits
        or text.startswith("00")  # read as "+" by normalize_phone
        or (idd is not None and idd.match(digits))
        or digits.startswith(code)
    ):
        return None
    number = digits
    _carrier, stripped, _done = util._maybe_strip_national_prefix_carrier_code(number, metadata)
    if util._test_number_length(stripped, metadata) not in _PREFIX_NOT_STRIPPED:
        number = stripped
    if (
        len(number) < util._MIN_LENGTH_FOR_NSN
        or len(number) > util._MAX_LENGTH_FOR_NSN
        or number[0] == "0"  # a leading zero that stays: phonenumbers keeps it aside
        or util._test_number_length(number, possible) not in _POSSIBLE
    ):
        return None
    return "+" + code + number
