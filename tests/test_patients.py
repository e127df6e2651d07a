"""Patients: validation, lookup in any phone format, update, archive and merge."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import func, select

from core import Manifest, hookimpl
from core.errors import (
    DuplicateRecord,
    InvalidEmail,
    InvalidPhoneNumber,
    MergeError,
    PatientNotFound,
    ValidationError,
)
from core.models import (
    Appointment,
    AuditEvent,
    ConsentEvent,
    ContactPoint,
    ExternalId,
    Interaction,
    Patient,
    RelatedPerson,
)
from core.services.appointments import book_appointment
from core.services.consent import consent_history, grant, withdraw
from core.services.interactions import log_interaction
from core.services.patients import (
    PatientInput,
    add_contact_point,
    archive_patient,
    create_patient,
    find_by_email,
    find_by_phone,
    find_patients,
    get_patient,
    ids_of,
    merge_patients,
    preview_merge,
    related_person,
    resolve_merged,
    update_patient,
)


class HookRecorder:
    """A test plugin that writes down the patient hooks it receives."""

    manifest = Manifest(name="patient_hook_recorder", version="1.0")

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    @hookimpl
    def careloop_on_patient_created(self, patient_id, lead_source):
        self.calls.append(("created", {"patient_id": patient_id, "lead_source": lead_source}))

    @hookimpl
    def careloop_on_patient_updated(self, patient_id, changed_fields):
        self.calls.append(("updated", {"patient_id": patient_id, "fields": changed_fields}))

    @hookimpl
    def careloop_on_patients_merged(self, winner_id, loser_id):
        self.calls.append(("merged", {"winner_id": winner_id, "loser_id": loser_id}))


@pytest.fixture
def hooks(plugin_registrar) -> HookRecorder:
    recorder = HookRecorder()
    plugin_registrar(recorder)
    return recorder


def _create(runtime, actor, **fields) -> int:
    fields.setdefault("given_name", "Siti")
    with runtime.transaction() as s:
        return create_patient(s, PatientInput(**fields), actor).id


def _count(runtime, model, **where) -> int:
    with runtime.session() as s:
        q = select(func.count()).select_from(model)
        for name, value in where.items():
            q = q.where(getattr(model, name) == value)
        return s.scalar(q) or 0


def _audit(runtime, patient_id: int) -> list[AuditEvent]:
    with runtime.session() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.patient_id == patient_id)
                .order_by(AuditEvent.id)
            )
        )


# -- create and validation --------------------------------------------------------


def test_create_normalises_contacts_and_records_audit_and_hook(runtime, actor, hooks):
    pid = _create(
        runtime,
        actor,
        family_name="Rahayu",
        mrn=" CL-1 ",
        phones=["0812-3456-7890", "+62 812 3456 7890"],
        emails=["Siti.Rahayu@Example.COM"],
        whatsapp=["0812 3456 7890"],
        preferred_language="id",
        time_zone="Asia/Makassar",
        country="id",
        lead_source="instagram",
        tags=["VIP ", "vip"],
        conditions=[("e11", "Type 2 diabetes mellitus")],
    )
    with runtime.session() as s:
        p = get_patient(s, pid, audit_view=False)
        contacts = [(c.kind, c.value, c.is_primary) for c in p.contact_points]
        assert contacts == [
            ("phone", "+6281234567890", True),
            ("whatsapp", "+6281234567890", True),
            ("email", "siti.rahayu@example.com", True),
        ]
        assert p.mrn == "CL-1" and p.country == "ID" and p.display_name == "Siti Rahayu"
        assert [t.name for t in p.tags] == ["vip"]
        assert [(c.code, c.label) for c in p.conditions] == [("E11", "Type 2 diabetes mellitus")]
    assert [e.action for e in _audit(runtime, pid)] == ["create"]
    assert hooks.calls == [("created", {"patient_id": pid, "lead_source": "instagram"})]


@pytest.mark.parametrize(
    ("fields", "error", "field", "mentions"),
    [
        ({"phones": ["not a phone"]}, InvalidPhoneNumber, "phone", "not a phone"),
        ({"phones": ["12"]}, InvalidPhoneNumber, "phone", "'12'"),
        ({"whatsapp": ["+99 123"]}, InvalidPhoneNumber, "phone", "+99 123"),
        ({"emails": ["siti@@example"]}, InvalidEmail, "email", "siti@@example"),
        (
            {"birth_date": dt.date.today() + dt.timedelta(days=1)},
            ValidationError,
            "birth_date",
            "future",
        ),
        ({"birth_date": dt.date(1850, 1, 1)}, ValidationError, "birth_date", "1850"),
        ({"given_name": "", "family_name": " "}, ValidationError, "name", "name"),
        ({"preferred_language": "klingon-xx"}, ValidationError, "language", "klingon"),
        ({"time_zone": "Mars/Olympus"}, ValidationError, "time_zone", "Mars/Olympus"),
        ({"country": "Indonesia"}, ValidationError, "country", "Indonesia"),
        ({"sex": "robot"}, ValidationError, "sex", "robot"),
    ],
)
def test_create_rejects_bad_input_naming_it(runtime, actor, hooks, fields, error, field, mentions):
    fields = {"given_name": "Budi", **fields}
    with pytest.raises(error) as info, runtime.transaction() as s:
        create_patient(s, PatientInput(**fields), actor)
    assert info.value.field == field
    assert mentions in str(info.value)
    assert _count(runtime, Patient) == 0
    assert hooks.calls == []  # a rolled-back create fires nothing


def test_duplicate_mrn_and_external_id_are_refused(runtime, actor):
    _create(runtime, actor, mrn="CL-7", external_ids={"bpjs": "0001"})
    with pytest.raises(DuplicateRecord, match="CL-7"), runtime.transaction() as s:
        create_patient(s, PatientInput(given_name="Other", mrn="CL-7"), actor)
    with pytest.raises(DuplicateRecord, match="bpjs:0001"), runtime.transaction() as s:
        create_patient(s, PatientInput(given_name="Other", external_ids={"bpjs": "0001"}), actor)
    assert _count(runtime, Patient) == 1


@pytest.mark.parametrize(
    ("given", "family", "display", "sort_prefix"),
    [
        ("小明", "李", "李小明", "李"),
        ("민수", "김", "김민수", "김"),
        ("Сергій", "Коваленко", "Сергій Коваленко", "коваленко"),
        ("Siti", "Rahayu", "Siti Rahayu", "rahayu"),
        ("José", "Ñúñez", "José Ñúñez", "nunez"),
    ],
)
def test_names_round_trip_in_their_own_script(runtime, actor, given, family, display, sort_prefix):
    pid = _create(runtime, actor, given_name=given, family_name=family)
    runtime.db.engine.dispose()  # read back through a new connection
    with runtime.session() as s:
        p = s.get(Patient, pid)
        assert (p.given_name, p.family_name, p.display_name) == (given, family, display)
        assert p.sort_name.startswith(sort_prefix)


# -- finding -----------------------------------------------------------------------

PHONE_FORMATS = [
    ("ID", "0812-3456-7890", ["+62 812 3456 7890", "0062 812-3456-7890", "(0812) 3456-7890"]),
    ("CN", "138 0013 8000", ["+86 138 0013 8000", "0086 13800138000", "+86-138-0013-8000"]),
    ("RU", "8 (912) 345-67-89", ["+7 912 345-67-89", "+79123456789", "007 912 345 67 89"]),
    ("UA", "067 123 4567", ["+380 67 123 45 67", "00380671234567", "+380671234567"]),
    ("KR", "010-2345-6789", ["+82 10-2345-6789", "0082 10 2345 6789", "+821023456789"]),
]  # fmt: skip


@pytest.mark.parametrize(("region", "stored", "typed"), PHONE_FORMATS)
def test_phone_found_in_any_format(runtime, actor, region, stored, typed):
    pid = _create(runtime, actor, phones=[stored], region=region)
    other = _create(runtime, actor, given_name="Other", phones=["+61 412 345 678"])
    with runtime.session() as s:
        for raw in typed:
            assert ids_of(find_by_phone(s, raw)) == [pid], raw
        # the local format again, with the region it needs
        assert ids_of(find_by_phone(s, stored, region)) == [pid]
        assert ids_of(find_patients(s, typed[0])) == [pid]
        assert other not in ids_of(find_by_phone(s, typed[0]))


def test_local_numbers_use_the_configured_default_region(runtime, actor):
    assert runtime.config.default_region == "ID"
    pid = _create(runtime, actor, phones=["0812 1111 2222"])  # no region given: ID
    with runtime.session() as s:
        assert ids_of(find_by_phone(s, "+6281211112222")) == [pid]
        assert ids_of(find_by_phone(s, "081211112222", "ID")) == [pid]
        # the same digits dialled as a Korean local number are someone else's number
        assert find_by_phone(s, "0812 1111 2222", "KR") == []


def test_whatsapp_number_is_found_by_phone_lookup(runtime, actor):
    pid = _create(runtime, actor, whatsapp=["+7 916 123-45-67"])
    with runtime.session() as s:
        assert ids_of(find_by_phone(s, "8 916 123 45 67", "RU")) == [pid]


def test_unparseable_phone_lookup_names_the_value(runtime, actor):
    with runtime.session() as s:
        with pytest.raises(InvalidPhoneNumber, match="not-a-phone"):
            find_by_phone(s, "not-a-phone")
        with pytest.raises(InvalidPhoneNumber, match="123"):
            find_patients(s, "123")
        assert find_patients(s, "Siti Rahayu") == []


def test_email_lookup_is_case_insensitive(runtime, actor):
    pid = _create(runtime, actor, emails=["Siti.Rahayu@Example.COM"])
    with runtime.session() as s:
        for typed in (
            "siti.rahayu@example.com",
            "  SITI.RAHAYU@EXAMPLE.COM ",
            "Siti.Rahayu@example.Com",
        ):
            assert ids_of(find_by_email(s, typed)) == [pid]
            assert ids_of(find_patients(s, typed)) == [pid]
        assert find_by_email(s, "siti.rahayu@example.org") == []


def test_find_patients_by_mrn_email_phone_and_external_id(runtime, actor):
    pid = _create(
        runtime,
        actor,
        mrn="CL-000042",
        emails=["budi@example.com"],
        phones=["0813 9999 0000"],
        external_ids={"bpjs": "0001234567890"},
    )
    _create(runtime, actor, given_name="Someone", mrn="CL-000043")
    with runtime.session() as s:
        for query in ("CL-000042", "budi@example.com", "+62 813 9999 0000", "0001234567890"):
            matches = find_patients(s, query)
            assert ids_of(matches) == [pid], query
        assert matches[0].mrn == "CL-000042" and matches[0].display_name == "Siti"
        with pytest.raises(ValidationError):
            find_patients(s, "   ")


def test_archived_and_merged_patients_are_not_found_by_contact(runtime, actor):
    archived = _create(runtime, actor, phones=["0812 0000 1111"], emails=["a@example.com"])
    with runtime.transaction() as s:
        archive_patient(s, archived, actor)
    with runtime.session() as s:
        assert find_by_phone(s, "0812 0000 1111") == []
        assert find_by_email(s, "a@example.com") == []


# -- update and archive --------------------------------------------------------------


def test_update_reports_changed_fields_with_audit_and_hook(runtime, actor, hooks):
    pid = _create(runtime, actor, given_name="Sergei", family_name="Kovalenko", sex="male")
    hooks.calls.clear()
    with runtime.transaction() as s:
        changed = update_patient(
            s,
            pid,
            {
                "given_name": "Сергій",
                "family_name": "Коваленко",
                "sex": "male",  # unchanged: not reported
                "preferred_language": "uk",
                "birth_date": dt.date(1985, 4, 12),
                "tags": ["ukraine-desk"],
                "conditions": ["I10"],
            },
            actor,
        )
    assert sorted(changed) == sorted(
        ["given_name", "family_name", "birth_date", "preferred_language", "tags", "conditions"]
    )
    with runtime.session() as s:
        p = s.get(Patient, pid)
        assert p.display_name == "Сергій Коваленко"
        assert p.sort_name.startswith("коваленко")
    update = [e for e in _audit(runtime, pid) if e.action == "update"]
    assert len(update) == 1 and update[0].details == {"fields": changed}
    assert hooks.calls == [("updated", {"patient_id": pid, "fields": changed})]


def test_update_with_nothing_changed_records_nothing(runtime, actor, hooks):
    pid = _create(runtime, actor, preferred_language="id")
    hooks.calls.clear()
    with runtime.transaction() as s:
        assert (
            update_patient(s, pid, {"given_name": " Siti ", "preferred_language": "id"}, actor)
            == []
        )
    assert [e.action for e in _audit(runtime, pid)] == ["create"]
    assert hooks.calls == []


def test_update_refuses_unknown_fields_bad_values_and_taken_mrn(runtime, actor):
    pid = _create(runtime, actor, mrn="CL-1")
    _create(runtime, actor, given_name="Other", mrn="CL-2")
    with pytest.raises(ValidationError, match="password"), runtime.transaction() as s:
        update_patient(s, pid, {"password": "x"}, actor)
    with pytest.raises(ValidationError, match="xx-invalid"), runtime.transaction() as s:
        update_patient(s, pid, {"preferred_language": "xx-invalid"}, actor)
    with pytest.raises(DuplicateRecord, match="CL-2"), runtime.transaction() as s:
        update_patient(s, pid, {"mrn": "CL-2"}, actor)
    with pytest.raises(PatientNotFound), runtime.transaction() as s:
        update_patient(s, 999_999, {"given_name": "X"}, actor)


def test_archive_hides_keeps_and_audits_once(runtime, actor, hooks):
    pid = _create(runtime, actor, phones=["0812 5555 6666"])
    for _ in range(2):
        with runtime.transaction() as s:
            archive_patient(s, pid, actor)
    with runtime.session() as s:
        p = s.get(Patient, pid)
        assert p.archived_at is not None and not p.is_active
        assert len(p.contact_points) == 1  # nothing deleted
    assert [e.action for e in _audit(runtime, pid)] == ["create", "update"]
    assert [c for c in hooks.calls if c[0] == "updated"] == [
        ("updated", {"patient_id": pid, "fields": ["archived_at"]})
    ]


def test_add_contact_point_is_idempotent(runtime, actor):
    pid = _create(runtime, actor, phones=["0812 1234 0000"])
    with runtime.transaction() as s:
        add_contact_point(s, pid, "phone", "+62 812-1234-0000", actor)
        point = add_contact_point(s, pid, "email", "New@Example.com", actor)
        assert point.value == "new@example.com" and point.is_primary
    assert _count(runtime, ContactPoint, patient_id=pid) == 2


# -- merge -----------------------------------------------------------------------------


def _merge_pair(runtime, actor) -> tuple[int, int]:
    """A kept record and a duplicate with overlapping and extra data of every kind."""
    winner = _create(
        runtime,
        actor,
        given_name="Olena",
        family_name="Shevchenko",
        mrn="W-1",
        phones=["+380 67 111 22 33"],
        emails=["olena@example.com"],
        tags=["vip"],
        conditions=[("E11", "Type 2 diabetes mellitus")],
        external_ids={"bpjs": "W-BPJS"},
    )
    loser = _create(
        runtime,
        actor,
        given_name="Olena",
        region="UA",
        phones=["067 111 2233", "067 444 5566"],  # first one is the winner's number
        whatsapp=["067 444 5566"],
        emails=["olena.s@example.com"],
        birth_date=dt.date(1980, 5, 17),
        preferred_language="uk",
        time_zone="Europe/Kyiv",
        tags=["vip", "newsletter"],
        conditions=[("E11", "Type 2 diabetes mellitus"), ("I10", "Hypertension")],
        external_ids={"passport": "FA123456"},
    )
    when = dt.datetime(2025, 1, 10, 9, tzinfo=dt.UTC)
    with runtime.transaction() as s:
        grant(s, winner, "sms", "care", actor, occurred_at=when)
        grant(s, loser, "whatsapp", "care", actor, occurred_at=when)
        withdraw(s, loser, "email", "marketing", actor, occurred_at=when)
        book_appointment(s, winner, scheduled_start=when, actor=actor)
        for offset in (1, 2):
            book_appointment(
                s, loser, scheduled_start=when + dt.timedelta(days=offset), actor=actor
            )
        for pid, n in ((winner, 2), (loser, 3)):
            for i in range(n):
                log_interaction(
                    s, pid, channel="phone", direction="inbound", kind="call", actor=actor,
                    started_at=when + dt.timedelta(hours=i),
                )  # fmt: skip
        related_person(s, loser, "Taras Shevchenko", actor, relationship_="spouse")
    return winner, loser


def test_merge_moves_everything_and_preview_counts_match(runtime, actor, hooks):
    winner, loser = _merge_pair(runtime, actor)
    before = {
        model: (_count(runtime, model, patient_id=winner), _count(runtime, model, patient_id=loser))
        for model in (ConsentEvent, Appointment, Interaction, ExternalId, RelatedPerson)
    }
    with runtime.session() as s:
        preview = preview_merge(s, winner, loser)
    assert (_count(runtime, Patient, merged_into_id=winner)) == 0  # preview changed nothing
    hooks.calls.clear()
    with runtime.transaction() as s:
        plan = merge_patients(s, winner, loser, actor)
    assert vars(plan) == vars(preview)
    assert plan.contact_points == 3  # the shared phone is not counted: it is not moved
    assert (plan.consent_events, plan.appointments, plan.interactions) == (2, 2, 3)
    assert (plan.external_ids, plan.related_people, plan.tags, plan.conditions) == (1, 1, 1, 1)
    assert set(plan.filled_fields) == {"birth_date", "preferred_language", "time_zone"}

    moved = {
        ConsentEvent: plan.consent_events,
        Appointment: plan.appointments,
        Interaction: plan.interactions,
        ExternalId: plan.external_ids,
        RelatedPerson: plan.related_people,
    }
    for model, count in moved.items():
        won, lost = before[model]
        assert _count(runtime, model, patient_id=winner) == won + count == won + lost, model
        assert _count(runtime, model, patient_id=loser) == 0, model

    with runtime.session() as s:
        w, lo = s.get(Patient, winner), s.get(Patient, loser)
        pairs = [(c.kind, c.value) for c in w.contact_points]
        assert len(pairs) == len(set(pairs)) == 5
        assert set(pairs) >= {
            ("phone", "+380671112233"),
            ("phone", "+380674445566"),
            ("whatsapp", "+380674445566"),
            ("email", "olena.s@example.com"),
        }
        primaries = Counter(c.kind for c in w.contact_points if c.is_primary)
        assert all(n == 1 for n in primaries.values()), primaries
        assert [t.name for t in w.tags] == ["newsletter", "vip"]
        assert [c.code for c in w.conditions] == ["E11", "I10"]
        assert {e.system for e in w.external_ids} == {"bpjs", "passport"}
        assert (w.birth_date, w.preferred_language, w.time_zone) == (
            dt.date(1980, 5, 17),
            "uk",
            "Europe/Kyiv",
        )
        assert w.mrn == "W-1" and w.family_name == "Shevchenko"
        assert lo.merged_into_id == winner and lo.archived_at is not None
        assert lo.contact_points == [] and lo.tags == [] and lo.conditions == []
        assert resolve_merged(s, loser) == winner
        assert ids_of(find_by_phone(s, "067 444 5566", "UA")) == [winner]
        assert len(consent_history(s, winner)) == 3

    merge_events = [e for e in _audit(runtime, winner) if e.action == "merge"]
    assert len(merge_events) == 1
    assert merge_events[0].details["loser_id"] == loser
    assert merge_events[0].details["interactions"] == 3
    loser_events = [e for e in _audit(runtime, loser) if e.action == "merged_into"]
    assert len(loser_events) == 1 and loser_events[0].details == {"winner_id": winner}
    assert hooks.calls == [("merged", {"winner_id": winner, "loser_id": loser})]


def test_merge_refuses_itself_twice_and_merged_targets(runtime, actor, hooks):
    winner, loser = _merge_pair(runtime, actor)
    third = _create(runtime, actor, given_name="Third")
    with pytest.raises(MergeError), runtime.transaction() as s:
        merge_patients(s, winner, winner, actor)
    with runtime.transaction() as s:
        merge_patients(s, winner, loser, actor)
    hooks.calls.clear()
    for pair in ((winner, loser), (loser, third), (third, loser)):
        with pytest.raises(MergeError), runtime.transaction() as s:
            merge_patients(s, *pair, actor)
        with pytest.raises(MergeError), runtime.session() as s:
            preview_merge(s, *pair)
    with pytest.raises(PatientNotFound), runtime.transaction() as s:
        merge_patients(s, winner, 999_999, actor)
    assert hooks.calls == []
    assert _count(runtime, AuditEvent, action="merge") == 1


def test_merge_rolled_back_changes_nothing(runtime, actor, hooks):
    winner, loser = _merge_pair(runtime, actor)
    hooks.calls.clear()
    with pytest.raises(RuntimeError), runtime.transaction() as s:
        merge_patients(s, winner, loser, actor)
        raise RuntimeError("crash after the merge, before commit")
    with runtime.session() as s:
        assert s.get(Patient, loser).merged_into_id is None
    assert _count(runtime, Interaction, patient_id=loser) == 3
    assert hooks.calls == []


def test_preferred_channels_are_checked_and_tidied(runtime, actor):
    from core.services.validation import parse_channel_order

    assert parse_channel_order(" WhatsApp ;sms, whatsapp ") == "whatsapp,sms"
    assert parse_channel_order(["email"]) == "email" and parse_channel_order("") is None
    with pytest.raises(ValidationError, match="'fax'"), runtime.transaction() as s:
        create_patient(s, PatientInput(given_name="Ani", preferred_channels="sms,fax"), actor)


def test_removing_a_contact_point_promotes_the_next_and_stays_within_the_patient(runtime, actor):
    from core.errors import NotFound
    from core.services.patients import remove_contact_point

    with runtime.transaction() as s:
        first = create_patient(
            s, PatientInput(given_name="Ani", phones=["081200000001", "081200000002"]), actor
        )
        other = create_patient(s, PatientInput(given_name="Budi", phones=["081200000003"]), actor)
        primary = next(p for p in first.contact_points if p.is_primary)
        foreign = other.contact_points[0].id
        ids = (first.id, primary.id)
    with runtime.transaction() as s:
        assert remove_contact_point(s, ids[0], ids[1], actor) == "phone"
    with runtime.session() as s:
        left = s.get(Patient, ids[0]).contact_points
        assert [(p.value, p.is_primary) for p in left] == [("+6281200000002", True)]
    with pytest.raises(NotFound), runtime.transaction() as s:
        remove_contact_point(s, ids[0], foreign, actor)
