"""Appointments: book them and move them through their statuses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.orm import Session

from core import events
from core.audit import Actor, record
from core.db import utcnow
from core.errors import InvalidTransition, NotFound, ValidationError
from core.models import Appointment, Doctor, Service
from core.models.enums import APPOINTMENT_TRANSITIONS, AppointmentStatus, Channel
from core.services.patients import get_patient
from core.services.validation import aware, choice


def book_appointment(
    session: Session,
    patient_id: int,
    *,
    scheduled_start: dt.datetime,
    actor: Actor,
    scheduled_end: dt.datetime | None = None,
    doctor_id: int | None = None,
    department_id: int | None = None,
    service_id: int | None = None,
    booking_channel: str | None = None,
    walk_in: bool = False,
    notes: str | None = None,
) -> Appointment:
    """Book a visit; the end defaults to the service's duration (else 30 minutes)."""
    start = aware(scheduled_start, "scheduled_start")
    get_patient(session, patient_id, audit_view=False)
    service = None
    if service_id is not None:
        service = session.get(Service, service_id)
        if service is None:
            raise NotFound(f"service {service_id} does not exist")
        department_id = department_id or service.department_id
    if doctor_id is not None:
        doctor = session.get(Doctor, doctor_id)
        if doctor is None or not doctor.active:
            raise NotFound(f"doctor {doctor_id} does not exist or is inactive")
        department_id = department_id or doctor.department_id
    if scheduled_end is None:
        minutes = service.duration_minutes if service else 30
        end = start + dt.timedelta(minutes=minutes)
    else:
        end = aware(scheduled_end, "scheduled_end")
    if end <= start:
        raise ValidationError("an appointment must end after it starts", field="scheduled_end")
    channel = choice(Channel, booking_channel, "booking_channel").value if booking_channel else None
    appointment = Appointment(
        patient_id=patient_id,
        doctor_id=doctor_id,
        department_id=department_id,
        service_id=service_id,
        scheduled_start=start,
        scheduled_end=end,
        status=AppointmentStatus.ARRIVED.value if walk_in else AppointmentStatus.BOOKED.value,
        booking_channel=channel,
        walk_in=walk_in,
        actual_start=utcnow() if walk_in else None,
        notes=notes,
        currency=service.currency if service else None,
    )
    session.add(appointment)
    session.flush()
    record(session, actor, "create", "appointment", appointment.id, patient_id=patient_id)
    events.emit(
        session,
        "careloop_on_appointment_booked",
        appointment_id=appointment.id,
        patient_id=patient_id,
        actor=actor,
    )
    return appointment


def change_status(
    session: Session,
    appointment_id: int,
    new_status: str,
    actor: Actor,
    *,
    at: dt.datetime | None = None,
    amount_billed: Decimal | None = None,
) -> Appointment:
    """Move an appointment to *new_status* if the transition is allowed."""
    target = choice(AppointmentStatus, new_status, "status")
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        raise NotFound(f"appointment {appointment_id} does not exist")
    current = AppointmentStatus(appointment.status)
    if target == current:
        return appointment
    if target not in APPOINTMENT_TRANSITIONS[current]:
        raise InvalidTransition(f"an appointment cannot go from {current.value} to {target.value}")
    when = aware(at, "at") if at else utcnow()
    if (
        target in (AppointmentStatus.ARRIVED, AppointmentStatus.IN_SERVICE)
        and not appointment.actual_start
    ):
        appointment.actual_start = when
    if target == AppointmentStatus.COMPLETED:
        appointment.actual_start = appointment.actual_start or when
        appointment.actual_end = when
    if amount_billed is not None:
        if amount_billed < 0:
            raise ValidationError("amount billed cannot be negative", field="amount_billed")
        appointment.amount_billed = amount_billed
    appointment.status = target.value
    session.flush()
    record(
        session,
        actor,
        "status",
        "appointment",
        appointment.id,
        patient_id=appointment.patient_id,
        details={"from": current.value, "to": target.value},
    )
    events.emit(
        session,
        "careloop_on_appointment_status_changed",
        appointment_id=appointment.id,
        patient_id=appointment.patient_id,
        old_status=current.value,
        new_status=target.value,
        actor=actor,
    )
    return appointment
