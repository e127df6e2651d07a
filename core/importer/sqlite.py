"""SQLite bulk path: ``executemany`` of Core inserts in big batches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from core.db import Base


def insert_returning_ids(session: Session, table: str, rows: list[dict[str, Any]]) -> list[int]:
    """Insert *rows* and return their new ids in the same order."""
    if not rows:
        return []
    target: Table = Base.metadata.tables[table]
    statement = insert(target).returning(target.c.id, sort_by_parameter_order=True)
    return list(session.execute(statement, rows).scalars())


def insert_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert *rows* (tuples in *columns* order) with one executemany."""
    params = [dict(zip(columns, row, strict=True)) for row in rows]
    if params:
        session.execute(insert(Base.metadata.tables[table]), params)
