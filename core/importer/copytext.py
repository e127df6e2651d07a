"""Rows rendered in PostgreSQL's ``COPY`` text format.

Workers render each new patient's row and contact points here, so the main
process only prefixes ids and timestamps before streaming them to ``COPY``.
"""

from __future__ import annotations

import datetime as dt
import re

from core.importer.rows import ParsedRow

_SPECIAL = re.compile(r"[\\\t\n\r]")
#: what a str.format template must escape too
_TEMPLATE_SPECIAL = re.compile(r"[\\\t\n\r{}]")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def text_field(value: str | dt.date | None) -> str:
    """One value in COPY text format (``\\N`` for NULL, specials escaped)."""
    if value is None:
        return NULL
    if isinstance(value, dt.date):
        return value.isoformat()
    return value.translate(_ESCAPES) if _SPECIAL.search(value) else value


def _patient_fields(row: ParsedRow) -> list[str | None]:
    """The patient's columns after ``id``, up to ``is_lead`` (see ``PATIENT_COLUMNS``)."""
    birth = row.birth_date
    return [
        row.mrn,
        row.given_name,
        row.family_name,
        row.display_name,
        row.sort_name,
        birth.isoformat() if birth is not None else None,
        row.sex,
        row.language,
        row.country,
        row.source,
    ]


def render_patient(row: ParsedRow) -> str:
    """The patient's columns after ``id`` and before the timestamps (see ``PATIENT_COLUMNS``)."""
    fields = [*_patient_fields(row), "f"]  # f: is_lead
    if _SPECIAL.search("".join([v for v in fields if v is not None])):
        return "\t".join([text_field(v) for v in fields])
    return "\t".join([NULL if v is None else v for v in fields])  # nothing to escape: one check


def render_contacts(row: ParsedRow) -> list[str]:
    """``\\tkind\\tvalue\\tis_primary\\tverified\\t`` each; the first of a kind is primary."""
    out = []
    for kind, values in (("phone", row.phones), ("whatsapp", row.whatsapp), ("email", row.emails)):
        for i, value in enumerate(values):
            out.append(f"\t{kind}\t{text_field(value)}\t{'t' if i == 0 else 'f'}\tf\t")
    return out


def render(row: ParsedRow) -> ParsedRow:
    """Fill the row's pre-rendered COPY text (done in the worker process)."""
    row.copy_patient = render_patient(row)
    row.copy_contacts = render_contacts(row)
    return row


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}") if "{" in text or "}" in text else text


def patient_template(row: ParsedRow) -> str:
    """The patient's whole COPY line as a :meth:`str.format` template of ``(id, timestamp)``."""
    return "{0}\t" + _braces(render_patient(row)) + "\t{1}\t{1}\n"


def contacts_template(row: ParsedRow) -> str:
    """The row's contact point lines as a :meth:`str.format` template of ``(id, timestamp)``."""
    return "".join("{0}" + _braces(suffix) + "{1}\n" for suffix in render_contacts(row))


def templates(row: ParsedRow) -> tuple[str, str]:
    """:func:`patient_template` and :func:`contacts_template` in one pass (what workers send)."""
    fields = _patient_fields(row)
    if _TEMPLATE_SPECIAL.search("".join([v for v in fields if v is not None])):
        patient = patient_template(row)
    else:
        line = "\t".join([NULL if v is None else v for v in fields])
        patient = "{0}\t" + line + "\tf\t{1}\t{1}\n"  # f: is_lead
    parts = []
    for kind, values in (("phone", row.phones), ("whatsapp", row.whatsapp), ("email", row.emails)):
        primary = "t"
        for value in values:
            if _TEMPLATE_SPECIAL.search(value):
                value = _braces(text_field(value))
            parts.append(f"{{0}}\t{kind}\t{value}\t{primary}\tf\t{{1}}\n")
            primary = "f"
    return patient, "".join(parts)
