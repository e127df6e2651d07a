"""Database plumbing: declarative base, column types, engine and sessions.

Core models, plugin models, workers and migrations all use this module; it has
no Flask imports.  Times are stored as UTC (invariant 5): :class:`UTCDateTime`
refuses naive datetimes and always returns aware ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from core.pg_prepared import keep_prepared_statements
from core.pinned import PinnedConnections

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Primary keys: BIGINT on PostgreSQL, INTEGER (rowid alias) on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
#: JSON documents: JSONB on PostgreSQL.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")


def partial_index(name: str, present: str, *columns: str) -> Index:
    """An index on *columns* (default: *present*) of the rows where *present* is not null.

    For mostly-empty columns (an interaction's appointment, a system actor's
    staff user): rows without a value cost no index entry, and an equality
    lookup on the column (foreign-key cascades, joins) still uses it.
    """
    where = text(f"{present} IS NOT NULL")
    return Index(name, *(columns or (present,)), postgresql_where=where, sqlite_where=where)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC; naive values are refused, results are aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; CareLoop stores aware UTC times only")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base shared by core and plugin models."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSONDocument,
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with CareLoop's per-dialect settings."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    keep_prepared_statements(engine)  # read-only requests keep psycopg's prepared statements
    return engine


class Database:
    """An engine and the session factory bound to it."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        #: per-thread autocommit connections for single-statement hot paths (PostgreSQL)
        self.pinned = PinnedConnections(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, **info: Any) -> Session:
        """A new session; *info* is copied into ``session.info``."""
        session = self.session_factory()
        session.info.update(info)
        return session

    @contextmanager
    def transaction(self, **info: Any) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.session(**info) as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.pinned.close()
        self.engine.dispose()
