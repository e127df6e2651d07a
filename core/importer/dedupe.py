"""Deduplication: rows of one chunk against each other and against the database.

A row is the same patient as an existing one (or as an earlier row of the
file) when they share an MRN, a phone, a WhatsApp number or an e-mail — tried
in that order.  Earlier chunks are already committed when a chunk is
planned, so a duplicate of a row from an earlier chunk is found in the
database.  Nothing here is ever deleted: a duplicate *adds* to its target
(fills empty fields, new contact points, tags and conditions).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from core.importer.keyfilter import KeyFilter, pack_key
from core.importer.packed import FastRows, PackedChunk, PendingKeys
from core.importer.rows import ParsedRow
from core.models import ContactPoint, Patient

#: fields filled from a duplicate when the target has them empty
FILLABLE = ("mrn", "birth_date", "language", "country", "source", "given_name", "family_name")
_LOOKUP_BATCH = 5000

Key = tuple[str, str]


@dataclass
class ChunkPlan:
    """What to write for one chunk."""

    #: rows that become new patients (in-file duplicates already folded in)
    new: list[ParsedRow] = field(default_factory=list)
    #: existing patient id -> everything the chunk adds to it
    updates: dict[int, ParsedRow] = field(default_factory=dict)
    #: rows that matched an existing patient or an earlier row
    updated_rows: int = 0
    #: of those, rows that matched an earlier row of this file
    in_file_duplicates: int = 0
    #: (new row of an earlier chunk not yet committed, what this chunk adds to it);
    #: the writer resolves the row's id, set when its chunk was written
    late_updates: list[tuple[ParsedRow, ParsedRow]] = field(default_factory=list)
    #: every key of the chunk -> the patient it ended up on (a new row of this or an
    #: earlier chunk, or an existing id): what later chunks must see before it commits
    keys: dict[Key, ParsedRow | int] = field(default_factory=dict)
    #: new patients written from worker-rendered templates (PostgreSQL), see
    #: :mod:`core.importer.packed`
    fast: FastRows | None = None

    def lookup(self) -> Mapping[Key, ParsedRow | int]:
        """Every key of the chunk -> its patient, for later chunks while this one is pending."""
        return self.keys if self.fast is None else PendingKeys(self.keys, self.fast)


def fold(target: ParsedRow, row: ParsedRow) -> None:
    """Add what *row* knows to *target*: empty fields filled, lists extended."""
    target.copy_patient = target.copy_contacts = None  # pre-rendered text is stale now
    for name in FILLABLE:
        if not getattr(target, name) and getattr(row, name):
            setattr(target, name, getattr(row, name))
    if target.sex == "unknown" and row.sex != "unknown":
        target.sex = row.sex
    for name in ("phones", "whatsapp", "emails", "tags"):
        values = getattr(target, name)
        values.extend(v for v in getattr(row, name) if v not in values)
    codes = {code for code, _label in target.conditions}
    target.conditions.extend(pair for pair in row.conditions if pair[0] not in codes)


def plan_chunk(
    session: Session,
    rows: list[ParsedRow],
    seen_new: Container[int],
    keys: KeyFilter | None = None,
    pending: Sequence[Mapping[Key, ParsedRow | int]] = (),
) -> ChunkPlan:
    """Group *rows* into new patients and updates of existing ones.

    *seen_new* holds ids of patients this import created in earlier chunks (their
    id range), so a later duplicate of them counts as an in-file duplicate.  With
    *keys* (the keys the database may hold, see :mod:`core.importer.keyfilter`)
    only keys it may hold are looked up; the chunk's keys are added to it.
    *pending* holds the :meth:`ChunkPlan.lookup` of earlier chunks that may not be
    committed yet.
    """
    row_keys = [row.keys() for row in rows]
    if keys is None:
        wanted = [key for some in row_keys for key in some]
    else:
        wanted = [key for some in row_keys for key in some if keys.check_add(pack_key(*key))]
    existing: dict[Key, ParsedRow | int] = {}
    if wanted:
        existing.update(find_existing(session, wanted))
        for earlier in reversed(pending):  # uncommitted rows win over what the database says
            existing.update((key, earlier[key]) for key in wanted if key in earlier)
    plan = ChunkPlan()
    by_key: dict[Key, ParsedRow | int] = {}
    in_chunk: set[int] = set()  # ids of this chunk's rows that are targets
    delta_of: dict[int, ParsedRow] = {}  # id(late-update delta) -> the earlier row it updates
    for row, some in zip(rows, row_keys, strict=True):
        target: ParsedRow | int | None = None
        for key in some:
            target = by_key.get(key) or existing.get(key)
            if target is not None:
                break
        if isinstance(target, ParsedRow) and id(target) not in in_chunk:
            # a new row of an earlier chunk that may still be being written
            plan.updated_rows += 1
            plan.in_file_duplicates += 1
            delta = copy.deepcopy(row)
            plan.late_updates.append((target, delta))
            delta_of[id(delta)] = target
            target = delta
            in_chunk.add(id(delta))
        elif target is None:
            plan.new.append(row)
            target = row
            in_chunk.add(id(row))
        elif isinstance(target, int):
            plan.updated_rows += 1
            if target in seen_new or target in plan.updates:
                plan.in_file_duplicates += 1
            if target in plan.updates:
                fold(plan.updates[target], row)
            else:
                plan.updates[target] = copy.deepcopy(row)
        else:
            plan.updated_rows += 1
            plan.in_file_duplicates += 1
            fold(target, row)
        for key in some:
            by_key.setdefault(key, target)
    plan.keys = {
        key: delta_of.get(id(target), target) if isinstance(target, ParsedRow) else target
        for key, target in by_key.items()
    }
    for target_id, delta in plan.updates.items():  # keys folded into existing patients
        plan.keys.update((key, target_id) for key in delta.keys())
    return plan


def plan_packed(
    session: Session,
    chunk: PackedChunk,
    records: list[tuple[int, list[str] | None, str]],
    parse: Callable[[tuple[int, list[str] | None, str]], ParsedRow],
    seen_new: Container[int],
    keys: KeyFilter,
    pending: Sequence[Mapping[Key, ParsedRow | int]] = (),
) -> ChunkPlan:
    """:func:`plan_chunk` for a worker's :class:`PackedChunk` (PostgreSQL).

    Rows none of whose keys the filter may have seen, and that share no key with
    another row of the chunk, are new patients: they stay packed (*fast*).  The
    others are parsed again from *records* and planned by :func:`plan_chunk`,
    all their keys looked up.
    """
    check = keys.check_add
    shared = chunk.shared
    fast: list[int] = []
    slow: list[int] = []
    for i, row_keys in enumerate(chunk.keys):
        hit = i in shared
        for key in row_keys:
            if check(key):
                hit = True
        (slow if hit else fast).append(i)
    positions = chunk.positions
    rows = [parse(records[positions[i]]) for i in slow]
    plan = plan_chunk(session, rows, seen_new, None, pending) if rows else ChunkPlan()
    if fast:
        plan.fast = FastRows(chunk, fast, records, parse)
    return plan


def find_existing(session: Session, keys: Iterable[Key]) -> dict[Key, int]:
    """Map each key to the (kept, unmerged) patient that already has it."""
    wanted: dict[str, set[str]] = {}
    for kind, value in keys:
        wanted.setdefault(kind, set()).add(value)
    found: dict[Key, int] = {}
    postgres = session.get_bind().dialect.name == "postgresql"
    for kind, values in wanted.items():
        ordered = sorted(values)
        for start in range(0, len(ordered), _LOOKUP_BATCH):
            batch = ordered[start : start + _LOOKUP_BATCH]
            if kind == "mrn":
                rows = _mrn_rows(session, batch, postgres)
            else:
                rows = _contact_rows(session, kind, batch, postgres)
            for value, patient_id in rows:
                found.setdefault((kind, value), patient_id)
    return found


def _mrn_rows(session: Session, values: list[str], postgres: bool) -> list[tuple[str, int]]:
    if postgres:
        return _raw(
            session,
            "SELECT mrn, coalesce(merged_into_id, id) FROM patients WHERE mrn = ANY(%s)",
            (values,),
        )
    query = select(Patient.mrn, Patient.merged_into_id, Patient.id).where(
        Patient.mrn.in_(bindparam("values", expanding=True))
    )
    return [(m, merged or pid) for m, merged, pid in session.execute(query, {"values": values})]


def _contact_rows(
    session: Session, kind: str, values: list[str], postgres: bool
) -> list[tuple[str, int]]:
    if postgres:
        return _raw(
            session,
            "SELECT cp.value, min(cp.patient_id) FROM contact_points cp "
            "JOIN patients p ON p.id = cp.patient_id "
            "WHERE cp.kind = %s AND cp.value = ANY(%s) AND p.merged_into_id IS NULL "
            "GROUP BY cp.value",
            (kind, values),
        )
    query = (
        select(ContactPoint.value, ContactPoint.patient_id)
        .join(Patient, Patient.id == ContactPoint.patient_id)
        .where(
            ContactPoint.kind == kind,
            ContactPoint.value.in_(bindparam("values", expanding=True)),
            Patient.merged_into_id.is_(None),
        )
        .order_by(ContactPoint.patient_id)
    )
    return [(v, pid) for v, pid in session.execute(query, {"values": values})]


def _raw(session: Session, sql: str, params: tuple[object, ...]) -> list[tuple[str, int]]:
    """Run a lookup unprepared: a plan cached while the tables were small would scan them."""
    with session.connection().connection.driver_connection.cursor() as cur:
        cur.execute(sql, params, prepare=False)
        return [(value, patient_id) for value, patient_id in cur.fetchall()]
