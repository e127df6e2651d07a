"""A few pooled connections kept aside for a hot, self-contained statement.

Checking a connection out of SQLAlchemy's pool costs a pre-ping round trip
(``pool_pre_ping``) and some bookkeeping on every call; for the telephony
screen pop, which is one autocommitted statement, that was a tenth of the
request.  :class:`PinnedConnections` checks up to *keep* connections out once
(with the pre-ping), switches them to autocommit and lends them to one caller
at a time.  When all of them are lent, a caller gets an ordinary checkout,
given back to the pool afterwards: threads that come and go (a threaded dev
server, gthread workers) never hold more than *keep* connections of the pool.

A connection that turns out to be dead (the server restarted or dropped it
while idle) is discarded and the call is run once more on a fresh one.  That
is safe for a statement that runs as its own transaction: a statement sent on
a dead connection never ran, and one cut off by a server crash did not commit
unless the crash came after the commit and before the answer, in which case
the statement runs twice (the screen pop then finds its own ``call_id``, if it had
one, and logs nothing more).  Only use it for such statements, on PostgreSQL.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")

#: connections kept aside by default (well under the pool's default size of 5)
KEEP = 2


#: SQLSTATEs of a server that ended the session (admin or crash shutdown, not accepting)
_SESSION_ENDED = ("57P01", "57P02", "57P03")


def _connection_lost(connection: Any, error: Exception) -> bool:
    """Whether *error* means the connection is gone, rather than the statement failing.

    A statement's own failure (timeout, deadlock, serialization, constraint)
    carries a SQLSTATE outside class 08; a lost connection carries class 08, a
    shutdown code, or none at all (the socket closed under the driver).
    """
    if connection.closed:
        return True
    sqlstate = getattr(getattr(error, "diag", None), "sqlstate", None)
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _SESSION_ENDED


class PinnedConnections:
    """Up to *keep* autocommit DBAPI connections borrowed from *engine*'s pool."""

    def __init__(self, engine: Engine, keep: int = KEEP) -> None:
        self.engine = engine
        self.keep = keep
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._kept = 0
        self._pid = os.getpid()
        self._dead = engine.dialect.loaded_dbapi.OperationalError

    def _borrow(self) -> tuple[Any, bool]:
        """A connection and whether it is one of the kept ones."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's are not ours
                self._idle, self._kept, self._pid = [], 0, os.getpid()
            if self._idle:
                return self._idle.pop(), True
            kept = self._kept < self.keep
            if kept:
                self._kept += 1
        try:
            fairy = self.engine.raw_connection()  # pre-pinged, like any checkout
            fairy.dbapi_connection.autocommit = True
        except BaseException:
            if kept:
                with self._lock:
                    self._kept -= 1
            raise
        return fairy, kept

    def _give_back(self, fairy: Any, kept: bool) -> None:
        if kept:
            with self._lock:
                self._idle.append(fairy)
            return
        fairy.dbapi_connection.autocommit = False
        fairy.close()

    def _discard(self, fairy: Any, kept: bool) -> None:
        if kept:
            with self._lock:
                self._kept -= 1
        fairy.invalidate()

    def _attempt(self, work: Callable[[Any], T]) -> tuple[bool, T | None]:
        """``(True, result)``, or ``(False, None)`` when the connection was dead."""
        fairy, kept = self._borrow()
        try:
            result = work(fairy.dbapi_connection)
        except self._dead as error:
            if _connection_lost(fairy.dbapi_connection, error):
                self._discard(fairy, kept)
                return False, None
            self._give_back(fairy, kept)  # autocommit: nothing left open on it
            raise
        except BaseException:
            self._give_back(fairy, kept)
            raise
        self._give_back(fairy, kept)
        return True, result

    def run(self, work: Callable[[Any], T]) -> T:
        """``work(dbapi_connection)`` on a kept connection (run once more if it was dead)."""
        done, result = self._attempt(work)
        if not done:
            done, result = self._attempt(work)
            if not done:
                raise self._dead("the database connection was lost twice in a row")
        return result  # type: ignore[return-value]

    def close(self) -> None:
        """Give the idle kept connections back to the pool (they leave autocommit first)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._kept -= len(idle)
        for fairy in idle:
            try:
                fairy.dbapi_connection.autocommit = False
                fairy.close()
            except Exception:  # closing must not fail a shutdown
                fairy.invalidate()
