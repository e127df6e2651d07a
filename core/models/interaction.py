"""Interactions: every contact between the clinic and a patient."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, BigIntPK, partial_index, utcnow

if TYPE_CHECKING:
    from core.models.patient import Patient


class Interaction(Base):
    """A call, message, visit, complaint... on one patient's timeline."""

    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_patient_started", "patient_id", "started_at", "id"),
        # mostly-empty columns: partial indexes, so a row without them costs no index entry
        partial_index("ix_interactions_provider_ref", "provider_ref", "channel", "provider_ref"),
        partial_index("ix_interactions_appointment_id", "appointment_id"),
        partial_index("ix_interactions_campaign_id", "campaign_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(24))
    subject: Mapped[str | None] = mapped_column(String(250))
    body: Mapped[str | None] = mapped_column(Text)
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    outcome: Mapped[str | None] = mapped_column(String(60))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]
    recording_url: Mapped[str | None] = mapped_column(String(500))
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )
    #: id of a campaign row owned by the follow-up plugin (no FK: plugins own that table)
    campaign_id: Mapped[int | None]
    lead_source: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="interactions")

    @property
    def duration_seconds(self) -> int | None:
        if self.ended_at is None:
            return None
        return int((self.ended_at - self.started_at).total_seconds())
