"""Patients: create, update, find, archive and merge.

Every function takes the caller's session (the caller owns the transaction),
validates its input, writes an audit event beside the change and queues the
matching hook, which fires after commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, Select, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from core import events
from core.audit import Actor, record
from core.config import config_of
from core.db import utcnow
from core.driver_query import DriverQuery
from core.errors import (
    DuplicateRecord,
    InvalidPhoneNumber,
    MergeError,
    NotFound,
    PatientNotFound,
    ValidationError,
)
from core.identity import (
    compose_display_name,
    looks_like_email,
    normalize_email,
    normalize_phone,
    sort_key,
)
from core.models import (
    Appointment,
    Condition,
    ConsentEvent,
    ContactPoint,
    ExternalId,
    Interaction,
    Patient,
    RelatedPerson,
    Tag,
)
from core.models.enums import ContactKind, Sex
from core.services.validation import choice, language_tag, parse_channel_order, time_zone

#: Profile fields that :func:`update_patient` accepts.
PROFILE_FIELDS = (
    "given_name",
    "family_name",
    "display_name",
    "mrn",
    "birth_date",
    "sex",
    "preferred_language",
    "time_zone",
    "preferred_channels",
    "address_line",
    "city",
    "province",
    "postal_code",
    "country",
    "primary_doctor_id",
    "lead_source",
    "is_lead",
)


@dataclass
class PatientInput:
    """What a form, an import row or a webhook knows about a new patient."""

    given_name: str = ""
    family_name: str = ""
    display_name: str | None = None
    mrn: str | None = None
    birth_date: dt.date | None = None
    sex: str = Sex.UNKNOWN
    preferred_language: str | None = None
    time_zone: str | None = None
    #: messaging channels in the patient's order of preference (``"whatsapp,sms"`` or a list)
    preferred_channels: str | Sequence[str] | None = None
    address_line: str | None = None
    city: str | None = None
    province: str | None = None
    postal_code: str | None = None
    country: str | None = None
    primary_doctor_id: int | None = None
    lead_source: str | None = None
    is_lead: bool = False
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    whatsapp: list[str] = field(default_factory=list)
    #: ISO region used for phones written without a country code
    region: str | None = None
    tags: list[str] = field(default_factory=list)
    #: (code, label) pairs
    conditions: list[tuple[str, str]] = field(default_factory=list)
    external_ids: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PatientMatch:
    """The columns the caller-ID path needs, without loading whole objects."""

    id: int
    display_name: str
    mrn: str | None
    preferred_language: str | None
    birth_date: dt.date | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> PatientMatch:
        return cls(row.id, row.display_name, row.mrn, row.preferred_language, row.birth_date)


# -- validation -------------------------------------------------------------


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def validate_profile(values: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise profile fields; raise :class:`ValidationError` on the first bad one."""
    out = dict(values)
    for key in ("mrn", "address_line", "city", "province", "postal_code", "lead_source"):
        if key in out:
            out[key] = _clean(out[key])
    for key in ("given_name", "family_name"):
        if key in out:
            out[key] = (out[key] or "").strip()
    if "display_name" in out:
        out["display_name"] = _clean(out["display_name"])
    if "sex" in out:
        out["sex"] = choice(Sex, out["sex"] or Sex.UNKNOWN, "sex").value
    if "preferred_language" in out:
        out["preferred_language"] = language_tag(out["preferred_language"])
    if "time_zone" in out:
        out["time_zone"] = time_zone(out["time_zone"])
    if "preferred_channels" in out:
        out["preferred_channels"] = parse_channel_order(out["preferred_channels"])
    if out.get("country"):
        country = str(out["country"]).strip().upper()
        if len(country) != 2 or not country.isalpha():
            raise ValidationError(f"country {out['country']!r} is not an ISO code", field="country")
        out["country"] = country
    birth = out.get("birth_date")
    if birth is not None:
        if not isinstance(birth, dt.date):
            raise ValidationError("birth_date must be a date", field="birth_date")
        if birth > dt.date.today():
            raise ValidationError(
                f"birth_date {birth.isoformat()} is in the future", field="birth_date"
            )
        if birth.year < 1900:
            raise ValidationError(f"birth_date {birth.isoformat()} is too old", field="birth_date")
    return out


def _names(given: str, family: str, display: str | None) -> tuple[str, str]:
    display = display or compose_display_name(given, family)
    if not display:
        raise ValidationError("a patient needs a given, family or display name", field="name")
    return display, sort_key(family, given, display)


def normalise_contacts(
    phones: Iterable[str], emails: Iterable[str], whatsapp: Iterable[str], region: str | None
) -> list[tuple[str, str]]:
    """Return unique ``(kind, value)`` pairs, phones in E.164, e-mails lower-cased."""
    seen: list[tuple[str, str]] = []
    for raw in phones:
        pair = (ContactKind.PHONE.value, normalize_phone(raw, region))
        if pair not in seen:
            seen.append(pair)
    for raw in whatsapp:
        pair = (ContactKind.WHATSAPP.value, normalize_phone(raw, region))
        if pair not in seen:
            seen.append(pair)
    for raw in emails:
        pair = (ContactKind.EMAIL.value, normalize_email(raw))
        if pair not in seen:
            seen.append(pair)
    return seen


# -- create / update -----------------------------------------------------------


def create_patient(
    session: Session, data: PatientInput, actor: Actor, *, default_region: str | None = None
) -> Patient:
    """Validate *data* and add a patient with its contact points, tags and conditions."""
    profile = validate_profile({name: getattr(data, name) for name in PROFILE_FIELDS})
    display, sort_name = _names(
        profile["given_name"], profile["family_name"], profile["display_name"]
    )
    region = data.region or default_region or config_of(session).default_region
    contacts = normalise_contacts(data.phones, data.emails, data.whatsapp, region)
    if profile["mrn"] and session.scalar(select(Patient.id).where(Patient.mrn == profile["mrn"])):
        raise DuplicateRecord(f"medical record number {profile['mrn']!r} is already in use")
    profile.update(display_name=display, sort_name=sort_name)
    patient = Patient(**profile)
    kinds_seen: set[str] = set()
    for kind, value in contacts:
        patient.contact_points.append(
            ContactPoint(kind=kind, value=value, is_primary=kind not in kinds_seen)
        )
        kinds_seen.add(kind)
    for system, value in data.external_ids.items():
        _check_external_id_free(session, system, value, None)
        patient.external_ids.append(ExternalId(system=system, value=value))
    patient.tags = ensure_tags(session, data.tags)
    patient.conditions = ensure_conditions(session, data.conditions)
    session.add(patient)
    session.flush()
    record(session, actor, "create", "patient", patient.id, patient_id=patient.id)
    events.emit(
        session,
        "careloop_on_patient_created",
        patient_id=patient.id,
        lead_source=patient.lead_source,
        actor=actor,
    )
    return patient


def _check_external_id_free(
    session: Session, system: str, value: str, patient_id: int | None
) -> None:
    owner = session.scalar(
        select(ExternalId.patient_id).where(ExternalId.system == system, ExternalId.value == value)
    )
    if owner is not None and owner != patient_id:
        raise DuplicateRecord(f"external id {system}:{value} belongs to another patient")


def ensure_tags(session: Session, names: Iterable[str]) -> list[Tag]:
    """The tags named, created when new (names are trimmed and lower-cased)."""
    wanted = sorted({n.strip().lower() for n in names if n and n.strip()})
    if not wanted:
        return []
    existing = {t.name: t for t in session.scalars(select(Tag).where(Tag.name.in_(wanted)))}
    for name in wanted:
        if name not in existing:
            if len(name) > 80:
                raise ValidationError(
                    f"tag {name[:20]!r}... is longer than 80 characters", field="tags"
                )
            existing[name] = Tag(name=name)
            session.add(existing[name])
    return [existing[n] for n in wanted]


def ensure_conditions(session: Session, pairs: Iterable[tuple[str, str] | str]) -> list[Condition]:
    """The conditions given as ``(code, label)`` (or just codes), created when new."""
    wanted: dict[str, str] = {}
    for item in pairs:
        code, label = (item, item) if isinstance(item, str) else item
        code = code.strip().upper()
        if code:
            wanted[code] = (label or code).strip()
    if not wanted:
        return []
    existing = {
        c.code: c for c in session.scalars(select(Condition).where(Condition.code.in_(wanted)))
    }
    for code, label in wanted.items():
        if code not in existing:
            existing[code] = Condition(code=code, label=label)
            session.add(existing[code])
    return [existing[c] for c in sorted(wanted)]


def get_patient(
    session: Session, patient_id: int, actor: Actor | None = None, *, audit_view: bool = True
) -> Patient:
    """Load a patient; with an *actor* and *audit_view*, record that they saw it."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise PatientNotFound(f"patient {patient_id} does not exist")
    if actor is not None and audit_view:
        record(session, actor, "view", "patient", patient.id, patient_id=patient.id)
    return patient


_PATIENT_EXISTS = select(Patient.id).where(Patient.id == bindparam("patient_id"))


def require_patient(session: Session, patient_id: int) -> None:
    """Raise :class:`PatientNotFound` unless the patient exists (no full load).

    For writes that only need the id to be valid (logging an interaction):
    answered from the session when the patient is loaded there, else by an
    indexed one-column query.
    """
    if session.identity_map.get(session.identity_key(Patient, patient_id)) is not None:
        return
    if session.autoflush:
        session.flush()  # a patient added in this session counts; a no-op when clean
    if session.connection().execute(_PATIENT_EXISTS, {"patient_id": patient_id}).first() is None:
        raise PatientNotFound(f"patient {patient_id} does not exist")


def update_patient(
    session: Session, patient_id: int, changes: dict[str, Any], actor: Actor
) -> list[str]:
    """Change profile fields; returns the names of the fields that really changed."""
    unknown = set(changes) - set(PROFILE_FIELDS) - {"tags", "conditions"}
    if unknown:
        raise ValidationError(f"unknown patient field(s): {', '.join(sorted(unknown))}")
    patient = get_patient(session, patient_id, audit_view=False)
    profile = validate_profile({k: v for k, v in changes.items() if k in PROFILE_FIELDS})
    changed: list[str] = []
    if profile.get("mrn") and profile["mrn"] != patient.mrn:
        taken = session.scalar(select(Patient.id).where(Patient.mrn == profile["mrn"]))
        if taken is not None:
            raise DuplicateRecord(f"medical record number {profile['mrn']!r} is already in use")
    for key, value in profile.items():
        if getattr(patient, key) != value:
            setattr(patient, key, value)
            changed.append(key)
    if "tags" in changes:
        tags = ensure_tags(session, changes["tags"])
        if {t.name for t in tags} != {t.name for t in patient.tags}:
            patient.tags = tags
            changed.append("tags")
    if "conditions" in changes:
        conditions = ensure_conditions(session, changes["conditions"])
        if {c.code for c in conditions} != {c.code for c in patient.conditions}:
            patient.conditions = conditions
            changed.append("conditions")
    if {"given_name", "family_name", "display_name"} & set(changed):
        display = profile.get("display_name") if "display_name" in changed else None
        patient.display_name, patient.sort_name = _names(
            patient.given_name, patient.family_name, display
        )
    if changed:
        patient.updated_at = utcnow()
        _patient_changed(session, patient.id, changed, actor)
    return changed


def _patient_changed(session: Session, patient_id: int, fields: list[str], actor: Actor) -> None:
    session.flush()
    record(
        session,
        actor,
        "update",
        "patient",
        patient_id,
        patient_id=patient_id,
        details={"fields": fields},
    )
    events.emit(
        session,
        "careloop_on_patient_updated",
        patient_id=patient_id,
        changed_fields=fields,
        actor=actor,
    )


def add_contact_point(
    session: Session,
    patient_id: int,
    kind: str,
    raw_value: str,
    actor: Actor,
    *,
    region: str | None = None,
    verified: bool = False,
) -> ContactPoint:
    """Add a phone, e-mail or WhatsApp number to a patient (no-op if already there)."""
    kind_value = choice(ContactKind, kind, "contact kind").value
    ((_, value),) = normalise_contacts(
        [raw_value] if kind_value == ContactKind.PHONE else [],
        [raw_value] if kind_value == ContactKind.EMAIL else [],
        [raw_value] if kind_value == ContactKind.WHATSAPP else [],
        region or config_of(session).default_region,
    )
    patient = get_patient(session, patient_id, audit_view=False)
    for point in patient.contact_points:
        if point.kind == kind_value and point.value == value:
            return point
    point = ContactPoint(
        kind=kind_value,
        value=value,
        verified=verified,
        is_primary=not any(p.kind == kind_value for p in patient.contact_points),
    )
    patient.contact_points.append(point)
    _patient_changed(session, patient.id, ["contact_points"], actor)
    return point


def remove_contact_point(session: Session, patient_id: int, contact_id: int, actor: Actor) -> str:
    """Remove one of the patient's phones, e-mails or WhatsApp numbers; returns its kind.

    When it was the primary one of its kind, the oldest remaining one of that
    kind becomes primary.  Raises :class:`NotFound` for another patient's point.
    """
    patient = get_patient(session, patient_id, audit_view=False)
    point = next((p for p in patient.contact_points if p.id == contact_id), None)
    if point is None:
        raise NotFound(f"patient {patient_id} has no contact point {contact_id}")
    patient.contact_points.remove(point)
    if point.is_primary:
        same = [p for p in patient.contact_points if p.kind == point.kind]
        if same:
            min(same, key=lambda p: p.id).is_primary = True
    _patient_changed(session, patient.id, ["contact_points"], actor)
    return point.kind


def archive_patient(session: Session, patient_id: int, actor: Actor) -> None:
    """Hide a patient from lists and campaigns; nothing is deleted."""
    patient = get_patient(session, patient_id, audit_view=False)
    if patient.archived_at is None:
        patient.archived_at = utcnow()
        _patient_changed(session, patient.id, ["archived_at"], actor)


# -- finding --------------------------------------------------------------------

_MATCH_COLUMNS = (
    Patient.id,
    Patient.display_name,
    Patient.mrn,
    Patient.preferred_language,
    Patient.birth_date,
)


def _by_contact(*kinds: str) -> Select[Any]:
    """Active patients with a contact point of one of *kinds* equal to ``:value``.

    Built once at import: the caller-ID path then pays no statement building,
    and plain ``=`` comparisons (not ``IN``) need no per-call SQL rendering.
    """
    return (
        select(*_MATCH_COLUMNS)
        .join(ContactPoint, ContactPoint.patient_id == Patient.id)
        .where(
            or_(*(ContactPoint.kind == kind for kind in kinds)),
            ContactPoint.value == bindparam("value"),
            Patient.merged_into_id.is_(None),
            Patient.archived_at.is_(None),
        )
        .distinct()
        .order_by(Patient.id)
        .limit(50)
    )


_BY_PHONE = DriverQuery(_by_contact(ContactKind.PHONE.value, ContactKind.WHATSAPP.value), "value")
_BY_EMAIL = DriverQuery(_by_contact(ContactKind.EMAIL.value), "value")


def _matches(session: Session, query: DriverQuery, value: str) -> list[PatientMatch]:
    return [PatientMatch(*row) for row in query.rows(session, value=value)]


def find_by_phone(
    session: Session, raw_phone: str, region: str | None = None
) -> list[PatientMatch]:
    """Active patients with this phone or WhatsApp number, written in any format.

    This is the caller-ID path: it selects only the columns it returns, with
    a statement built once (see ``bench/bench_lookup.py``).
    Raises :class:`InvalidPhoneNumber` when *raw_phone* cannot be parsed.
    """
    e164 = normalize_phone(raw_phone, region or config_of(session).default_region)
    return _matches(session, _BY_PHONE, e164)


def find_by_email(session: Session, raw_email: str) -> list[PatientMatch]:
    """Active patients with this e-mail address (case-insensitive)."""
    return _matches(session, _BY_EMAIL, normalize_email(raw_email))


def find_patients(session: Session, query: str, region: str | None = None) -> list[PatientMatch]:
    """Find by e-mail, MRN or external id, or phone number — whichever *query* looks like."""
    text = (query or "").strip()
    if not text:
        raise ValidationError("nothing to search for", field="query")
    if looks_like_email(text):
        return find_by_email(session, text)
    rows = session.execute(
        select(*_MATCH_COLUMNS)
        .outerjoin(ExternalId, ExternalId.patient_id == Patient.id)
        .where(or_(Patient.mrn == text, ExternalId.value == text), Patient.merged_into_id.is_(None))
        .distinct()
        .order_by(Patient.id)
        .limit(50)
    ).all()
    if rows:
        return [PatientMatch.from_row(row) for row in rows]
    try:
        return find_by_phone(session, text, region)
    except InvalidPhoneNumber:
        if any(ch.isdigit() for ch in text) and not any(ch.isalpha() for ch in text):
            raise
        return []


# -- merge ------------------------------------------------------------------------


@dataclass
class MergePlan:
    """What a merge moves from the duplicate (*loser*) to the kept record (*winner*)."""

    winner_id: int
    loser_id: int
    contact_points: int = 0
    consent_events: int = 0
    appointments: int = 0
    interactions: int = 0
    external_ids: int = 0
    related_people: int = 0
    tags: int = 0
    conditions: int = 0
    filled_fields: list[str] = field(default_factory=list)


def _merge_candidates(session: Session, winner_id: int, loser_id: int) -> tuple[Patient, Patient]:
    if winner_id == loser_id:
        raise MergeError("a patient cannot be merged into itself")
    winner = get_patient(session, winner_id, audit_view=False)
    loser = get_patient(session, loser_id, audit_view=False)
    for patient in (winner, loser):
        if patient.merged_into_id is not None:
            raise MergeError(
                f"patient {patient.id} was already merged into {patient.merged_into_id}"
            )
    return winner, loser


def _count(session: Session, model: Any, patient_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(model).where(model.patient_id == patient_id)
        )
        or 0
    )


def preview_merge(session: Session, winner_id: int, loser_id: int) -> MergePlan:
    """Count what :func:`merge_patients` would move, without changing anything."""
    winner, loser = _merge_candidates(session, winner_id, loser_id)
    winner_contacts = {(c.kind, c.value) for c in winner.contact_points}
    return MergePlan(
        winner_id=winner.id,
        loser_id=loser.id,
        contact_points=sum((c.kind, c.value) not in winner_contacts for c in loser.contact_points),
        consent_events=_count(session, ConsentEvent, loser.id),
        appointments=_count(session, Appointment, loser.id),
        interactions=_count(session, Interaction, loser.id),
        external_ids=len(loser.external_ids),
        related_people=len(loser.related_people),
        tags=len({t.name for t in loser.tags} - {t.name for t in winner.tags}),
        conditions=len({c.code for c in loser.conditions} - {c.code for c in winner.conditions}),
        filled_fields=[
            f
            for f in PROFILE_FIELDS
            if f not in ("display_name", "given_name", "family_name")
            and getattr(winner, f) in (None, "", "unknown")
            and getattr(loser, f) not in (None, "", "unknown", False)
        ],
    )


def merge_patients(session: Session, winner_id: int, loser_id: int, actor: Actor) -> MergePlan:
    """Move everything from *loser* to *winner*; keep *loser* as ``merged_into`` winner.

    Contact points, consent history, appointments, interactions, external ids,
    related people, tags and conditions move; empty profile fields of the
    winner are filled from the loser.  Plugins move their rows in
    ``careloop_on_patients_merged``.
    """
    plan = preview_merge(session, winner_id, loser_id)
    winner, loser = _merge_candidates(session, winner_id, loser_id)
    winner_contacts = {(c.kind, c.value) for c in winner.contact_points}
    for point in list(loser.contact_points):
        loser.contact_points.remove(point)
        if (point.kind, point.value) not in winner_contacts:
            point.is_primary = point.is_primary and not any(
                c.kind == point.kind and c.is_primary for c in winner.contact_points
            )
            winner.contact_points.append(point)
    with session.no_autoflush:  # a lazy load's autoflush would delete the moved orphans
        for ext in list(loser.external_ids):
            loser.external_ids.remove(ext)
            winner.external_ids.append(ext)
        for person in list(loser.related_people):
            loser.related_people.remove(person)
            winner.related_people.append(person)
    winner.tags = sorted({*winner.tags, *loser.tags}, key=lambda t: t.name or "")
    winner.conditions = sorted({*winner.conditions, *loser.conditions}, key=lambda c: c.code or "")
    loser.tags, loser.conditions = [], []
    for name in plan.filled_fields:
        value = getattr(loser, name)
        if name == "mrn":
            loser.mrn = None
            session.flush()
        setattr(winner, name, value)
    session.flush()
    for model in (ConsentEvent, Appointment, Interaction):
        session.execute(
            update(model).where(model.patient_id == loser.id).values(patient_id=winner.id),
            execution_options={"synchronize_session": False},
        )
    session.execute(delete(ContactPoint).where(ContactPoint.patient_id == loser.id))
    loser.merged_into_id = winner.id
    loser.archived_at = utcnow()
    winner.updated_at = utcnow()
    session.flush()
    details = {k: v for k, v in vars(plan).items() if k not in ("winner_id", "loser_id")}
    record(
        session,
        actor,
        "merge",
        "patient",
        winner.id,
        patient_id=winner.id,
        details={"loser_id": loser.id, **details},
    )
    record(
        session,
        actor,
        "merged_into",
        "patient",
        loser.id,
        patient_id=loser.id,
        details={"winner_id": winner.id},
    )
    events.emit(
        session, "careloop_on_patients_merged", winner_id=winner.id, loser_id=loser.id, actor=actor
    )
    return plan


def resolve_merged(session: Session, patient_id: int) -> int:
    """Follow ``merged_into`` links to the record that is kept."""
    seen: set[int] = set()
    current = patient_id
    while current not in seen:
        seen.add(current)
        target = session.scalar(select(Patient.merged_into_id).where(Patient.id == current))
        if target is None:
            return current
        current = target
    return current


def related_person(
    session: Session, patient_id: int, name: str, actor: Actor, **fields: Any
) -> RelatedPerson:
    """Add an emergency or family contact to a patient."""
    if not name or not name.strip():
        raise ValidationError("a related person needs a name", field="name")
    patient = get_patient(session, patient_id, audit_view=False)
    if fields.get("phone"):
        fields["phone"] = normalize_phone(
            fields["phone"], fields.pop("region", None) or config_of(session).default_region
        )
    fields.pop("region", None)
    person = RelatedPerson(name=name.strip(), **fields)
    patient.related_people.append(person)
    _patient_changed(session, patient.id, ["related_people"], actor)
    return person


def ids_of(matches: Sequence[PatientMatch]) -> list[int]:
    return [m.id for m in matches]
