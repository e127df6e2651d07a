"""Patient export to CSV (``careloop patients export FILE.csv``).

Writes the columns :mod:`core.importer` reads (``core.importer.columns.EXPORT_COLUMNS``),
so an exported file imports back unchanged.  The file is UTF-8 with a BOM (Excel
then reads it as UTF-8).  Cells that a spreadsheet would run as a formula
(starting with ``= + - @``, tab or carriage return) get a leading apostrophe;
the importer removes it again.  Patients are streamed in batches, never all
loaded at once; merged records are left out unless asked for.  One audit
event records the export (file name and count, no patient data).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import Actor, record
from core.importer.columns import EXPORT_COLUMNS
from core.importer.rows import FORMULA_STARTS
from core.models import Condition, ContactPoint, Patient, Tag, patient_conditions, patient_tags

BATCH = 2000

_PATIENT_COLUMNS = (
    Patient.id,
    Patient.mrn,
    Patient.given_name,
    Patient.family_name,
    Patient.display_name,
    Patient.birth_date,
    Patient.sex,
    Patient.preferred_language,
    Patient.country,
    Patient.lead_source,
)


def neutralise(cell: str) -> str:
    """Prefix a cell a spreadsheet would evaluate as a formula with ``'``."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def export_csv(
    session: Session,
    path: Path | str,
    actor: Actor,
    *,
    include_merged: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write patients to *path*; return how many were written.

    The caller commits *session* (it holds the audit event).
    """
    path = Path(path)
    query = select(*_PATIENT_COLUMNS).order_by(Patient.id)
    if not include_merged:
        query = query.where(Patient.merged_into_id.is_(None))
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_COLUMNS)
        result = session.execute(query.execution_options(yield_per=BATCH))
        for batch in result.partitions():
            writer.writerows(_rows(session, batch))
            count += len(batch)
            if on_progress:
                on_progress(len(batch))
    record(
        session,
        actor,
        "export",
        "patient",
        None,
        details={"file": path.name, "count": count, "include_merged": include_merged},
    )
    return count


def _rows(session: Session, batch: Sequence[Any]) -> list[list[str]]:
    ids = [row.id for row in batch]
    contacts: dict[tuple[int, str], list[str]] = defaultdict(list)
    for pid, kind, value in session.execute(
        select(ContactPoint.patient_id, ContactPoint.kind, ContactPoint.value)
        .where(ContactPoint.patient_id.in_(ids))
        .order_by(ContactPoint.patient_id, ContactPoint.is_primary.desc(), ContactPoint.id)
    ):
        contacts[pid, kind].append(value)
    tags: dict[int, list[str]] = defaultdict(list)
    for pid, name in session.execute(
        select(patient_tags.c.patient_id, Tag.name)
        .join(Tag, Tag.id == patient_tags.c.tag_id)
        .where(patient_tags.c.patient_id.in_(ids))
        .order_by(Tag.name)
    ):
        tags[pid].append(name)
    conditions: dict[int, list[str]] = defaultdict(list)
    for pid, code, label in session.execute(
        select(patient_conditions.c.patient_id, Condition.code, Condition.label)
        .join(Condition, Condition.id == patient_conditions.c.condition_id)
        .where(patient_conditions.c.patient_id.in_(ids))
        .order_by(Condition.code)
    ):
        conditions[pid].append(code if label in ("", code) else f"{code}:{label}")
    out = []
    for row in batch:
        values = {
            "mrn": row.mrn,
            "given_name": row.given_name,
            "family_name": row.family_name,
            "display_name": row.display_name,
            "birth_date": row.birth_date.isoformat() if row.birth_date else "",
            "sex": row.sex,
            "phone": ";".join(contacts[row.id, "phone"]),
            "whatsapp": ";".join(contacts[row.id, "whatsapp"]),
            "email": ";".join(contacts[row.id, "email"]),
            "language": row.preferred_language,
            "region": "",
            "country": row.country,
            "tags": ";".join(tags[row.id]),
            "conditions": ";".join(conditions[row.id]),
            "source": row.lead_source,
        }
        out.append([neutralise(values[name] or "") for name in EXPORT_COLUMNS])
    return out
