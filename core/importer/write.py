"""Writing a planned chunk: new patients in bulk, additions to existing ones.

New patients, their contact points, tags and conditions go through the
dialect's bulk path (``COPY`` on PostgreSQL, ``executemany`` on SQLite).
Existing patients matched by the import are few in a typical file and get
ordinary Core updates; nothing they already have is overwritten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.importer import postgres, sqlite
from core.importer.dedupe import ChunkPlan
from core.importer.rows import ParsedRow
from core.models import Condition, ContactPoint, Patient, Tag, patient_conditions, patient_tags

PATIENT_COLUMNS = (
    "mrn",
    "given_name",
    "family_name",
    "display_name",
    "sort_name",
    "birth_date",
    "sex",
    "preferred_language",
    "country",
    "lead_source",
    "is_lead",
    "created_at",
    "updated_at",
)
CONTACT_COLUMNS = ("patient_id", "kind", "value", "is_primary", "verified", "created_at")
#: ParsedRow attribute -> Patient column, for filling empty fields of existing patients
_FILL = {
    "mrn": "mrn",
    "birth_date": "birth_date",
    "language": "preferred_language",
    "country": "country",
    "source": "lead_source",
    "given_name": "given_name",
    "family_name": "family_name",
}


class ChunkWriter:
    """Writes chunks of one import; caches tag and condition ids between chunks."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        self._tags: dict[str, int] = {}
        self._conditions: dict[str, int] = {}

    # -- bulk primitives ---------------------------------------------------

    def _insert(
        self, session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        if self.postgres:
            postgres.copy_rows(session, table, columns, rows)
        else:
            sqlite.insert_rows(session, table, columns, rows)

    def _insert_ignore(self, session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            make = pg_insert if self.postgres else sqlite_insert
            session.execute(make(table).on_conflict_do_nothing(), rows)

    def tag_ids(self, session: Session, names: Iterable[str]) -> dict[str, int]:
        missing = sorted({n for n in names if n not in self._tags})
        if missing:
            self._insert_ignore(session, Tag.__table__, [{"name": n} for n in missing])
            found = session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(missing)))
            self._tags.update({name: tag_id for name, tag_id in found})
        return self._tags

    def condition_ids(self, session: Session, pairs: Iterable[tuple[str, str]]) -> dict[str, int]:
        missing = {code: label for code, label in pairs if code not in self._conditions}
        if missing:
            rows = [{"code": c, "label": label} for c, label in sorted(missing.items())]
            self._insert_ignore(session, Condition.__table__, rows)
            found = session.execute(
                select(Condition.code, Condition.id).where(Condition.code.in_(list(missing)))
            )
            self._conditions.update({code: cond_id for code, cond_id in found})
        return self._conditions

    # -- a chunk -------------------------------------------------------------

    def write(self, session: Session, plan: ChunkPlan, now: dt.datetime) -> list[int]:
        """Write *plan*; return the ids of the patients it created."""
        ids = self._create(session, plan.new, now)
        if plan.updates:
            self._update(session, plan.updates, now)
        return ids

    def _create(self, session: Session, rows: list[ParsedRow], now: dt.datetime) -> list[int]:
        if not rows:
            return []
        values = [
            (
                r.mrn,
                r.given_name,
                r.family_name,
                r.display_name,
                r.sort_name,
                r.birth_date,
                r.sex,
                r.language,
                r.country,
                r.source,
                False,
                now,
                now,
            )
            for r in rows
        ]
        if self.postgres:
            ids = postgres.reserve_ids(session, "patients", len(rows))
            postgres.copy_rows(
                session,
                "patients",
                ("id", *PATIENT_COLUMNS),
                ((pid, *row) for pid, row in zip(ids, values, strict=True)),
            )
        else:
            dicts = [dict(zip(PATIENT_COLUMNS, row, strict=True)) for row in values]
            ids = sqlite.insert_returning_ids(session, "patients", dicts)
        self._add_details(session, list(zip(ids, rows, strict=True)), now)
        return ids

    def _add_details(
        self,
        session: Session,
        pairs: list[tuple[int, ParsedRow]],
        now: dt.datetime,
        existing: set[tuple[int, str, str]] | None = None,
    ) -> None:
        """Contact points, tag and condition links for (patient id, row) pairs.

        *existing* holds the contact points the patients already have; ``None``
        means the patients are new (nothing to skip, plain bulk inserts).
        """
        have = existing or set()
        kinds = {(p, k) for p, k, _v in have}
        contacts: list[tuple[Any, ...]] = []
        for pid, row in pairs:
            for kind, values in (
                ("phone", row.phones),
                ("whatsapp", row.whatsapp),
                ("email", row.emails),
            ):
                has_kind = (pid, kind) in kinds
                for value in values:
                    if (pid, kind, value) in have:
                        continue
                    contacts.append((pid, kind, value, not has_kind, False, now))
                    has_kind = True
        self._insert(session, "contact_points", CONTACT_COLUMNS, contacts)
        tag_ids = self.tag_ids(session, (t for _pid, row in pairs for t in row.tags))
        tag_links = {(pid, tag_ids[t]) for pid, row in pairs for t in row.tags}
        cond_ids = self.condition_ids(session, (c for _pid, row in pairs for c in row.conditions))
        cond_links = {(pid, cond_ids[code]) for pid, row in pairs for code, _l in row.conditions}
        if existing is not None:  # updates: links may exist already
            self._insert_ignore(
                session, patient_tags, [{"patient_id": p, "tag_id": t} for p, t in tag_links]
            )
            self._insert_ignore(
                session,
                patient_conditions,
                [{"patient_id": p, "condition_id": c} for p, c in cond_links],
            )
        else:
            self._insert(session, "patient_tags", ("patient_id", "tag_id"), sorted(tag_links))
            self._insert(
                session, "patient_conditions", ("patient_id", "condition_id"), sorted(cond_links)
            )

    def _update(self, session: Session, updates: dict[int, ParsedRow], now: dt.datetime) -> None:
        ids = list(updates)
        columns = [getattr(Patient, c) for c in _FILL.values()]
        current = {
            row.id: row
            for row in session.execute(
                select(Patient.id, Patient.sex, *columns).where(Patient.id.in_(ids))
            )
        }
        for pid, row in updates.items():
            have = current[pid]
            values: dict[str, Any] = {
                column: getattr(row, attr)
                for attr, column in _FILL.items()
                if getattr(row, attr) and not getattr(have, column)
            }
            if have.sex == "unknown" and row.sex != "unknown":
                values["sex"] = row.sex
            if values.get("mrn") and session.scalar(
                select(Patient.id).where(Patient.mrn == values["mrn"])
            ):
                del values["mrn"]  # held by another (merged) record
            session.execute(
                update(Patient).where(Patient.id == pid).values(updated_at=now, **values)
            )
        existing = {
            (p, k, v)
            for p, k, v in session.execute(
                select(ContactPoint.patient_id, ContactPoint.kind, ContactPoint.value).where(
                    ContactPoint.patient_id.in_(ids)
                )
            )
        }
        self._add_details(session, list(updates.items()), now, existing)
