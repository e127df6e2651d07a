"""Read-only transactions keep psycopg's prepared statements; writes are still rolled back."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import DBAPIError

from core.db import make_engine
from core.driver_query import DriverQuery
from core.models import Patient
from core.services.patients import PatientInput, create_patient

pytestmark = pytest.mark.postgresql_only

BY_ID = DriverQuery(select(Patient.display_name).where(Patient.id == bindparam("pid")), "pid")


@pytest.fixture
def engine(runtime):
    """One pooled connection, so every checkout is the same backend."""
    engine = make_engine(runtime.config.database_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _prepared(engine) -> list[str]:
    """The statements prepared on the pool's one connection (a read-only look)."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT statement FROM pg_prepared_statements").all()
    return [row[0] for row in rows]


def _run_often(engine, sql: str, times: int = 8) -> None:
    """Enough runs of *sql* in one read-only transaction for psycopg to prepare it."""
    with engine.connect() as connection:
        for _ in range(times):
            connection.exec_driver_sql(sql).all()
    # leaving the block rolls the transaction back: the point of the test


def test_a_read_only_transaction_ends_without_dropping_prepared_statements(engine):
    _run_often(engine, "SELECT count(*) FROM patients")
    assert "SELECT count(*) FROM patients" in _prepared(engine)
    _run_often(engine, "SELECT 1 FROM plugin_states")
    prepared = _prepared(engine)
    assert "SELECT count(*) FROM patients" in prepared  # survived another read-only rollback
    assert "SELECT 1 FROM plugin_states" in prepared


def test_a_transaction_that_wrote_is_rolled_back(engine, runtime, actor):
    with runtime.transaction() as s:
        pid = create_patient(s, PatientInput(given_name="Rina", family_name="Kusuma"), actor).id
    with engine.connect() as connection:
        connection.execute(
            text("UPDATE patients SET family_name = 'Changed' WHERE id = :pid"), {"pid": pid}
        )
        # closed without commit
    with engine.connect() as connection:
        family = connection.execute(
            text("SELECT family_name FROM patients WHERE id = :pid"), {"pid": pid}
        ).scalar()
    assert family == "Kusuma"


def test_a_row_lock_without_a_write_is_rolled_back_too(engine, runtime, actor):
    """``FOR UPDATE`` takes a transaction id: released by a real rollback."""
    with runtime.transaction() as s:
        pid = create_patient(s, PatientInput(given_name="Dewi"), actor).id
    with engine.connect() as connection:
        connection.execute(text("SELECT id FROM patients WHERE id = :pid FOR UPDATE"), {"pid": pid})
        assigned = connection.exec_driver_sql("SELECT txid_current_if_assigned()").scalar()
        assert assigned is not None
    with runtime.db.engine.connect() as other:  # not blocked: the lock is gone
        other.exec_driver_sql("SET lock_timeout = '2s'")
        other.execute(text("SELECT id FROM patients WHERE id = :pid FOR UPDATE"), {"pid": pid})
        other.rollback()


def test_a_failed_transaction_is_rolled_back_and_the_connection_works(engine):
    with engine.connect() as connection:
        with pytest.raises(DBAPIError):
            connection.exec_driver_sql("SELECT no_such_column FROM patients")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 41 + 1").scalar() == 42


def test_a_driver_query_is_prepared_once_whatever_the_ids_size(engine, runtime, actor):
    """psycopg sends 7 as int2 and 70,000 as int4: one prepared statement for both."""
    with runtime.transaction() as s:
        pid = create_patient(s, PatientInput(given_name="Agus", family_name="Salim"), actor).id
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        for value in (pid, 7, 70_000, 3_000_000_000) * 6:  # each past the threshold of 5
            BY_ID.rows(s, pid=value)
        assert BY_ID.rows(s, pid=pid) == [("Agus Salim",)]
    mine = [sql for sql in _prepared(engine) if "patients.display_name" in sql]
    assert len(mine) == 1
