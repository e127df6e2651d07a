"""Turning one CSV record into a validated row, or a reason to reject it.

This module runs in the import's worker processes: it takes and returns plain,
picklable values and never touches the database.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field

from core.errors import ValidationError
from core.i18n import gettext as _
from core.identity import compose_display_name, normalize_email, normalize_phone, sort_key
from core.importer.columns import HeaderMap
from core.services.patients import validate_profile
from core.services.validation import language_tag

#: first characters a spreadsheet would read as a formula (export prefixes them with ')
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: short forms; L/P are Indonesian (laki-laki, perempuan)
_SEX_ALIASES = {
    "f": "female",
    "m": "male",
    "o": "other",
    "u": "unknown",
    "": "unknown",
    "l": "male",
    "p": "female",
}


@dataclass(slots=True)
class ParsedRow:
    """A valid import row, normalised (phones in E.164, e-mails lower-cased)."""

    line: int
    given_name: str
    family_name: str
    display_name: str
    sort_name: str
    mrn: str | None = None
    birth_date: dt.date | None = None
    sex: str = "unknown"
    language: str | None = None
    country: str | None = None
    source: str | None = None
    phones: list[str] = field(default_factory=list)
    whatsapp: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    #: (code, label) pairs
    conditions: list[tuple[str, str]] = field(default_factory=list)

    def keys(self) -> list[tuple[str, str]]:
        """What identifies this patient, strongest first: MRN, phones, e-mails."""
        out = [("mrn", self.mrn)] if self.mrn else []
        out += [("phone", p) for p in self.phones]
        out += [("whatsapp", p) for p in self.whatsapp]
        out += [("email", e) for e in self.emails]
        return out


@dataclass(slots=True)
class Reject:
    """A record that cannot be imported: its line, its original cells and why."""

    line: int
    cells: list[str]
    reason: str


@functools.lru_cache(maxsize=512)
def _language(value: str) -> str | None:
    return language_tag(value)


def unescape_cell(cell: str) -> str:
    """Undo export's formula neutralisation (``'+62...`` -> ``+62...``) and trim."""
    if len(cell) > 1 and cell[0] == "'" and cell[1] in FORMULA_STARTS:
        cell = cell[1:]
    return cell.strip()


def split_list(text: str, *, commas: bool = True) -> list[str]:
    """``"a; b;;c"`` -> ``["a", "b", "c"]`` (``;``, and ``,`` when *commas*, separate items)."""
    if commas:
        text = text.replace(",", ";")
    return [part.strip() for part in text.split(";") if part.strip()]


def _cells(header: HeaderMap, record: list[str], name: str) -> list[str]:
    return [unescape_cell(record[i]) for i in header.fields.get(name, ())]


def _one(header: HeaderMap, record: list[str], name: str) -> str:
    cells = _cells(header, record, name)
    return cells[0] if cells else ""


def _many(header: HeaderMap, record: list[str], name: str) -> list[str]:
    commas = name != "conditions"  # a condition label may hold a comma
    return [
        item for cell in _cells(header, record, name) for item in split_list(cell, commas=commas)
    ]


def _birth_date(text: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            _("birth_date %(value)r is not an ISO date (YYYY-MM-DD)", value=text),
            field="birth_date",
        ) from None


def _conditions(items: list[str]) -> list[tuple[str, str]]:
    out: dict[str, str] = {}
    for item in items:
        code, _sep, label = item.partition(":")
        code = code.strip().upper()
        if not code:
            continue
        if len(code) > 40:
            raise ValidationError(_("condition code %(code)r is too long", code=code[:20]))
        out[code] = (label.strip() or code)[:200]
    return list(out.items())


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def parse_record(
    header: HeaderMap, line: int, record: list[str], default_region: str
) -> ParsedRow | Reject:
    """Validate one record (already split into cells) numbered *line* in the file."""
    if len(record) != header.width:
        return Reject(
            line,
            record,
            _(
                "malformed line: expected %(expected)d columns, found %(found)d",
                expected=header.width,
                found=len(record),
            ),
        )
    try:
        return _parse(header, line, record, default_region)
    except ValidationError as exc:
        return Reject(line, record, str(exc))


def _parse(header: HeaderMap, line: int, record: list[str], default_region: str) -> ParsedRow:
    language = _one(header, record, "language")
    sex = _one(header, record, "sex").lower()
    profile = validate_profile(
        {
            "mrn": _one(header, record, "mrn"),
            "given_name": _one(header, record, "given_name"),
            "family_name": _one(header, record, "family_name"),
            "display_name": _one(header, record, "display_name"),
            "birth_date": _birth_date(_one(header, record, "birth_date")),
            "sex": _SEX_ALIASES.get(sex, sex),
            "country": _one(header, record, "country") or None,
            "lead_source": _one(header, record, "source"),
        }
    )
    given, family = profile["given_name"], profile["family_name"]
    display = profile["display_name"] or compose_display_name(given, family)
    if not display:
        raise ValidationError(_("missing name: give a given, family or display name"))
    region = (_one(header, record, "region") or default_region).upper()
    if len(region) != 2 or not region.isalpha():
        raise ValidationError(_("region %(value)r is not an ISO country code", value=region))
    tags = _unique([t.lower() for t in _many(header, record, "tags")])
    if any(len(t) > 80 for t in tags):
        raise ValidationError(_("a tag is longer than 80 characters"))
    return ParsedRow(
        line=line,
        given_name=given[:120],
        family_name=family[:120],
        display_name=display[:250],
        sort_name=sort_key(family, given, display),
        mrn=profile["mrn"],
        birth_date=profile["birth_date"],
        sex=profile["sex"],
        language=_language(language) if language else None,
        country=profile["country"],
        source=(profile["lead_source"] or None) and profile["lead_source"][:120],
        phones=_unique([normalize_phone(p, region) for p in _many(header, record, "phone")]),
        whatsapp=_unique([normalize_phone(p, region) for p in _many(header, record, "whatsapp")]),
        emails=_unique([normalize_email(e) for e in _many(header, record, "email")]),
        tags=tags,
        conditions=_conditions(_many(header, record, "conditions")),
    )


# -- worker-process entry points ----------------------------------------------

_WORKER: dict[str, object] = {}


def init_worker(header: HeaderMap, default_region: str) -> None:
    """Pool initializer: remember the header map and the default region."""
    _WORKER["header"] = header
    _WORKER["region"] = default_region


def parse_chunk(records: list[tuple[int, list[str] | None, str]]) -> list[ParsedRow | Reject]:
    """Parse a chunk of ``(line, cells, csv error)`` records in a worker process."""
    header = _WORKER["header"]
    region = _WORKER["region"]
    assert isinstance(header, HeaderMap) and isinstance(region, str)
    return [
        parse_record(header, line, cells, region) if cells is not None else Reject(line, [], error)
        for line, cells, error in records
    ]
