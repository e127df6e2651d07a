"""Patients and what identifies or describes them."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from core.db import Base, BigIntPK, utcnow

if TYPE_CHECKING:
    from core.models.appointment import Appointment
    from core.models.clinic import Doctor
    from core.models.consent import ConsentEvent
    from core.models.interaction import Interaction

patient_tags = Table(
    "patient_tags",
    Base.metadata,
    Column("patient_id", ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)

patient_conditions = Table(
    "patient_conditions",
    Base.metadata,
    Column("patient_id", ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True),
    Column("condition_id", ForeignKey("conditions.id", ondelete="CASCADE"), primary_key=True),
)


class Tag(Base):
    """A free label on patients (``vip``, ``diabetes-program``...)."""

    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)


class Condition(Base):
    """A disease category that batch follow-ups target (e.g. ICD-10 ``E11``)."""

    __tablename__ = "conditions"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(200))


class Patient(Base):
    """A person the clinic cares for, or a lead who contacted it."""

    __tablename__ = "patients"
    __table_args__ = (Index("ix_patients_sort_name", "sort_name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    mrn: Mapped[str | None] = mapped_column(String(64), unique=True)
    given_name: Mapped[str] = mapped_column(String(120), default="")
    family_name: Mapped[str] = mapped_column(String(120), default="")
    display_name: Mapped[str] = mapped_column(String(250))
    #: case-folded, accent-stripped key for sorting and prefix search
    sort_name: Mapped[str] = mapped_column(String(250))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(16), default="unknown")
    preferred_language: Mapped[str | None] = mapped_column(String(35))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    #: the patient's own order of messaging channels, e.g. ``whatsapp,sms``; tried
    #: first, before the message's or campaign's fallback order (empty: no preference)
    preferred_channels: Mapped[str | None] = mapped_column(String(120))
    address_line: Mapped[str | None] = mapped_column(String(250))
    city: Mapped[str | None] = mapped_column(String(120))
    province: Mapped[str | None] = mapped_column(String(120))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    primary_doctor_id: Mapped[int | None] = mapped_column(
        ForeignKey("doctors.id", ondelete="SET NULL")
    )
    lead_source: Mapped[str | None] = mapped_column(String(120))
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    archived_at: Mapped[dt.datetime | None]
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", ondelete="SET NULL"), index=True
    )

    contact_points: Mapped[list[ContactPoint]] = relationship(
        back_populates="patient", cascade="all, delete-orphan", order_by="ContactPoint.id"
    )
    external_ids: Mapped[list[ExternalId]] = relationship(
        back_populates="patient", cascade="all, delete-orphan"
    )
    related_people: Mapped[list[RelatedPerson]] = relationship(
        back_populates="patient", cascade="all, delete-orphan"
    )
    tags: Mapped[list[Tag]] = relationship(secondary=patient_tags, order_by="Tag.name")
    conditions: Mapped[list[Condition]] = relationship(
        secondary=patient_conditions, order_by="Condition.code"
    )
    primary_doctor: Mapped[Doctor | None] = relationship()
    consent_events: WriteOnlyMapped[ConsentEvent] = relationship(
        back_populates="patient", passive_deletes=True
    )
    interactions: WriteOnlyMapped[Interaction] = relationship(
        back_populates="patient", passive_deletes=True
    )
    appointments: WriteOnlyMapped[Appointment] = relationship(
        back_populates="patient", passive_deletes=True
    )

    @property
    def is_active(self) -> bool:
        return self.archived_at is None and self.merged_into_id is None

    def __repr__(self) -> str:  # no names in reprs: they end up in logs
        return f"<Patient id={self.id}>"


class ContactPoint(Base):
    """A normalised phone (E.164), e-mail or WhatsApp id of a patient."""

    __tablename__ = "contact_points"
    __table_args__ = (
        # by patient: the unique constraint's index starts with patient_id
        Index("ix_contact_points_lookup", "kind", "value", "patient_id"),
        UniqueConstraint("patient_id", "kind", "value", name="uq_contact_points_patient_value"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(320))
    label: Mapped[str | None] = mapped_column(String(40))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="contact_points")

    def __repr__(self) -> str:
        return f"<ContactPoint id={self.id} kind={self.kind}>"


class ExternalId(Base):
    """An identifier of the patient in another system (insurance, national id...)."""

    __tablename__ = "patient_external_ids"
    __table_args__ = (UniqueConstraint("system", "value", name="uq_external_ids_system_value"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    system: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(128))

    patient: Mapped[Patient] = relationship(back_populates="external_ids")


class RelatedPerson(Base):
    """An emergency or family contact of a patient."""

    __tablename__ = "patient_related_people"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(250))
    relationship_: Mapped[str | None] = mapped_column("relationship", String(60))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(320))
    is_emergency_contact: Mapped[bool] = mapped_column(Boolean, default=True)
    notes: Mapped[str | None] = mapped_column(Text)

    patient: Mapped[Patient] = relationship(back_populates="related_people")
