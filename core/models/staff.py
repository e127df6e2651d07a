"""Staff users, the audit trail and the persisted plugin state."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, partial_index, utcnow


class StaffUser(Base):
    """Someone who signs in to the back office."""

    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(35))
    #: bumped when the password or role changes; sessions carry it and die with it
    session_version: Mapped[int] = mapped_column(default=1)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<StaffUser id={self.id} role={self.role}>"


class AuditEvent(Base):
    """Who saw or changed what, when, and from where.  Never updated or deleted."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_patient", "patient_id", "occurred_at"),
        Index("ix_audit_events_occurred", "occurred_at"),
        # system actors (telephony, webhooks, workers) have no staff user: no index entry
        partial_index("ix_audit_events_staff_user_id", "staff_user_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="SET NULL"))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    #: field names and ids only — never patient data values
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PluginState(Base):
    """Whether an installed plugin is enabled; the source of truth for every process."""

    __tablename__ = "plugin_states"
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[str] = mapped_column(String(40), default="")
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    changed_by: Mapped[str | None] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(Text)
