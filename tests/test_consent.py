"""Consent: an append-only history whose latest event (by when it happened) is the state."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, select

from core import Manifest, hookimpl
from core.errors import PatientNotFound, ValidationError
from core.models import AuditEvent, ConsentEvent
from core.services.consent import (
    consent_history,
    current_consent,
    grant,
    has_consent,
    record_consent,
    withdraw,
)
from core.services.patients import PatientInput, create_patient

T = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


class ConsentHooks:
    manifest = Manifest(name="consent_hook_recorder", version="1.0")

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str]] = []

    @hookimpl
    def careloop_on_consent_changed(self, patient_id, channel, purpose, status, method):
        self.calls.append((channel, purpose, status, method))


@pytest.fixture
def hooks(plugin_registrar) -> ConsentHooks:
    recorder = ConsentHooks()
    plugin_registrar(recorder)
    return recorder


@pytest.fixture
def pid(runtime, actor) -> int:
    with runtime.transaction() as s:
        return create_patient(s, PatientInput(given_name="김민수"), actor).id


def _state(runtime, pid) -> dict[tuple[str, str], str]:
    with runtime.session() as s:
        return {key: state.status for key, state in current_consent(s, pid).items()}


def _has(runtime, pid, channel, purpose) -> bool:
    with runtime.session() as s:
        return has_consent(s, pid, channel, purpose)


def test_no_event_means_no_consent(runtime, pid):
    assert _state(runtime, pid) == {}
    assert not _has(runtime, pid, "sms", "care")


def test_withdrawal_after_grant_wins(runtime, actor, pid):
    with runtime.transaction() as s:
        grant(s, pid, "sms", "marketing", actor, occurred_at=T, method="form")
    assert _has(runtime, pid, "sms", "marketing")
    with runtime.transaction() as s:
        withdraw(s, pid, "sms", "marketing", actor, occurred_at=T + HOUR, method="reply_keyword")
    assert not _has(runtime, pid, "sms", "marketing")
    with runtime.session() as s:
        state = current_consent(s, pid)[("sms", "marketing")]
    assert (state.status, state.method, state.occurred_at, state.granted) == (
        "withdrawn",
        "reply_keyword",
        T + HOUR,
        False,
    )


def test_latest_by_occurred_at_even_when_recorded_out_of_order(runtime, actor, pid):
    with runtime.transaction() as s:
        grant(s, pid, "email", "care", actor, occurred_at=T + 2 * HOUR)
        # a paper withdrawal signed earlier is typed in afterwards: the grant still stands
        withdraw(s, pid, "email", "care", actor, occurred_at=T, method="import")
    assert _has(runtime, pid, "email", "care")
    assert _state(runtime, pid) == {("email", "care"): "granted"}
    with runtime.transaction() as s:
        withdraw(s, pid, "whatsapp", "care", actor, occurred_at=T + 5 * HOUR)
        grant(s, pid, "whatsapp", "care", actor, occurred_at=T + 4 * HOUR, method="import")
    assert not _has(runtime, pid, "whatsapp", "care")
    with runtime.session() as s:
        history = consent_history(s, pid)
    assert [e.occurred_at for e in history] == sorted(
        (e.occurred_at for e in history), reverse=True
    )
    assert len(history) == 4


def test_same_instant_later_record_wins(runtime, actor, pid):
    with runtime.transaction() as s:
        grant(s, pid, "phone", "care", actor, occurred_at=T)
        withdraw(s, pid, "phone", "care", actor, occurred_at=T)
    assert not _has(runtime, pid, "phone", "care")
    assert _state(runtime, pid) == {("phone", "care"): "withdrawn"}


def test_channels_and_purposes_are_independent(runtime, actor, pid):
    with runtime.transaction() as s:
        grant(s, pid, "sms", "care", actor, occurred_at=T)
        grant(s, pid, "sms", "marketing", actor, occurred_at=T)
        withdraw(s, pid, "sms", "marketing", actor, occurred_at=T + HOUR)
        grant(s, pid, "whatsapp", "marketing", actor, occurred_at=T)
    assert _state(runtime, pid) == {
        ("sms", "care"): "granted",
        ("sms", "marketing"): "withdrawn",
        ("whatsapp", "marketing"): "granted",
    }
    expected = {
        ("sms", "care"): True,
        ("sms", "marketing"): False,
        ("whatsapp", "marketing"): True,
        ("whatsapp", "care"): False,
        ("email", "care"): False,
        ("phone", "marketing"): False,
    }
    for (channel, purpose), allowed in expected.items():
        assert _has(runtime, pid, channel, purpose) is allowed, (channel, purpose)


def test_history_is_append_only(runtime, actor, pid):
    with runtime.transaction() as s:
        first = grant(s, pid, "sms", "care", actor, occurred_at=T, evidence="form #1")
        first_id = first.id
    statements: list[str] = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.upper())

    event.listen(runtime.db.engine, "before_cursor_execute", spy)
    try:
        with runtime.transaction() as s:
            withdraw(s, pid, "sms", "care", actor, occurred_at=T + HOUR)
            grant(s, pid, "sms", "care", actor, occurred_at=T + 2 * HOUR)
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", spy)
    touching = [q for q in statements if "CONSENT_EVENTS" in q]
    assert any(q.startswith("INSERT") for q in touching)
    assert not [q for q in touching if q.startswith(("UPDATE", "DELETE"))]
    with runtime.session() as s:
        kept = s.get(ConsentEvent, first_id)
        assert (kept.status, kept.evidence, kept.occurred_at) == ("granted", "form #1", T)
        assert [e.status for e in consent_history(s, pid)] == ["granted", "withdrawn", "granted"]


def test_every_event_is_audited_without_patient_data(runtime, actor, pid):
    with runtime.transaction() as s:
        grant(s, pid, "email", "marketing", actor, method="form", evidence="secret text")
        withdraw(s, pid, "email", "marketing", actor, method="provider")
    with runtime.session() as s:
        audit = list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity_type == "consent")
                .order_by(AuditEvent.id)
            )
        )
    assert [a.action for a in audit] == ["consent.granted", "consent.withdrawn"]
    assert audit[0].details == {"channel": "email", "purpose": "marketing", "method": "form"}
    assert all(a.patient_id == pid and "secret" not in str(a.details) for a in audit)


def test_hook_fires_only_when_the_state_changes(runtime, actor, pid, hooks):
    steps = [
        (grant, T, "form", [("sms", "care", "granted", "form")]),
        (grant, T + HOUR, "staff", []),  # still granted
        (withdraw, T - HOUR, "import", []),  # older than the grant: state unchanged
        (withdraw, T + 2 * HOUR, "reply_keyword", [("sms", "care", "withdrawn", "reply_keyword")]),
        (withdraw, T + 3 * HOUR, "staff", []),  # already withdrawn
        (grant, T + 4 * HOUR, "form", [("sms", "care", "granted", "form")]),
    ]
    for action, when, method, fired in steps:
        hooks.calls.clear()
        with runtime.transaction() as s:
            action(s, pid, "sms", "care", actor, occurred_at=when, method=method)
        assert hooks.calls == fired, (action.__name__, when, method)


def test_hook_does_not_fire_for_a_rolled_back_change(runtime, actor, pid, hooks):
    with pytest.raises(RuntimeError), runtime.transaction() as s:
        grant(s, pid, "whatsapp", "care", actor)
        raise RuntimeError("rolled back")
    assert hooks.calls == []
    assert _state(runtime, pid) == {}


@pytest.mark.parametrize(
    ("channel", "purpose", "status", "method", "field"),
    [
        ("fax", "care", "granted", "form", "channel"),
        ("sms", "spam", "granted", "form", "purpose"),
        ("sms", "care", "maybe", "form", "status"),
        ("sms", "care", "granted", "telepathy", "method"),
    ],
)
def test_bad_values_are_refused_by_name(
    runtime, actor, pid, channel, purpose, status, method, field
):
    with pytest.raises(ValidationError) as info, runtime.transaction() as s:
        record_consent(s, pid, channel, purpose, status, method, actor)
    assert info.value.field == field
    assert _state(runtime, pid) == {}


def test_naive_times_and_unknown_patients_are_refused(runtime, actor, pid):
    with pytest.raises(ValidationError, match="time zone"), runtime.transaction() as s:
        grant(s, pid, "sms", "care", actor, occurred_at=dt.datetime(2025, 1, 1))
    with pytest.raises(PatientNotFound), runtime.transaction() as s:
        grant(s, 999_999, "sms", "care", actor)
