"""Attribution's own table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, utcnow


class Touchpoint(Base):
    """One time a lead source reached a patient."""

    __tablename__ = "attribution_touchpoints"
    __table_args__ = (
        Index("ix_attribution_touchpoints_patient", "patient_id", "occurred_at"),
        Index("ix_attribution_touchpoints_source", "source", "occurred_at"),
        UniqueConstraint("interaction_id", name="uq_attribution_touchpoints_interaction"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(120))
    is_first_touch: Mapped[bool] = mapped_column(default=False)
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL")
    )
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
