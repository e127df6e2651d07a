"""The clinic directory: departments, doctors and the services they offer."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import JSON, Boolean, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, BigIntPK


class Department(Base):
    """A clinical department (cardiology, paediatrics...)."""

    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    doctors: Mapped[list[Doctor]] = relationship(back_populates="department")
    services: Mapped[list[Service]] = relationship(back_populates="department")


class Doctor(Base):
    """A doctor, with the specialties and languages patients choose by."""

    __tablename__ = "doctors"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    display_name: Mapped[str] = mapped_column(String(250))
    specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    department: Mapped[Department | None] = relationship(back_populates="doctors")


class Service(Base):
    """Something the clinic books and bills: a consultation, a scan, a check-up."""

    __tablename__ = "services"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3))
    duration_minutes: Mapped[int] = mapped_column(default=30)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    department: Mapped[Department | None] = relationship(back_populates="services")
