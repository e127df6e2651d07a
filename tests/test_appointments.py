"""Appointments: booking defaults, status transitions, actual times."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from core import Manifest, hookimpl
from core.errors import InvalidTransition, NotFound, PatientNotFound, ValidationError
from core.models import Appointment, AuditEvent, Department, Doctor, Service
from core.models.enums import APPOINTMENT_TRANSITIONS, AppointmentStatus
from core.services.appointments import book_appointment, change_status
from core.services.patients import PatientInput, create_patient

START = dt.datetime(2025, 9, 1, 2, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)


class AppointmentHooks:
    manifest = Manifest(name="appointment_hook_recorder", version="1.0")

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @hookimpl
    def careloop_on_appointment_booked(self, appointment_id, patient_id):
        self.calls.append(("booked", appointment_id, patient_id))

    @hookimpl
    def careloop_on_appointment_status_changed(self, appointment_id, old_status, new_status):
        self.calls.append(("status", appointment_id, old_status, new_status))


@pytest.fixture
def hooks(plugin_registrar) -> AppointmentHooks:
    recorder = AppointmentHooks()
    plugin_registrar(recorder)
    return recorder


@pytest.fixture
def clinic(runtime, actor) -> dict[str, int]:
    with runtime.transaction() as s:
        dept = Department(code="dentistry", name="Dentistry")
        other = Department(code="cardiology", name="Cardiology")
        s.add_all([dept, other])
        s.flush()
        service = Service(
            department_id=dept.id,
            code="DENT-SCALE",
            name="Scaling",
            price=Decimal("500000"),
            currency="IDR",
            duration_minutes=45,
        )
        doctor = Doctor(department_id=other.id, display_name="Dr. Kim", languages=["ko"])
        retired = Doctor(department_id=other.id, display_name="Dr. Old", active=False)
        s.add_all([service, doctor, retired])
        s.flush()
        patient = create_patient(s, PatientInput(given_name="Сергій"), actor)
        return {
            "dept": dept.id,
            "other": other.id,
            "service": service.id,
            "doctor": doctor.id,
            "retired": retired.id,
            "patient": patient.id,
        }


def _book(runtime, actor, clinic, **kwargs) -> int:
    kwargs.setdefault("scheduled_start", START)
    with runtime.transaction() as s:
        return book_appointment(s, clinic["patient"], actor=actor, **kwargs).id


def _get(runtime, appointment_id) -> Appointment:
    with runtime.session() as s:
        return s.get(Appointment, appointment_id)


def test_end_defaults_to_the_service_duration(runtime, actor, clinic, hooks):
    aid = _book(runtime, actor, clinic, service_id=clinic["service"], booking_channel="whatsapp")
    a = _get(runtime, aid)
    assert a.scheduled_end - a.scheduled_start == dt.timedelta(minutes=45)
    assert (a.status, a.department_id, a.currency, a.booking_channel) == (
        "booked",
        clinic["dept"],
        "IDR",
        "whatsapp",
    )
    assert a.actual_start is None and a.actual_end is None and not a.walk_in
    assert hooks.calls == [("booked", aid, clinic["patient"])]
    with runtime.session() as s:
        audit = s.scalar(
            select(AuditEvent).where(
                AuditEvent.entity_type == "appointment", AuditEvent.entity_id == str(aid)
            )
        )
    assert audit.action == "create" and audit.patient_id == clinic["patient"]


def test_end_defaults_to_thirty_minutes_and_explicit_end_is_kept(runtime, actor, clinic):
    plain = _get(runtime, _book(runtime, actor, clinic, doctor_id=clinic["doctor"]))
    assert plain.scheduled_end == START + 30 * MIN
    assert plain.department_id == clinic["other"]  # from the doctor
    explicit = _get(
        runtime,
        _book(runtime, actor, clinic, service_id=clinic["service"], scheduled_end=START + 90 * MIN),
    )
    assert explicit.scheduled_end == START + 90 * MIN


def test_times_in_any_zone_are_stored_in_utc(runtime, actor, clinic):
    from zoneinfo import ZoneInfo

    local = dt.datetime(2025, 9, 1, 10, 0, tzinfo=ZoneInfo("Asia/Makassar"))  # UTC+8
    a = _get(runtime, _book(runtime, actor, clinic, scheduled_start=local))
    assert a.scheduled_start == START and a.scheduled_start.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"scheduled_end": START}, ValidationError),
        ({"scheduled_end": START - MIN}, ValidationError),
        ({"scheduled_start": dt.datetime(2025, 9, 1, 9)}, ValidationError),
        ({"booking_channel": "pigeon"}, ValidationError),
        ({"service_id": 999_999}, NotFound),
        ({"doctor_id": 999_999}, NotFound),
        ({"doctor_id": "retired"}, NotFound),
    ],
)
def test_bad_bookings_are_refused(runtime, actor, clinic, hooks, kwargs, error):
    if kwargs.get("doctor_id") == "retired":
        kwargs = {"doctor_id": clinic["retired"]}
    with pytest.raises(error):
        _book(runtime, actor, clinic, **kwargs)
    with runtime.session() as s:
        assert s.scalars(select(Appointment)).all() == []
    assert hooks.calls == []


def test_booking_for_an_unknown_patient_is_refused(runtime, actor, clinic):
    with pytest.raises(PatientNotFound), runtime.transaction() as s:
        book_appointment(s, 999_999, scheduled_start=START, actor=actor)


def test_walk_in_arrives_at_once(runtime, actor, clinic):
    before = dt.datetime.now(dt.UTC)
    a = _get(runtime, _book(runtime, actor, clinic, walk_in=True))
    assert a.walk_in and a.status == "arrived"
    assert a.actual_start is not None and a.actual_start >= before - dt.timedelta(seconds=1)


def test_full_visit_sets_actual_times_and_amount(runtime, actor, clinic, hooks):
    aid = _book(runtime, actor, clinic, service_id=clinic["service"])
    hooks.calls.clear()
    arrived, started, finished = START + 5 * MIN, START + 12 * MIN, START + 55 * MIN
    with runtime.transaction() as s:
        change_status(s, aid, "confirmed", actor, at=START - dt.timedelta(days=1))
        change_status(s, aid, "arrived", actor, at=arrived)
        change_status(s, aid, "in_service", actor, at=started)
        change_status(s, aid, "completed", actor, at=finished, amount_billed=Decimal("650000"))
    a = _get(runtime, aid)
    assert (a.status, a.actual_start, a.actual_end) == ("completed", arrived, finished)
    assert a.amount_billed == Decimal("650000")
    assert [c[2:] for c in hooks.calls] == [
        ("booked", "confirmed"),
        ("confirmed", "arrived"),
        ("arrived", "in_service"),
        ("in_service", "completed"),
    ]
    with runtime.session() as s:
        details = [
            e.details
            for e in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "status", AuditEvent.entity_id == str(aid))
                .order_by(AuditEvent.id)
            )
        ]
    assert details[-1] == {"from": "in_service", "to": "completed"} and len(details) == 4


def test_completing_from_arrival_sets_both_times(runtime, actor, clinic):
    aid = _book(runtime, actor, clinic)
    with runtime.transaction() as s:
        change_status(s, aid, "arrived", actor, at=START)
        change_status(s, aid, "completed", actor, at=START + 20 * MIN)
    a = _get(runtime, aid)
    assert (a.actual_start, a.actual_end) == (START, START + 20 * MIN)


def test_no_show_and_cancel_leave_actual_times_empty(runtime, actor, clinic):
    for status in ("no_show", "cancelled"):
        aid = _book(runtime, actor, clinic)
        with runtime.transaction() as s:
            change_status(s, aid, status, actor, at=START + 30 * MIN)
        a = _get(runtime, aid)
        assert (a.status, a.actual_start, a.actual_end) == (status, None, None)


INVALID = [
    (current, target)
    for current in AppointmentStatus
    for target in AppointmentStatus
    if target != current and target not in APPOINTMENT_TRANSITIONS[current]
]

#: how to reach each status from a new booking
PATHS = {
    "booked": [],
    "confirmed": ["confirmed"],
    "arrived": ["arrived"],
    "in_service": ["arrived", "in_service"],
    "completed": ["arrived", "completed"],
    "no_show": ["no_show"],
    "cancelled": ["cancelled"],
}


@pytest.mark.parametrize(("current", "target"), INVALID, ids=[f"{a}->{b}" for a, b in INVALID])
def test_invalid_transitions_raise(runtime, actor, clinic, hooks, current, target):
    aid = _book(runtime, actor, clinic)
    with runtime.transaction() as s:
        for step in PATHS[current]:
            change_status(s, aid, step, actor)
    hooks.calls.clear()
    with pytest.raises(InvalidTransition, match=f"{current.value} to {target.value}"):
        with runtime.transaction() as s:
            change_status(s, aid, target, actor)
    assert _get(runtime, aid).status == current.value
    assert hooks.calls == []


def test_same_status_is_a_silent_no_op(runtime, actor, clinic, hooks):
    aid = _book(runtime, actor, clinic)
    hooks.calls.clear()
    with runtime.transaction() as s:
        change_status(s, aid, "booked", actor)
    assert hooks.calls == []


def test_bad_status_amount_and_unknown_appointment(runtime, actor, clinic):
    aid = _book(runtime, actor, clinic)
    with pytest.raises(ValidationError, match="status"), runtime.transaction() as s:
        change_status(s, aid, "teleported", actor)
    with pytest.raises(ValidationError, match="negative"), runtime.transaction() as s:
        change_status(s, aid, "arrived", actor, amount_billed=Decimal("-1"))
    assert _get(runtime, aid).status == "booked"
    with pytest.raises(NotFound), runtime.transaction() as s:
        change_status(s, 999_999, "confirmed", actor)
