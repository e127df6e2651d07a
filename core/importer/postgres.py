"""PostgreSQL bulk path: ids reserved from the sequence, rows sent with ``COPY``.

``COPY FROM STDIN`` through psycopg 3 is the fastest way into PostgreSQL; it
runs inside the import's transaction on the session's own connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

from psycopg import sql
from sqlalchemy.orm import Session


def _cursor(session: Session) -> Any:
    return session.connection().connection.driver_connection.cursor()


def reserve_ids(session: Session, table: str, count: int) -> list[int]:
    """Take *count* ids from the table's ``id`` sequence."""
    if count == 0:
        return []
    with _cursor(session) as cur:
        cur.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            (table, count),
        )
        return [row[0] for row in cur.fetchall()]


def copy_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """``COPY table (columns) FROM STDIN`` the *rows*."""
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"  # names are ours, not input
    with _cursor(session) as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def copy_text(session: Session, table: str, columns: Sequence[str], lines: list[str]) -> None:
    """``COPY`` lines already in text format (tab-separated, ``\\N`` for NULL)."""
    if not lines:
        return
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"  # names are ours, not input
    with _cursor(session) as cur, cur.copy(statement) as copy:
        copy.write("".join(lines))


def fast_commit(session: Session) -> None:
    """Let this transaction commit without waiting for its WAL to reach the disk.

    A crash may lose the last commits (never corrupt them); whatever commits
    durably later (the import's audit event) flushes them first.
    """
    with _cursor(session) as cur:
        cur.execute("SET LOCAL synchronous_commit TO OFF")


#: the tables an import's new rows go to (their foreign keys: see :func:`unchecked_links`)
IMPORT_TABLES = ("patients", "contact_points", "patient_tags", "patient_conditions")


# every trigger must be a foreign key's own (a deferrable unique constraint's is internal too)
_NO_TRIGGERS = (
    "NOT EXISTS (SELECT 1 FROM pg_trigger t LEFT JOIN pg_constraint c ON c.oid = t.tgconstraint "
    "WHERE t.tgrelid = ANY(%(tables)s::regclass[]) "
    "AND (NOT t.tgisinternal OR c.contype IS DISTINCT FROM 'f')) "
    "AND NOT EXISTS (SELECT 1 FROM pg_rewrite WHERE ev_class = ANY(%(tables)s::regclass[]))"
)
#: (may set session_replication_role, no trigger nor rule but foreign keys), by "PostgreSQL 15+"
_MAY_SKIP_SQL = {
    False: "SELECT current_setting('is_superuser') = 'on', " + _NO_TRIGGERS,
    True: "SELECT current_setting('is_superuser') = 'on' OR "
    "has_parameter_privilege('session_replication_role', 'SET'), " + _NO_TRIGGERS,
}


def may_skip_row_checks(session: Session) -> bool:
    """Whether :func:`unchecked_links` may be used on this connection.

    It needs the right to set ``session_replication_role`` (superuser, or a
    ``GRANT SET`` on it, PostgreSQL 15+) and tables with no trigger besides
    the foreign-key checks, nor rule (what someone added must keep firing).
    """
    with _cursor(session) as cur:
        granted = cur.connection.info.server_version >= 150000  # GRANT SET ON PARAMETER
        cur.execute(_MAY_SKIP_SQL[granted], {"tables": list(IMPORT_TABLES)})
        privileged, no_triggers = cur.fetchone()
    return bool(privileged and no_triggers)


def lock_rows(session: Session, table: str, ids: Collection[int]) -> bool:
    """``FOR KEY SHARE``-lock the rows *ids* of *table*; whether all of them exist.

    Locked, they cannot be deleted (nor their ids changed) before this transaction ends.
    """
    if not ids:
        return True
    with _cursor(session) as cur:
        query = sql.SQL("SELECT id FROM {} WHERE id = ANY(%s) FOR KEY SHARE")
        cur.execute(query.format(sql.Identifier(table)), (list(ids),))
        return len(cur.fetchall()) == len(set(ids))


@contextlib.contextmanager
def unchecked_links(session: Session, skip: bool) -> Iterator[None]:
    """Inside, when *skip*: no per-row foreign-key check (nor trigger) on this connection.

    ``COPY`` otherwise queues a foreign-key check per row and per key (a third of
    the server's work for an import).  Only for rows whose references are known
    to hold until commit: new patients written in the same transaction, tags and
    conditions locked with :func:`lock_rows`.  ``SET LOCAL``: it is restored on
    the way out, and in any case when the transaction ends.
    """
    if not skip:
        yield
        return
    with _cursor(session) as cur:
        cur.execute("SET LOCAL session_replication_role TO replica")
    yield
    with _cursor(session) as cur:
        cur.execute("SET LOCAL session_replication_role TO origin")


def analyze(session: Session) -> None:
    """Refresh planner statistics of the tables an import grows (cheap, sampled)."""
    with _cursor(session) as cur:
        cur.execute("ANALYZE patients, contact_points")
