"""Load the demo clinic into a database: directory, staff logins, patients and their history."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import Actor, record
from core.db import utcnow
from core.demo.activity import ClinicRefs, DoctorRef, ServiceRef, Story
from core.demo.clinic import DEPARTMENTS, DOCTORS, SERVICES, price_in
from core.demo.outreach import OutreachSummary, queue_outreach
from core.demo.people import DemoPerson, make_people
from core.identity import normalize_phone
from core.models import (
    Appointment,
    AuditEvent,
    ConsentEvent,
    Department,
    Doctor,
    Interaction,
    Patient,
    RelatedPerson,
    Service,
    StaffUser,
)
from core.runtime import CareLoop
from core.services.patients import create_patient
from core.services.staff import create_user

DEFAULT_SEED = 20240601
DEFAULT_PATIENTS = 1000
#: patients written per transaction
CHUNK = 100
#: the demo clinic is in Bali; used when CARELOOP_TIMEZONE is left at UTC
DEMO_CLINIC_TIMEZONE = "Asia/Makassar"


@dataclass(frozen=True)
class DemoLogin:
    """A back-office login the demo creates (fixed passwords: a local demo only)."""

    username: str
    password: str
    role: str
    display_name: str


DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("admin", "careloop-admin", "admin", "Demo Administrator"),
    DemoLogin("crm", "careloop-crm", "crm_staff", "Ayu (front desk)"),
    DemoLogin("marketer", "careloop-marketer", "marketer", "Rina (marketing)"),
    DemoLogin("agent", "careloop-agent", "agent", "Made (call centre)"),
)


@dataclass
class DemoSummary:
    """What :func:`load_demo` wrote, and how long it took."""

    patients: int = 0
    departments: int = 0
    doctors: int = 0
    services: int = 0
    appointments: int = 0
    interactions: int = 0
    consent_events: int = 0
    seconds: float = 0.0
    logins: list[DemoLogin] = field(default_factory=list)
    #: logins that existed before: their passwords were left unchanged
    existing_logins: list[str] = field(default_factory=list)
    #: reminders and the recall campaign queued in the outbox
    outreach: OutreachSummary = field(default_factory=OutreachSummary)


def count_patients(runtime: CareLoop) -> int:
    """How many patients the runtime's database holds."""
    with runtime.session() as session:
        return session.scalar(select(func.count()).select_from(Patient)) or 0


def load_demo(
    runtime: CareLoop,
    *,
    patients: int = DEFAULT_PATIENTS,
    seed: int = DEFAULT_SEED,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Write the demo clinic and *patients* patients with their history.

    The same *seed* and *now* give the same data.  Existing directory rows and
    staff users (matched by code and username) are reused, so loading into a
    database that already holds data adds patients next to it.
    """
    started = time.perf_counter()
    now = now or utcnow()
    summary = DemoSummary()
    tz_name = runtime.config.timezone
    clinic_tz = ZoneInfo(DEMO_CLINIC_TIMEZONE if tz_name == "UTC" else tz_name)
    with runtime.transaction() as session:
        staff = _staff(session, summary)
        doctors, services = _directory(session, runtime.config.currency, staff["admin"][0])
        beside = bool(session.scalar(select(func.count()).select_from(Patient)))
    refs = ClinicRefs(doctors, services, staff, clinic_tz, now)
    people = with_duplicates(make_people(patients, seed, now.date()), seed)
    for start in range(0, len(people), CHUNK):
        with runtime.transaction() as session:
            # keep the directory in this session's identity map: services look it up by id
            directory = [*session.scalars(select(Doctor)), *session.scalars(select(Service))]
            for person in people[start : start + CHUNK]:
                _write_person(session, refs, person, seed, beside)
                if progress is not None:
                    progress(1)
            del directory
    with runtime.transaction() as session:
        details = {"patients": len(people), "seed": seed, "beside_existing": beside}
        record(session, Actor.system("demo"), "load", "demo", details=details)
    summary.outreach = queue_outreach(runtime, anchor=now)
    with runtime.session() as session:
        summary.patients = len(people)
        summary.departments = _count(session, Department)
        summary.doctors = _count(session, Doctor)
        summary.services = _count(session, Service)
        summary.appointments = _count(session, Appointment)
        summary.interactions = _count(session, Interaction)
        summary.consent_events = _count(session, ConsentEvent)
    summary.seconds = time.perf_counter() - started
    return summary


def demo_loaded(runtime: CareLoop) -> bool:
    """True when the demo was loaded into this database before (the audit trail says so)."""
    with runtime.session() as session:
        query = select(AuditEvent.id).where(
            AuditEvent.entity_type == "demo", AuditEvent.action == "load"
        )
        return session.scalar(query.limit(1)) is not None


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def with_duplicates(people: list[DemoPerson], seed: int) -> list[DemoPerson]:
    """Turn the last few people into likely duplicates of earlier ones (for merge demos).

    A duplicate has the same phone written differently, no MRN, and often a
    shorter name: the way a WhatsApp lead creates a second record.
    """
    rng = random.Random(seed + 1)
    count = min(5, len(people) // 100)
    for slot in range(count):
        target = len(people) - 1 - slot
        original = people[slot * 7]
        data = replace(
            original.data,
            family_name="" if rng.random() < 0.5 else original.data.family_name,
            mrn=None,
            is_lead=True,
            lead_source="whatsapp_click",
            phones=[normalize_phone(original.data.phones[0], original.country.code)],
            whatsapp=[],
            emails=[],
            tags=["possible-duplicate"],
            conditions=[],
            external_ids={},
        )
        people[target] = replace(
            original,
            index=people[target].index,
            data=data,
            registered_at=people[target].registered_at,
            guardians=[],
        )
    return people


def _write_person(
    session: Session, refs: ClinicRefs, person: DemoPerson, seed: int, beside: bool
) -> None:
    rng = random.Random(seed * 1_000_003 + person.index)
    data = person.data
    if beside:  # next to real records: identifiers that cannot clash with theirs
        data = replace(
            data,
            mrn=data.mrn and f"DEMO-{person.index:06d}",
            external_ids={k: f"DEMO-{v}" for k, v in data.external_ids.items()},
        )
    doctor = refs.doctor_for(rng, person.department, person.language)
    data = replace(data, primary_doctor_id=None if data.is_lead else doctor.id)
    patient = create_patient(session, data, rng.choice(refs.staff["crm_staff"]))
    patient.created_at = person.registered_at
    for guardian in person.guardians:
        patient.related_people.append(
            RelatedPerson(
                name=guardian.name,
                relationship_=guardian.relationship,
                phone=normalize_phone(guardian.phone, person.country.code),
                is_emergency_contact=True,
            )
        )
    Story(session, refs, person, patient.id, patient.display_name, rng).tell()


def _staff(session: Session, summary: DemoSummary) -> dict[str, list[Actor]]:
    by_role: dict[str, list[Actor]] = {}
    system = Actor.system("demo")
    for login in DEMO_LOGINS:
        user = session.scalar(select(StaffUser).where(StaffUser.username == login.username))
        if user is None:
            user = create_user(
                session,
                login.username,
                login.password,
                login.role,
                system,
                display_name=login.display_name,
                email=f"{login.username}@clinic.example",
            )
            summary.logins.append(login)
        else:
            summary.existing_logins.append(login.username)
        actor = Actor(label=f"staff:{user.username}", staff_user_id=user.id)
        by_role.setdefault(user.role, []).append(actor)
    return by_role


def _directory(
    session: Session, currency: str, actor: Actor
) -> tuple[dict[str, list[DoctorRef]], dict[str, list[ServiceRef]]]:
    departments: dict[str, Department] = {}
    for item in DEPARTMENTS:
        dept = session.scalar(select(Department).where(Department.code == item.code))
        if dept is None:
            dept = Department(code=item.code, name=item.name)
            session.add(dept)
            session.flush()
            record(session, actor, "create", "department", dept.id)
        departments[item.code] = dept
    doctors: dict[str, list[DoctorRef]] = {}
    for item in DOCTORS:
        dept = departments[item.department]
        doctor = session.scalar(
            select(Doctor).where(Doctor.display_name == item.name, Doctor.department_id == dept.id)
        )
        if doctor is None:
            doctor = Doctor(
                department_id=dept.id,
                display_name=item.name,
                specialties=list(item.specialties),
                languages=list(item.languages),
            )
            session.add(doctor)
            session.flush()
            record(session, actor, "create", "doctor", doctor.id)
        doctors.setdefault(item.department, []).append(
            DoctorRef(doctor.id, doctor.display_name, tuple(doctor.languages))
        )
    services: dict[str, list[ServiceRef]] = {}
    for item in SERVICES:
        service = session.scalar(select(Service).where(Service.code == item.code))
        if service is None:
            service = Service(
                department_id=departments[item.department].id,
                code=item.code,
                name=item.name,
                price=price_in(currency, item.price_idr),
                currency=currency.upper(),
                duration_minutes=item.minutes,
            )
            session.add(service)
            session.flush()
            record(session, actor, "create", "service", service.id)
        services.setdefault(item.department, []).append(
            ServiceRef(service.id, service.name, service.price, service.duration_minutes)
        )
    return doctors, services


def demo_logins() -> Sequence[DemoLogin]:
    """Every login the demo creates."""
    return DEMO_LOGINS
