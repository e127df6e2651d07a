"""View events: record_page_view writes what record_views writes; on PostgreSQL its
transaction's commit does not wait for the disk unless CARELOOP_DURABLE_VIEW_AUDIT."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.audit import Actor, record_page_view, record_views
from core.models import AuditEvent
from core.services.patients import PatientInput, create_patient

STAFF = Actor(label="staff:ayu", staff_user_id=None, ip_address="10.0.0.7")


def _patients(runtime, actor, count):
    with runtime.transaction() as s:
        return [
            create_patient(s, PatientInput(given_name=f"P{i}", family_name="Halim"), actor).id
            for i in range(count)
        ]


def _views(runtime, ids):
    with runtime.session() as s:
        events = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "view", AuditEvent.patient_id.in_(ids))
            .order_by(AuditEvent.id)
        ).all()
        return [
            (
                e.staff_user_id,
                e.actor,
                e.entity_type,
                e.entity_id,
                e.patient_id,
                e.ip_address,
                e.details,
                e.occurred_at.tzinfo is not None,
            )
            for e in events
        ]


def test_page_view_rows_are_those_of_record_views(runtime, actor):
    first, second, third = _patients(runtime, actor, 3)
    with runtime.transaction() as s:
        record_views(s, STAFF, [first], details={"via": "lookup"})
    with runtime.transaction() as s:
        record_page_view(s, STAFF, [second, third], details={"via": "lookup"})
        record_page_view(s, STAFF, [])  # nothing to record: no statement
    by_views, by_page = _views(runtime, [first]), _views(runtime, [second, third])
    assert [row[:3] + row[5:] for row in by_page] == [by_views[0][:3] + by_views[0][5:]] * 2
    assert [(row[3], row[4]) for row in by_page] == [(str(second), second), (str(third), third)]


def _commit_setting_inside(runtime, ids) -> str:
    with runtime.transaction() as s:
        record_page_view(s, STAFF, ids)
        return s.connection().exec_driver_sql("SHOW synchronous_commit").scalar()


@pytest.mark.postgresql_only
def test_on_postgres_the_page_view_commit_does_not_wait_for_the_disk(runtime, actor):
    (pid,) = _patients(runtime, actor, 1)
    assert _commit_setting_inside(runtime, [pid]) == "off"
    with runtime.session() as s:  # local to that transaction: the connection is back to on
        assert s.connection().exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    assert len(_views(runtime, [pid])) == 1


@pytest.mark.postgresql_only
def test_durable_view_audit_makes_the_commit_wait(runtime, actor):
    (pid,) = _patients(runtime, actor, 1)
    runtime.config = runtime.config.with_overrides(durable_view_audit=True)
    assert _commit_setting_inside(runtime, [pid]) == "on"


def test_the_setting_is_read_from_the_environment():
    from core.config import Config

    assert Config.from_env({}).durable_view_audit is False
    assert Config.from_env({"CARELOOP_DURABLE_VIEW_AUDIT": "1"}).durable_view_audit is True


@pytest.mark.postgresql_only
def test_a_transaction_that_wrote_first_keeps_waiting_for_the_disk(runtime, actor):
    """Pending changes are flushed first, and a transaction with a write stays durable."""
    (pid,) = _patients(runtime, actor, 1)
    with runtime.transaction() as s:
        s.add(AuditEvent(actor="test", action="export", entity_type="patient"))  # pending
        record_page_view(s, STAFF, [pid])
        assert s.connection().exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
