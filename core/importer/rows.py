"""Turning one CSV record into a validated row, or a reason to reject it.

This module runs in the import's worker processes: it takes and returns plain,
picklable values and never touches the database.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any

from core.errors import ValidationError
from core.i18n import gettext as _
from core.identity import compose_display_name, normalize_email, normalize_phone, sort_key
from core.importer.columns import MULTI_FIELDS, HeaderMap
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
    #: pre-rendered COPY text (PostgreSQL only; ``None`` when stale or not rendered)
    copy_patient: str | None = None
    copy_contacts: list[str] | None = None
    #: the patient's id once the row was written (set by the writer)
    patient_id: int | None = None

    def __reduce__(self) -> tuple[type[ParsedRow], tuple[object, ...]]:
        # a plain tuple pickles several times faster than a slots dataclass
        return (ParsedRow, tuple(getattr(self, name) for name in self.__slots__))

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


#: the same number often comes twice (phone and WhatsApp, repeated rows): parse it once;
#: an invalid one raises every time (exceptions are not cached)
_phone = functools.lru_cache(maxsize=1024)(normalize_phone)


@functools.lru_cache(maxsize=512)
def _language(value: str) -> str | None:
    return language_tag(value)


def unescape_cell(cell: str) -> str:
    """Undo export's formula neutralisation (``'+62...`` -> ``+62...``) and trim."""
    if cell[:1] == "'" and cell[1:2] in FORMULA_STARTS:
        cell = cell[1:]
    return cell.strip()


def split_list(text: str, *, commas: bool = True) -> list[str]:
    """``"a; b;;c"`` -> ``["a", "b", "c"]`` (``;``, and ``,`` when *commas*, separate items)."""
    if commas:
        text = text.replace(",", ";")
    return [part for part in map(str.strip, text.split(";")) if part]


def row_values(pairs: list[tuple[str, int]], record: list[str]) -> dict[str, str]:
    """Non-empty cells by field; several columns of one field are joined with ``;``."""
    out: dict[str, str] = {}
    for name, index in pairs:
        cell = record[index]
        if cell:
            # unescape_cell, inlined (the hot loop of a worker)
            if cell[0] == "'" and cell[1:2] in FORMULA_STARTS:
                cell = cell[1:]
            cell = cell.strip()
            if not cell:
                continue
            if name in out:
                if name in MULTI_FIELDS:
                    out[name] += ";" + cell
            else:
                out[name] = cell
    return out


def _many(values: dict[str, str], name: str) -> list[str]:
    text = values.get(name)
    if not text:
        return []
    return split_list(text, commas=name != "conditions")  # a condition label may hold a comma


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
    return parse_with(header.pairs, header.width, line, record, default_region)


def parse_with(
    pairs: list[tuple[str, int]], width: int, line: int, record: list[str], default_region: str
) -> ParsedRow | Reject:
    """:func:`parse_record` with the header's ``pairs`` computed once by the caller."""
    if len(record) != width:
        return Reject(
            line,
            record,
            _(
                "malformed line: expected %(expected)d columns, found %(found)d",
                expected=width,
                found=len(record),
            ),
        )
    try:
        return _parse(line, row_values(pairs, record), default_region)
    except ValidationError as exc:
        return Reject(line, record, str(exc))


def _parse(line: int, values: dict[str, str], default_region: str) -> ParsedRow:
    get = values.get
    sex = get("sex", "").lower()
    profile = validate_profile(
        {
            "mrn": get("mrn"),
            "given_name": get("given_name", ""),
            "family_name": get("family_name", ""),
            "display_name": get("display_name"),
            "birth_date": _birth_date(get("birth_date", "")),
            "sex": _SEX_ALIASES.get(sex, sex),
            "country": get("country"),
            "lead_source": get("source"),
        }
    )
    given, family = profile["given_name"], profile["family_name"]
    display = profile["display_name"] or compose_display_name(given, family)
    if not display:
        raise ValidationError(_("missing name: give a given, family or display name"))
    region = get("region", default_region).upper()
    if len(region) != 2 or not region.isalpha():
        raise ValidationError(_("region %(value)r is not an ISO country code", value=region))
    tags = _unique([t.lower() for t in _many(values, "tags")])
    if any(len(t) > 80 for t in tags):
        raise ValidationError(_("a tag is longer than 80 characters"))
    language = get("language")
    source = profile["lead_source"]
    return ParsedRow(
        line,
        given[:120],
        family[:120],
        display[:250],
        sort_key(family, given, display),
        profile["mrn"],
        profile["birth_date"],
        profile["sex"],
        _language(language) if language else None,
        profile["country"],
        source[:120] if source else None,
        _unique([_phone(p, region) for p in _many(values, "phone")]),
        _unique([_phone(p, region) for p in _many(values, "whatsapp")]),
        _unique([normalize_email(e) for e in _many(values, "email")]),
        tags,
        _conditions(_many(values, "conditions")),
    )


# -- worker-process entry points ----------------------------------------------

_WORKER: dict[str, object] = {}


def init_worker(header: HeaderMap, default_region: str, render_copy: bool = False) -> None:
    """Pool initializer: remember the header map, the default region, the output form."""
    _WORKER["header"] = header
    _WORKER["region"] = default_region
    _WORKER["render"] = render_copy


def reparse(
    pairs: list[tuple[str, int]],
    width: int,
    default_region: str,
    record: tuple[int, list[str] | None, str],
) -> ParsedRow:
    """Parse again, in the main process, a record a worker found good (the same result)."""
    line, cells, _error = record
    row = parse_with(pairs, width, line, cells or [], default_region)
    if not isinstance(row, ParsedRow):  # parsing is deterministic: never happens
        raise RuntimeError(f"line {line} parsed differently in the main process")
    return row


def parse_chunk(records: list[tuple[int, list[str] | None, str]]) -> list[ParsedRow | Reject] | Any:
    """Parse a chunk of ``(line, cells, csv error)`` records in a worker process.

    With COPY rendering on (PostgreSQL) the result is a
    :class:`~core.importer.packed.PackedChunk`.
    """
    header = _WORKER["header"]
    region = _WORKER["region"]
    assert isinstance(header, HeaderMap) and isinstance(region, str)
    pairs, width = header.pairs, header.width
    out = [
        parse_with(pairs, width, line, cells, region)
        if cells is not None
        else Reject(line, [], error)
        for line, cells, error in records
    ]
    if _WORKER.get("render"):
        from core.importer.packed import pack

        return pack(out)
    return out
