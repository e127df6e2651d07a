"""Mapping CSV headers to the fields an import understands.

Headers are matched case- and space-insensitively (``Given Name``,
``given_name`` and ``GIVEN-NAME`` are the same column).  The table of
understood columns and their aliases is :data:`ALIASES`; the package docstring
documents it for people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: field -> accepted header spellings (after :func:`normalise_header`)
ALIASES: dict[str, tuple[str, ...]] = {
    "mrn": ("mrn", "medical_record_number", "record_number"),
    "given_name": ("given_name", "first_name", "given"),
    "family_name": ("family_name", "last_name", "surname", "family"),
    "display_name": ("display_name", "name", "full_name"),
    "birth_date": ("birth_date", "date_of_birth", "dob", "birthdate"),
    "sex": ("sex", "gender"),
    "phone": ("phone", "phones", "mobile", "telephone", "tel", "phone_number"),
    "whatsapp": ("whatsapp",),
    "email": ("email", "emails", "e_mail", "email_address"),
    "language": ("language", "preferred_language", "lang"),
    "region": ("region", "phone_region"),
    "country": ("country",),
    "tags": ("tags", "tag"),
    "conditions": ("conditions", "condition"),
    "source": ("source", "lead_source"),
}

#: the columns ``careloop patients export`` writes, in this order
EXPORT_COLUMNS: tuple[str, ...] = (
    "mrn",
    "given_name",
    "family_name",
    "display_name",
    "birth_date",
    "sex",
    "phone",
    "whatsapp",
    "email",
    "language",
    "region",
    "country",
    "tags",
    "conditions",
    "source",
)

#: fields that may appear in several columns (their values are concatenated)
MULTI_FIELDS = frozenset({"phone", "whatsapp", "email", "tags", "conditions"})

_LOOKUP = {alias: field for field, aliases in ALIASES.items() for alias in aliases}
_SEPARATORS = re.compile(r"[\s\-\.]+")
_NUMBERED = re.compile(r"^(phone|mobile|email|tel|whatsapp)_?\d+$")


def normalise_header(name: str) -> str:
    """``" Given Name "`` -> ``"given_name"`` (BOM, case, spaces, dashes ignored)."""
    return _SEPARATORS.sub("_", name.replace("\ufeff", "").strip().lower()).strip("_")


@dataclass(frozen=True)
class HeaderMap:
    """Which column index feeds which field, and the headers nobody understood."""

    #: field -> column indexes (several for multi-value fields such as ``phone``)
    fields: dict[str, tuple[int, ...]]
    unknown: tuple[str, ...]
    width: int

    @property
    def pairs(self) -> list[tuple[str, int]]:
        """``(field, column index)`` for every mapped column, in column order."""
        return sorted(
            ((name, i) for name, indexes in self.fields.items() for i in indexes),
            key=lambda pair: pair[1],
        )


def map_header(header: list[str]) -> HeaderMap:
    """Map a header row; unknown columns are listed, not refused."""
    fields: dict[str, list[int]] = {}
    unknown: list[str] = []
    for index, raw in enumerate(header):
        key = normalise_header(raw)
        field = _LOOKUP.get(key)
        if field is None:
            numbered = _NUMBERED.match(key)
            if numbered:
                field = _LOOKUP.get(numbered.group(1))
        if field is None:
            if key:
                unknown.append(raw.strip())
            continue
        if field in fields and field not in MULTI_FIELDS:
            unknown.append(raw.strip())  # a second "given_name" column is ignored
            continue
        fields.setdefault(field, []).append(index)
    return HeaderMap(
        fields={k: tuple(v) for k, v in fields.items()}, unknown=tuple(unknown), width=len(header)
    )
