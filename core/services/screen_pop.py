"""The caller-ID screen pop: who is calling, what the agent needs to know, and the call logged.

:func:`inbound_call` is what a telephony system (the JSON endpoint in
``admin/api.py``) or any CTI integration calls when a call rings: the active
patients with the caller's number (any format), each with their next open
appointment and five newest interactions, and, when exactly one patient
matches, the inbound call logged on their timeline (once per ``call_id``: a
telephony system that sends the same call again gets the call already logged,
and no second ``create`` event or hook).  Every shown patient gets
a ``view`` audit event and the logged call a ``create`` event, in the same
transaction as the call; ``careloop_on_interaction_logged`` fires after commit.

It runs on every ring of every line, so on PostgreSQL it is **one statement**:
data-modifying CTEs insert the call and the audit events while the same
statement reads the summaries, in its own implicit transaction (one round
trip instead of nine).  That transaction does not wait for its WAL flush
(``synchronous_commit`` off, local to it; ``CARELOOP_DURABLE_VIEW_AUDIT=1``
makes it wait): after a crash of the database *server* the last fraction of a
second of ringing-call records and their audit events may be missing; what is
stored stays consistent.  On SQLite (the
embedded mode, in-process, no round trips) the same steps run one after
another through the ordinary services.  ``tests/admin/test_lookup.py`` runs
the same assertions on both.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    CompoundSelect,
    Select,
    bindparam,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from core.audit import Actor, record_views
from core.db import UTCDateTime, utcnow
from core.driver_query import DriverQuery
from core.identity import normalize_phone, try_normalize_phone
from core.models import Appointment, Doctor, Interaction
from core.models.enums import AppointmentStatus, Channel, ContactKind, Direction, InteractionKind
from core.services.interactions import INTERACTION_LOGGED, log_interactions, logged_hook_kwargs
from core.services.patients import find_by_phone

if TYPE_CHECKING:
    from core.runtime import CareLoop

#: interactions returned per patient
LAST_INTERACTIONS = 5
#: patients returned when several share the number
MAX_CANDIDATES = 10
#: matches counted at most (``find_by_phone``'s limit)
MAX_MATCHES = 50

_OPEN = (AppointmentStatus.BOOKED.value, AppointmentStatus.CONFIRMED.value)
_CALL = {
    "channel": Channel.PHONE.value,
    "direction": Direction.INBOUND.value,
    "kind": InteractionKind.CALL.value,
    "outcome": "ringing",
}


@dataclass(frozen=True)
class CallerSummary:
    """One candidate for the caller: identity, next open appointment, newest interactions."""

    id: int
    name: str
    mrn: str | None
    preferred_language: str | None
    next_appointment: dict[str, Any] | None
    last_interactions: list[dict[str, Any]]


@dataclass(frozen=True)
class ScreenPop:
    """What the agent's screen shows for a ringing call."""

    #: active patients with the caller's number (counted up to ``MAX_MATCHES``)
    matched: int
    #: the first ``MAX_CANDIDATES`` of them, by id
    patients: list[CallerSummary]
    #: the logged call (only when exactly one patient matched)
    interaction_id: int | None
    #: False when the telephony system sent this call (its ``call_id``) before
    logged_now: bool = True


def inbound_call(
    runtime: CareLoop,
    caller: str,
    *,
    actor: Actor,
    dialled: str = "",
    call_id: str | None = None,
) -> ScreenPop:
    """Screen pop for a ringing call from *caller* (any format) to our number *dialled*.

    Raises :class:`core.errors.InvalidPhoneNumber` when *caller* is not a
    phone number (nothing is written then).
    """
    region = runtime.config.default_region
    e164 = normalize_phone(caller, region)
    dialled_e164 = _our_number(dialled, region) if dialled else None
    call = {
        **_CALL,
        "subject": f"Inbound call to {dialled_e164 or dialled or '?'}"[:250],
        "provider_ref": (call_id or "")[:200] or None,
    }
    if runtime.db.dialect == "postgresql":
        pop = _in_one_statement(runtime, e164, call, actor)
        if pop.interaction_id is not None and pop.logged_now:  # as a commit would
            logged = {**call, "patient_id": pop.patients[0].id}
            runtime.plugins.dispatch(
                INTERACTION_LOGGED, logged_hook_kwargs(logged, pop.interaction_id, actor)
            )
        return pop
    with runtime.transaction() as session:
        return _step_by_step(session, e164, call, actor)


@functools.lru_cache(maxsize=256)
def _our_number(dialled: str, region: str) -> str | None:
    """The clinic's own numbers repeat on every call: normalised once."""
    return try_normalize_phone(dialled, region)


# -- shared: summary rows to summaries ------------------------------------------------------

#: one summary row: patient id, source, row id, at, a, b, kind, subject, outcome
#: (``a``/``b``: the appointment's status and doctor, or the interaction's channel and direction)
SummaryRow = Sequence[Any]


def _summaries(
    shown: Sequence[tuple[int, str, str | None, str | None]], rows: Sequence[SummaryRow]
) -> list[CallerSummary]:
    """Candidates ``(id, name, mrn, language)`` with their summary rows, in *shown* order."""
    nexts: dict[int, dict[str, Any] | None] = {pid: None for pid, *_ in shown}
    lasts: dict[int, list[dict[str, Any]]] = {pid: [] for pid, *_ in shown}
    for pid, source, row_id, at, a, b, kind, subject, outcome in rows:
        if at.tzinfo is not dt.UTC:
            at = at.astimezone(dt.UTC)
        if source == "appointment":
            nexts[pid] = {"id": row_id, "start": at.isoformat(), "status": a, "doctor": b}
        else:
            lasts[pid].append(
                {
                    "id": row_id,
                    "at": at.isoformat(),
                    "channel": a,
                    "direction": b,
                    "kind": kind,
                    "subject": subject,
                    "outcome": outcome,
                }
            )
    for items in lasts.values():
        # a UNION ALL keeps no order across its parts: newest first again
        items.sort(key=lambda i: (i["at"], i["id"]), reverse=True)
    return [
        CallerSummary(pid, name, mrn, language, nexts[pid], lasts[pid])
        for pid, name, mrn, language in shown
    ]


# -- PostgreSQL: one statement ---------------------------------------------------------------

#: one prepared plan per connection; fixed values are spelled out (see ``_SPELLED_OUT``)
_SCREEN_POP_SQL = """
WITH matches AS (
    SELECT DISTINCT p.id, p.display_name, p.mrn, p.preferred_language
    FROM patients AS p JOIN contact_points AS c ON c.patient_id = p.id
    WHERE (c.kind = 'phone' OR c.kind = 'whatsapp') AND c.value = %(caller)s
      AND p.merged_into_id IS NULL AND p.archived_at IS NULL
    ORDER BY p.id LIMIT 50
), shown AS (
    SELECT * FROM matches ORDER BY id LIMIT 10
), earlier AS (
    SELECT i.id FROM interactions AS i
    WHERE %(provider_ref)s::varchar IS NOT NULL
      AND i.channel = 'phone' AND i.provider_ref = %(provider_ref)s::varchar
      AND i.patient_id IN (SELECT id FROM matches)
    LIMIT 1
), logged AS (
    INSERT INTO interactions (patient_id, channel, direction, kind, subject, outcome,
                              provider_ref, staff_user_id, started_at, created_at)
    SELECT id, 'phone', 'inbound', 'call', %(subject)s::varchar, 'ringing',
           %(provider_ref)s::varchar,
           %(staff_user_id)s::bigint, %(now)s::timestamptz, %(now)s::timestamptz
    FROM matches WHERE (SELECT count(*) FROM matches) = 1 AND NOT EXISTS (SELECT FROM earlier)
    RETURNING id, patient_id
), audited AS (
    INSERT INTO audit_events (occurred_at, staff_user_id, actor, action, entity_type,
                              entity_id, patient_id, ip_address, details)
    SELECT %(now)s::timestamptz, %(staff_user_id)s::bigint, %(actor)s::varchar, 'create',
           'interaction', logged.id::text, logged.patient_id, %(ip)s::varchar,
           '{"kind": "call", "channel": "phone"}'::jsonb
    FROM logged
    UNION ALL
    SELECT %(now)s::timestamptz, %(staff_user_id)s::bigint, %(actor)s::varchar, 'view',
           'patient', shown.id::text, shown.id, %(ip)s::varchar,
           jsonb_build_object('via', %(actor)s::varchar)
    FROM shown
)
SELECT (SELECT count(*) FROM matches), coalesce((SELECT id FROM logged), (SELECT id FROM earlier)),
       (SELECT count(*) FROM logged) = 1, set_config('synchronous_commit', %(commit_mode)s, true),
       s.id, s.display_name, s.mrn, s.preferred_language,
       x.source, x.id, x.at, x.a, x.b, x.kind, x.subject, x.outcome
FROM (SELECT 1) AS always
LEFT JOIN shown AS s ON true
LEFT JOIN LATERAL (
    (SELECT 'appointment' AS source, a.id, a.scheduled_start AS at, a.status AS a,
            (SELECT d.display_name FROM doctors AS d WHERE d.id = a.doctor_id) AS b,
            NULL::varchar AS kind, NULL::varchar AS subject, NULL::varchar AS outcome
     FROM appointments AS a
     WHERE a.patient_id = s.id AND a.scheduled_start >= %(now)s::timestamptz
       AND (a.status = 'booked' OR a.status = 'confirmed')
     ORDER BY a.scheduled_start, a.id LIMIT 1)
    UNION ALL
    (SELECT 'interaction', i.id, i.started_at, i.channel, i.direction, i.kind, i.subject,
            i.outcome
     FROM interactions AS i WHERE i.patient_id = s.id
     ORDER BY i.started_at DESC, i.id DESC LIMIT 5)
) AS x ON true
ORDER BY s.id
"""

#: the values the statement spells out, which must stay those of the enums and limits
_SPELLED_OUT = {
    (ContactKind.PHONE.value, ContactKind.WHATSAPP.value): ("phone", "whatsapp"),
    (AppointmentStatus.BOOKED.value, AppointmentStatus.CONFIRMED.value): ("booked", "confirmed"),
    (MAX_MATCHES, MAX_CANDIDATES, LAST_INTERACTIONS): (50, 10, 5),
    tuple(_CALL.values()): ("phone", "inbound", "call", "ringing"),
}
if any(ours != spelled for ours, spelled in _SPELLED_OUT.items()):  # pragma: no cover
    raise RuntimeError("core.services.screen_pop: _SCREEN_POP_SQL is out of step with its values")


def _in_one_statement(
    runtime: CareLoop, e164: str, call: dict[str, Any], actor: Actor
) -> ScreenPop:
    params = {
        "caller": e164,
        "subject": call["subject"],
        "provider_ref": call["provider_ref"],
        "now": utcnow(),
        "staff_user_id": actor.staff_user_id,
        "actor": actor.label,
        "ip": actor.ip_address,
        "commit_mode": "on" if runtime.config.durable_view_audit else "off",
    }

    def run(connection: Any) -> list[tuple[Any, ...]]:
        # autocommit: the statement is its own transaction, committed (or not) as a whole
        with connection.cursor() as cursor:
            cursor.execute(_SCREEN_POP_SQL, params, prepare=True)
            return cursor.fetchall()

    rows = runtime.db.pinned.run(run)
    matched, interaction_id, logged_now = rows[0][:3]
    shown: dict[int, tuple[int, str, str | None, str | None]] = {}
    summary_rows = []
    for row in rows:
        if row[4] is None:
            continue
        shown.setdefault(row[4], tuple(row[4:8]))
        if row[8] is not None:
            summary_rows.append((row[4], *row[8:]))
    summaries = _summaries(list(shown.values()), summary_rows)
    return ScreenPop(matched, summaries, interaction_id, logged_now)


# -- SQLite (and any other database): step by step --------------------------------------------


def _summary_union(patient_ids: Sequence[Any], now: Any) -> CompoundSelect:
    """One statement for every shown patient's next open appointment and last interactions.

    A ``UNION ALL`` of small per-patient index range scans (each with its own
    ``LIMIT``); *patient_ids* and *now* are values or bind parameters.
    """
    parts: list[Select[Any]] = []
    for patient_id in patient_ids:
        parts.append(
            select(
                Appointment.patient_id,
                literal("appointment").label("source"),
                Appointment.id,
                Appointment.scheduled_start.label("at"),
                Appointment.status.label("a"),
                Doctor.display_name.label("b"),
                null().label("kind"),
                null().label("subject"),
                null().label("outcome"),
            )
            .outerjoin(Doctor, Doctor.id == Appointment.doctor_id)
            .where(
                Appointment.patient_id == patient_id,
                Appointment.scheduled_start >= now,
                or_(*(Appointment.status == status for status in _OPEN)),
            )
            .order_by(Appointment.scheduled_start, Appointment.id)
            .limit(1)
        )
        parts.append(
            select(
                Interaction.patient_id,
                literal("interaction").label("source"),
                Interaction.id,
                Interaction.started_at.label("at"),
                Interaction.channel.label("a"),
                Interaction.direction.label("b"),
                Interaction.kind,
                Interaction.subject,
                Interaction.outcome,
            )
            .where(Interaction.patient_id == patient_id)
            .order_by(Interaction.started_at.desc(), Interaction.id.desc())
            .limit(LAST_INTERACTIONS)
        )
    # each part as a subquery: SQLite refuses ORDER BY/LIMIT inside a bare compound
    return union_all(*(select(part.subquery()) for part in parts))


#: the usual case, one caller: compiled once, run on the driver's cursor
_ONE_SUMMARY = DriverQuery(
    _summary_union(
        [bindparam("patient_id", type_=BigInteger())], bindparam("now", type_=UTCDateTime())
    ),
    "patient_id",
    "now",
)


def _step_by_step(session: Session, e164: str, call: dict[str, Any], actor: Actor) -> ScreenPop:
    matches = find_by_phone(session, e164)
    shown = matches[:MAX_CANDIDATES]
    ids = [m.id for m in shown]
    now = utcnow()
    rows: Sequence[SummaryRow] = []
    if len(ids) == 1:
        rows = _ONE_SUMMARY.rows(session, patient_id=ids[0], now=now)
    elif ids:
        rows = session.connection().execute(_summary_union(ids, now)).all()
    summaries = _summaries(
        [(m.id, m.display_name, m.mrn, m.preferred_language) for m in shown], rows
    )
    interaction_id, logged_now = None, False
    if len(matches) == 1:
        interaction_id = _earlier_call(session, matches[0].id, call["provider_ref"])
        if interaction_id is None:
            (interaction_id,) = log_interactions(session, matches[0].id, [call], actor)
            logged_now = True
    record_views(session, actor, ids, details={"via": actor.label})
    return ScreenPop(len(matches), summaries, interaction_id, logged_now)


def _earlier_call(session: Session, patient_id: int, call_id: str | None) -> int | None:
    """The call already logged with this ``call_id`` (a telephony system's retry)."""
    if call_id is None:
        return None
    return session.scalar(
        select(Interaction.id)
        .where(
            Interaction.channel == _CALL["channel"],
            Interaction.provider_ref == call_id,
            Interaction.patient_id == patient_id,
        )
        .order_by(Interaction.id)
        .limit(1)
    )
