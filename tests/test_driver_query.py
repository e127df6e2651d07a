"""DriverQuery: a Core select run on the driver's cursor gives what SQLAlchemy would."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, select

from core.driver_query import DriverQuery
from core.models import Interaction, Patient
from core.services.interactions import log_interaction
from core.services.patients import PatientInput, create_patient

BY_FAMILY = DriverQuery(
    select(Patient.id, Patient.birth_date, Patient.created_at)
    .where(Patient.family_name == bindparam("family"), Patient.archived_at.is_(None))
    .order_by(Patient.id)
    .limit(2),
    "family",
)


def test_same_rows_and_types_as_sqlalchemy(runtime, actor):
    with runtime.transaction() as s:
        for given in ("Ayu", "Bayu", "Citra"):
            create_patient(
                s,
                PatientInput(
                    given_name=given, family_name="Lestari", birth_date=dt.date(1990, 5, 17)
                ),
                actor,
            )
    with runtime.session() as s:
        rows = BY_FAMILY.rows(s, family="Lestari")
        expected = s.execute(BY_FAMILY.statement, {"family": "Lestari"}).all()
    assert rows == [tuple(r) for r in expected] and len(rows) == 2  # the LIMIT constant kept
    assert rows[0][1] == dt.date(1990, 5, 17)  # Date on SQLite too
    assert rows[0][2].tzinfo is not None  # UTCDateTime's processor applied


def test_runs_in_the_sessions_transaction_after_its_pending_changes(runtime, actor):
    with runtime.transaction() as s:
        pid = create_patient(s, PatientInput(given_name="Eka", family_name="Wijaya"), actor).id
        log_interaction(s, pid, channel="phone", direction="inbound", kind="call", actor=actor)
        s.get(Patient, pid).family_name = "Wijayakusuma"  # pending: flushed by rows()
        assert [r[0] for r in BY_FAMILY.rows(s, family="Wijayakusuma")] == [pid]
        s.rollback()
    with runtime.session() as s:
        assert BY_FAMILY.rows(s, family="Wijayakusuma") == []
        assert s.query(Interaction).count() == 0


def test_parameters_go_through_their_types(runtime, actor):
    from core.db import UTCDateTime

    since = DriverQuery(
        select(Patient.id).where(Patient.created_at >= bindparam("since", type_=UTCDateTime())),
        "since",
    )
    with runtime.transaction() as s:
        pid = create_patient(s, PatientInput(given_name="Fajar"), actor).id
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with runtime.session() as s:
        # an aware time is compared as stored (naive UTC text on SQLite)
        assert since.rows(s, since=past) == [(pid,)]
        assert since.rows(s, since=past + dt.timedelta(days=1)) == []


def test_expanding_in_is_refused_with_a_hint(runtime):
    query = DriverQuery(select(Patient.id).where(Patient.sex.in_(["female", "male"])))
    with runtime.session() as s, pytest.raises(ValueError, match="or_"):
        query.rows(s)


def test_numeric_constants_are_written_into_the_sql_strings_stay_parameters(runtime, actor):
    """Limits are part of the SQL (PostgreSQL's generic plan then fits every run); constant
    strings stay parameters, so a quote or a percent sign means what it says."""
    with runtime.transaction() as s:
        for given in ("Ana", "Budi", "Cahya"):
            create_patient(s, PatientInput(given_name=given, family_name="O'Neil 50%"), actor)
        create_patient(s, PatientInput(given_name="Dian", family_name="O'Neil 50%%"), actor)
    query = DriverQuery(
        select(Patient.given_name)
        .where(Patient.family_name == "O'Neil 50%", Patient.given_name != bindparam("not_given"))
        .order_by(Patient.given_name)
        .limit(2),
        "not_given",
    )
    with runtime.session() as s:
        assert query.rows(s, not_given="Ana") == [("Budi",), ("Cahya",)]
        sql = query._compiled(s.connection().dialect).sql
    assert "O'Neil" not in sql and "O''Neil" not in sql
    assert "LIMIT 2" in sql
