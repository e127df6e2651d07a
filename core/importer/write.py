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

from sqlalchemy import Date, Update, and_, bindparam, case, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.importer import postgres, sqlite
from core.importer.copytext import render
from core.importer.dedupe import ChunkPlan
from core.importer.packed import FastRows
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


def _fill_update() -> Update:
    """One UPDATE, run with executemany, that fills a patient's empty fields only.

    An MRN is taken only when no other record holds it (a merged record keeps its
    MRN); nothing already set is overwritten.
    """
    t = Patient.__table__
    other = Patient.__table__.alias("other")

    def empty(column: Any) -> Any:
        return or_(column.is_(None), column == "")

    def fill(column: Any, param: str, type_: Any = None) -> Any:
        value = bindparam(param, type_=type_ or column.type)
        return case((empty(column), value), else_=column)

    mrn = bindparam("p_mrn", type_=t.c.mrn.type)
    return (
        update(t)
        .where(t.c.id == bindparam("p_id"))
        .values(
            mrn=case(
                (
                    and_(
                        empty(t.c.mrn),
                        mrn.is_not(None),
                        ~exists(select(other.c.id).where(other.c.mrn == mrn)),
                    ),
                    mrn,
                ),
                else_=t.c.mrn,
            ),
            birth_date=func.coalesce(t.c.birth_date, bindparam("p_birth_date", type_=Date())),
            preferred_language=fill(t.c.preferred_language, "p_language"),
            country=fill(t.c.country, "p_country"),
            lead_source=fill(t.c.lead_source, "p_source"),
            given_name=fill(t.c.given_name, "p_given_name"),
            family_name=fill(t.c.family_name, "p_family_name"),
            sex=case((t.c.sex == "unknown", bindparam("p_sex")), else_=t.c.sex),
            updated_at=bindparam("p_now", type_=t.c.updated_at.type),
        )
    )


_FILL_UPDATE = _fill_update()


class ChunkWriter:
    """Writes chunks of one import; caches tag and condition ids between chunks."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        self._tags: dict[str, int] = {}
        self._conditions: dict[str, int] = {}
        self._written = 0
        self._analyze_at = 10_000
        self._may_skip: bool | None = None

    def _skip_checks(self, session: Session) -> bool:
        """Whether new rows may skip per-row foreign-key checks (asked once per import)."""
        if self._may_skip is None:
            self._may_skip = postgres.may_skip_row_checks(session)
        return self._may_skip

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
        """Write *plan*; return the ids of the patients it created.

        The ids of ``plan.new`` come first, then those of ``plan.fast``.
        """
        if self.postgres and self._written >= self._analyze_at:
            # the tables doubled since the planner last looked: refresh its statistics
            postgres.analyze(session)
            self._analyze_at = 2 * self._written
        if self.postgres:
            # a chunk is one transaction of an import that can be run again: its commit
            # need not wait for the disk (the import's audit event, committed last,
            # flushes every chunk before it)
            postgres.fast_commit(session)
        ids = self._create(session, plan.new, now, plan.fast)
        self._written += len(ids)
        if plan.updates:
            self._update(session, plan.updates, now)
        return ids

    def _create(
        self,
        session: Session,
        rows: list[ParsedRow],
        now: dt.datetime,
        fast: FastRows | None = None,
    ) -> list[int]:
        if not rows and not fast:
            return []
        if self.postgres:
            return self._copy_new(session, rows, fast, now)
        values = [
            {
                "mrn": r.mrn,
                "given_name": r.given_name,
                "family_name": r.family_name,
                "display_name": r.display_name,
                "sort_name": r.sort_name,
                "birth_date": r.birth_date,
                "sex": r.sex,
                "preferred_language": r.language,
                "country": r.country,
                "lead_source": r.source,
                "is_lead": False,
                "created_at": now,
                "updated_at": now,
            }
            for r in rows
        ]
        ids = sqlite.insert_returning_ids(session, "patients", values)
        pairs = list(zip(ids, rows, strict=True))
        self._add_contacts(session, pairs, now)
        self._add_links(session, pairs, fresh=True)
        return ids

    def _copy_new(
        self, session: Session, rows: list[ParsedRow], fast: FastRows | None, now: dt.datetime
    ) -> list[int]:
        """New patients through ``COPY``: planned rows, then the fast rows' templates."""
        ids = postgres.reserve_ids(session, "patients", len(rows) + (len(fast) if fast else 0))
        stamp = now.isoformat()
        patients, contacts = [], []
        for pid, row in zip(ids, rows, strict=False):
            if row.copy_patient is None or row.copy_contacts is None:
                render(row)
            patients.append(f"{pid}\t{row.copy_patient}\t{stamp}\t{stamp}\n")
            contacts.extend(f"{pid}{suffix}{stamp}\n" for suffix in row.copy_contacts or ())
        tags = [(pid, row.tags) for pid, row in zip(ids, rows, strict=False)]
        conditions = [(pid, row.conditions) for pid, row in zip(ids, rows, strict=False)]
        if fast:
            fast_ids = ids[len(rows) :]
            for patient, contact in fast.lines(fast_ids, stamp):
                patients.append(patient)
                contacts.append(contact)
            chunk, indexes = fast.chunk, fast.indexes
            tags += zip(fast_ids, [chunk.tags[i] for i in indexes], strict=True)
            conditions += zip(fast_ids, [chunk.conditions[i] for i in indexes], strict=True)
        tag_ids = self.tag_ids(session, {t for _pid, names in tags for t in names})
        cond_ids = self.condition_ids(session, (c for _pid, pairs in conditions for c in pairs))
        tag_lines = [f"{pid}\t{tag_ids[t]}\n" for pid, names in tags for t in names]
        cond_lines = [f"{pid}\t{cond_ids[c]}\n" for pid, pairs in conditions for c, _l in pairs]
        # every reference holds until commit: the patients are this transaction's own
        # new rows (their own references are NULL), the tags and conditions get locked
        skip = self._skip_checks(session) and all(
            postgres.lock_rows(session, table, used)
            for table, used in (
                ("tags", {tag_ids[t] for _pid, names in tags for t in names}),
                ("conditions", {cond_ids[c] for _pid, pairs in conditions for c, _l in pairs}),
            )
        )
        with postgres.unchecked_links(session, skip):
            postgres.copy_text(session, "patients", ("id", *PATIENT_COLUMNS), patients)
            postgres.copy_text(session, "contact_points", CONTACT_COLUMNS, contacts)
            postgres.copy_text(session, "patient_tags", ("patient_id", "tag_id"), tag_lines)
            postgres.copy_text(
                session, "patient_conditions", ("patient_id", "condition_id"), cond_lines
            )
        return ids

    def _add_contacts(
        self,
        session: Session,
        pairs: list[tuple[int, ParsedRow]],
        now: dt.datetime,
        existing: set[tuple[int, str, str]] | None = None,
    ) -> None:
        """Insert the rows' contact points that the patients do not have yet.

        *existing* holds the contact points the patients already have.
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

    def _add_links(self, session: Session, pairs: list[tuple[int, ParsedRow]], fresh: bool) -> None:
        """Tag and condition links; *fresh* patients cannot have any yet."""
        tag_ids = self.tag_ids(session, (t for _pid, row in pairs for t in row.tags))
        tag_links = {(pid, tag_ids[t]) for pid, row in pairs for t in row.tags}
        cond_ids = self.condition_ids(session, (c for _pid, row in pairs for c in row.conditions))
        cond_links = {(pid, cond_ids[code]) for pid, row in pairs for code, _l in row.conditions}
        if fresh:
            self._insert(session, "patient_tags", ("patient_id", "tag_id"), tag_links)
            self._insert(session, "patient_conditions", ("patient_id", "condition_id"), cond_links)
            return
        self._insert_ignore(
            session, patient_tags, [{"patient_id": p, "tag_id": t} for p, t in tag_links]
        )
        self._insert_ignore(
            session,
            patient_conditions,
            [{"patient_id": p, "condition_id": c} for p, c in cond_links],
        )

    def _update(self, session: Session, updates: dict[int, ParsedRow], now: dt.datetime) -> None:
        ids = list(updates)
        session.execute(
            _FILL_UPDATE,
            [
                {
                    "p_id": pid,
                    "p_mrn": row.mrn,
                    "p_birth_date": row.birth_date,
                    "p_language": row.language,
                    "p_country": row.country,
                    "p_source": row.source,
                    "p_given_name": row.given_name,
                    "p_family_name": row.family_name,
                    "p_sex": row.sex,
                    "p_now": now,
                }
                for pid, row in updates.items()
            ],
        )
        existing = {
            (p, k, v)
            for p, k, v in session.execute(
                select(ContactPoint.patient_id, ContactPoint.kind, ContactPoint.value).where(
                    ContactPoint.patient_id.in_(ids)
                )
            )
        }
        pairs = list(updates.items())
        self._add_contacts(session, pairs, now, existing)
        self._add_links(session, pairs, fresh=False)
