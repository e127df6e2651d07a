"""Hot-path reads compiled once and run on the driver's cursor.

SQLAlchemy's per-execution work (cache key, execution context, result
metadata) costs about as much as the database's own work for a one-row
indexed lookup.  A :class:`DriverQuery` is an ordinary Core ``select`` that is
compiled once per dialect; each call then hands the cached SQL string to the
DBAPI cursor of the session's own connection (so it runs inside the session's
transaction) and applies the columns' result processors itself, which keeps
types such as ``Date`` on SQLite and :class:`core.db.UTCDateTime` right.
On PostgreSQL psycopg prepares the repeated statement on the server by itself
(and keeps it across read-only transactions: :mod:`core.pg_prepared`); the
statement's numeric constants are written into its SQL and integers are sent
as ``int8``, so one generic plan serves every call.

What it skips: SQLAlchemy's engine events (statement logging or tracing
hooks) and its error wrapping — a failure surfaces as the driver's own
exception (``psycopg.Error``, ``sqlite3.Error``), and a dropped connection is
not invalidated here (``pool_pre_ping`` catches it at the next checkout).

Use it only where a benchmark shows the overhead matters (the caller-ID
lookup, the telephony summary).  Parameter values go through their types'
bind processors (aware datetimes become SQLite's naive UTC, as with SQLAlchemy).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CompoundSelect, Dialect, Select, literal_column
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import replacement_traverse


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: parameter names in placeholder order, for positional drivers (SQLite's ``?``)
    positions: tuple[str, ...] | None
    #: values of the statement's own constants (limits, literals), by name
    constants: dict[str, Any]
    #: the named parameters' bind processors (only those that have one)
    binders: dict[str, Callable[[Any], Any]]
    processors: tuple[Callable[[Any], Any] | None, ...]


def _with_inline_constants(statement: Any, parameters: tuple[str, ...], dialect: Dialect) -> Any:
    """*statement* with its numeric constants (limits, flags) written into the SQL.

    Left as bind parameters, a constant ``LIMIT`` makes PostgreSQL price the
    prepared statement's generic plan for an unknown limit, find it dearer than
    a plan for the actual values, and plan afresh on every run.  Only
    *parameters* stay parameters.  Strings stay parameters too: a literal's
    quoting and the driver's ``%`` escaping are not worth the risk.
    """

    def inline(element: Any) -> Any:
        if (
            isinstance(element, BindParameter)
            and element.key not in parameters
            and isinstance(element.value, int)  # bool is an int too
        ):
            render = element.type.dialect_impl(dialect).literal_processor(dialect)
            if render is not None:
                return literal_column(render(element.value), element.type)
        return None

    return replacement_traverse(statement, {}, inline)


def _same_width_int(dialect: Dialect, bind_type: Any) -> Callable[[Any], Any] | None:
    """On psycopg, send an integer parameter as ``int8`` whatever its value.

    psycopg sends a small ``int`` as ``int2`` and a larger one as ``int4``, and
    keeps one prepared statement per parameter types: without this a query by
    patient id was prepared (and planned) twice on every connection.
    """
    if dialect.driver != "psycopg":
        return None
    try:
        python_type = bind_type.python_type
    except NotImplementedError:
        return None
    if python_type is not int:
        return None
    from psycopg.types.numeric import Int8

    # operator.index: a float or Decimal is refused, not truncated to another id
    return lambda value: value if value is None else Int8(operator.index(value))


class DriverQuery:
    """A Core ``select`` (or ``UNION``) with named bind parameters, run on the DBAPI cursor."""

    def __init__(self, statement: Select[Any] | CompoundSelect, *parameters: str) -> None:
        self.statement = statement
        self.parameters = parameters
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = _with_inline_constants(self.statement, self.parameters, dialect).compile(
                dialect=dialect
            )
            if compiled.post_compile_params or compiled.literal_execute_params:
                raise ValueError(
                    "DriverQuery runs final SQL only: write IN (...) of constants as "
                    "or_(column == a, column == b)"
                )
            constants = compiled.construct_params({name: None for name in self.parameters})
            for name in self.parameters:
                constants.pop(name)
            positions = tuple(compiled.positiontup) if compiled.positional else None
            binders = {}
            for name in self.parameters:
                bind_type = compiled.binds[name].type.dialect_impl(dialect)
                binder = bind_type.bind_processor(dialect) or _same_width_int(dialect, bind_type)
                if binder is not None:
                    binders[name] = binder
            processors = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            )
            found = _Compiled(compiled.string, positions, constants, binders, processors)
            self._by_dialect[dialect.name] = found
        return found

    def rows(self, session: Session, **values: Any) -> list[tuple[Any, ...]]:
        """Run in *session*'s transaction (flushing it first, as a query would)."""
        if session.autoflush:
            session.flush()  # a no-op on a clean session
        connection = session.connection()
        compiled = self._compiled(connection.dialect)
        params: dict[str, Any] = {**compiled.constants, **values}
        for name, binder in compiled.binders.items():
            params[name] = binder(params[name])
        cursor = connection.connection.cursor()
        try:
            if compiled.positions is None:
                cursor.execute(compiled.sql, params)
            else:
                cursor.execute(compiled.sql, tuple(params[name] for name in compiled.positions))
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        processors = compiled.processors
        if not any(processors):
            return [tuple(row) for row in fetched]
        return [
            tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
            for row in fetched
        ]
