"""Who did something: the actor carried through services, and the audit trail."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from core.config import config_of
from core.db import utcnow
from core.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """The person or process behind a change, for the audit trail and hooks."""

    label: str
    staff_user_id: int | None = None
    ip_address: str | None = None

    @classmethod
    def system(cls, what: str = "system") -> Actor:
        """An actor for automatic work (worker, webhook, scheduler)."""
        return cls(label=what)

    @classmethod
    def cli(cls) -> Actor:
        """The operator running the ``careloop`` command on this machine."""
        import getpass

        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(label=f"cli:{user}")


def _event_values(
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object | None,
    patient_id: int | None,
    details: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "staff_user_id": actor.staff_user_id,
        "actor": actor.label,
        "action": action,
        "entity_type": entity_type,
        "entity_id": None if entity_id is None else str(entity_id),
        "patient_id": patient_id,
        "ip_address": actor.ip_address,
        "details": details or {},
    }


def record(
    session: Session,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object | None = None,
    *,
    patient_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to *session* (committed with the change it describes).

    *details* must hold field names, ids and counts only — never patient data.
    """
    event = AuditEvent(**_event_values(actor, action, entity_type, entity_id, patient_id, details))
    session.add(event)
    return event


def record_views(
    session: Session,
    actor: Actor,
    patient_ids: Iterable[int],
    *,
    details: dict[str, Any] | None = None,
) -> None:
    """Record that *actor* saw these patients, in one statement (screen pops, lookups).

    Same rows as :func:`record` with ``action="view"``, written at once rather than
    through the unit of work (a Core statement); committed with the session's transaction.
    """
    rows = [
        _event_values(actor, "view", "patient", patient_id, patient_id, details)
        for patient_id in patient_ids
    ]
    if rows:
        session.connection().execute(insert(AuditEvent.__table__), rows)


#: PostgreSQL: a page's view events in one statement that also tells its transaction
#: not to wait for the WAL flush at commit (``synchronous_commit``, local to it)
_PAGE_VIEW_SQL = """
INSERT INTO audit_events (occurred_at, staff_user_id, actor, action, entity_type, entity_id,
                          patient_id, ip_address, details)
SELECT %(now)s::timestamptz, %(staff_user_id)s::bigint, %(actor)s::varchar, 'view',
       'patient', seen.id::text, seen.id, %(ip)s::varchar, %(details)s::jsonb
FROM unnest(%(ids)s::bigint[]) AS seen(id)
CROSS JOIN (
    -- a transaction that wrote before (a plugin's hook, say) keeps waiting for the disk
    SELECT set_config('synchronous_commit',
                      CASE WHEN txid_current_if_assigned() IS NULL THEN %(commit_mode)s
                           ELSE 'on' END, true)
) AS commit_mode
"""


def record_page_view(
    session: Session,
    actor: Actor,
    patient_ids: Sequence[int],
    *,
    details: dict[str, Any] | None = None,
) -> None:
    """:func:`record_views` for a transaction that writes nothing else: a page showing records.

    On PostgreSQL the events go in one statement on the driver's cursor, and the
    transaction's commit does not wait for its WAL flush (as the telephony screen pop's):
    the page does not wait on the disk, whose slowest flushes were most of the page's
    slowest answers.  What it trades: after a crash of the database *server*, the
    last fraction of a second of view events may be missing (what is stored stays
    consistent; the application crashing loses nothing).  ``CARELOOP_DURABLE_VIEW_AUDIT=1``
    makes the commit wait.  A transaction that has already written when it is called
    keeps waiting for the disk (its pending changes are flushed first); still, call it
    only where nothing else is written after it.
    """
    if not patient_ids:
        return
    session.flush()  # anything pending is written now: it then keeps the commit durable
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        record_views(session, actor, patient_ids, details=details)
        return
    from psycopg.types.json import Jsonb
    from psycopg.types.numeric import Int8

    params = {
        "now": utcnow(),
        "staff_user_id": actor.staff_user_id,
        "actor": actor.label,
        "ip": actor.ip_address,
        "details": Jsonb(details or {}),
        "ids": [Int8(patient_id) for patient_id in patient_ids],
        "commit_mode": "on" if config_of(session).durable_view_audit else "off",
    }
    with connection.connection.cursor() as cursor:
        cursor.execute(_PAGE_VIEW_SQL, params)
