"""Keep psycopg's prepared statements when a transaction that wrote nothing ends.

psycopg prepares a query on the server after it has run a few times on a
connection (``prepare_threshold``), so later runs skip PostgreSQL's parse and
plan.  But every ``ROLLBACK`` it sends drops all of that connection's prepared
statements (``DEALLOCATE ALL``: a rolled-back ``DROP`` or ``ALTER`` could leave
them pointing at the wrong objects).  SQLAlchemy ends every session that did
not commit with a rollback, and most requests only read: a page that lists
patients, the plugin-state check.  Each such request threw away the statements
and the next ones were parsed and planned again, so hot statements were never
prepared at all.

:func:`keep_prepared_statements` changes the dialect's rollback on one engine:
when the connection's transaction is open and has no transaction id
(``txid_current_if_assigned()`` is ``NULL``: PostgreSQL assigns one at the
first write, row lock or DDL), it is ended with ``COMMIT``, which for such a
transaction does exactly what ``ROLLBACK`` does and keeps the prepared
statements.  A transaction that wrote anything, or one in an error state, is
rolled back as before.  Cost: one small prepared query per rollback of an open
transaction.

What else a commit keeps that a rollback would undo, in a transaction that
wrote nothing: a session-level ``SET`` or ``set_config(..., false)`` (the pooled
connection keeps it: use ``SET LOCAL``), a ``LISTEN``, and a ``NOTIFY`` is
delivered.  CareLoop issues none of these in a request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

#: true when the open transaction has written (or locked, or changed the schema)
_WROTE = "SELECT txid_current_if_assigned() IS NOT NULL"


def _driver_connection(connection: Any) -> Any:
    """The psycopg connection behind SQLAlchemy's pool proxy (or *connection* itself)."""
    return getattr(connection, "driver_connection", None) or connection


def keep_prepared_statements(engine: Engine) -> None:
    """Make *engine*'s rollbacks of read-only transactions commit (PostgreSQL + psycopg)."""
    dialect = engine.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return
    from psycopg import Error
    from psycopg.pq import TransactionStatus

    rollback: Callable[[Any], None] = dialect.do_rollback

    def do_rollback(dbapi_connection: Any) -> None:
        connection = _driver_connection(dbapi_connection)
        try:
            if connection.info.transaction_status == TransactionStatus.INTRANS:
                wrote = connection.execute(_WROTE, prepare=True).fetchone()[0]
                if not wrote:
                    connection.commit()
                    return
        except Error:
            pass  # a broken connection: let the ordinary rollback raise or clean up
        rollback(dbapi_connection)

    dialect.do_rollback = do_rollback  # type: ignore[method-assign]
