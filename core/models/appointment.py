"""Appointments and visits."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, BigIntPK, utcnow

if TYPE_CHECKING:
    from core.models.clinic import Department, Doctor, Service
    from core.models.patient import Patient


class Appointment(Base):
    """A booked or walk-in visit and what happened at it."""

    __tablename__ = "appointments"
    __table_args__ = (
        Index("ix_appointments_patient_start", "patient_id", "scheduled_start"),
        Index("ix_appointments_doctor_start", "doctor_id", "scheduled_start"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id", ondelete="SET NULL"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL")
    )
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="SET NULL"))
    scheduled_start: Mapped[dt.datetime]
    scheduled_end: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16), default="booked", index=True)
    booking_channel: Mapped[str | None] = mapped_column(String(16))
    walk_in: Mapped[bool] = mapped_column(Boolean, default=False)
    actual_start: Mapped[dt.datetime | None]
    actual_end: Mapped[dt.datetime | None]
    amount_billed: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="appointments")
    doctor: Mapped[Doctor | None] = relationship()
    department: Mapped[Department | None] = relationship()
    service: Mapped[Service | None] = relationship()
