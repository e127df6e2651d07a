"""PostgreSQL bulk path: ids reserved from the sequence, rows sent with ``COPY``.

``COPY FROM STDIN`` through psycopg 3 is the fastest way into PostgreSQL; it
runs inside the import's transaction on the session's own connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

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


def analyze(session: Session) -> None:
    """Refresh planner statistics of the tables an import grows (cheap, sampled)."""
    with _cursor(session) as cur:
        cur.execute("ANALYZE patients, contact_points")
