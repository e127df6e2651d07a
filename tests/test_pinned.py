"""Pinned connections: lent one caller at a time, bounded, replaced when the server dropped them."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text


def _backend_pid(connection) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.postgresql_only
def test_calls_reuse_a_kept_connection_in_autocommit(runtime):
    pinned = runtime.db.pinned
    first = pinned.run(_backend_pid)
    assert pinned.run(_backend_pid) == first
    assert pinned.run(lambda c: c.autocommit) is True
    other: list[int] = []
    thread = threading.Thread(target=lambda: other.append(pinned.run(_backend_pid)))
    thread.start()
    thread.join()
    assert other == [first]  # threads share the kept connections, one caller at a time


@pytest.mark.postgresql_only
def test_threads_that_come_and_go_hold_no_more_than_the_kept_connections(runtime):
    """A threaded server must not leak pool slots (one per thread it ever ran)."""
    pinned = runtime.db.pinned
    pool = runtime.db.engine.pool
    for _ in range(20):
        thread = threading.Thread(target=lambda: pinned.run(_backend_pid))
        thread.start()
        thread.join()
    assert pool.checkedout() <= pinned.keep
    with runtime.db.engine.connect() as connection:  # the pool still serves everyone else
        connection.execute(text("SELECT 1"))


@pytest.mark.postgresql_only
def test_more_concurrent_callers_than_kept_connections_borrow_from_the_pool(runtime):
    pinned = runtime.db.pinned
    inside = threading.Barrier(pinned.keep + 2)
    seen: list[int] = []

    def work(connection):
        seen.append(_backend_pid(connection))
        inside.wait(timeout=10)  # everybody holds a connection at the same time
        return connection.autocommit

    threads = [threading.Thread(target=lambda: pinned.run(work)) for _ in range(pinned.keep + 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == pinned.keep + 2
    assert runtime.db.engine.pool.checkedout() <= pinned.keep  # the extra ones went back


@pytest.mark.postgresql_only
def test_a_connection_the_server_dropped_is_replaced_and_the_call_runs_once_more(runtime):
    pinned = runtime.db.pinned
    dropped = pinned.run(_backend_pid)
    with runtime.db.engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped})
        admin.commit()
        for _ in range(100):  # the backend is gone (not merely asked to go)
            gone = admin.execute(
                text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": dropped},
            ).scalar()
            admin.commit()
            if gone:
                break
            time.sleep(0.05)
    calls: list[int] = []

    def work(connection):
        calls.append(1)
        return _backend_pid(connection)

    replacement = pinned.run(work)
    assert replacement != dropped and len(calls) == 2


@pytest.mark.postgresql_only
def test_a_failing_statement_on_a_live_connection_is_not_retried(runtime):
    pinned = runtime.db.pinned
    calls: list[int] = []

    def work(connection):
        calls.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")

    with pytest.raises(Exception, match="division by zero"):
        pinned.run(work)
    assert len(calls) == 1
    assert pinned.run(lambda c: 1) == 1  # still usable


@pytest.mark.postgresql_only
def test_dispose_gives_the_connections_back(runtime):
    pinned = runtime.db.pinned
    pinned.run(_backend_pid)
    pinned.close()
    assert pinned.run(_backend_pid)  # a fresh checkout after close


@pytest.mark.parametrize(
    ("sqlstate", "lost"),
    [
        (None, True),  # the socket closed under the driver
        ("08006", True),  # connection failure
        ("57P01", True),  # terminated by an administrator
        ("57014", False),  # statement timeout: the connection is fine
        ("40P01", False),  # deadlock: retrying is the caller's decision
    ],
)
def test_only_a_lost_connection_counts_as_dead(sqlstate, lost):
    from types import SimpleNamespace

    from core.pinned import _connection_lost

    error = SimpleNamespace(diag=SimpleNamespace(sqlstate=sqlstate))
    assert _connection_lost(SimpleNamespace(closed=False), error) is lost
    assert _connection_lost(SimpleNamespace(closed=True), error) is True
