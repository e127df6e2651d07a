"""Who did something: the actor carried through services, and the audit trail."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

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
