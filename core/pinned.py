"""A pooled connection that each thread keeps for a hot, self-contained statement.

Checking a connection out of SQLAlchemy's pool costs a pre-ping round trip
(``pool_pre_ping``) and some bookkeeping on every call; for the telephony
screen pop, which is one autocommitted statement, that was a tenth of the
request.  :class:`PinnedConnections` checks a connection out once per thread
(with the pre-ping) and keeps it, in autocommit mode, for later calls.

A connection that turns out to be dead (the server restarted or dropped it
while idle) is discarded and the call is run once more on a fresh one.  That
is safe for a statement that runs as its own transaction: a statement sent on
a dead connection never ran, and one cut off by a server crash did not commit
unless the crash came after the commit and before the answer, in which case
the statement runs twice.  Only use it for such statements, on PostgreSQL.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")


class PinnedConnections:
    """Per-thread autocommit DBAPI connections borrowed from *engine*'s pool."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        self._lock = threading.Lock()
        self._held: list[Any] = []
        self._dead = engine.dialect.loaded_dbapi.OperationalError

    def _checkout(self) -> Any:
        fairy = self.engine.raw_connection()  # pre-pinged, like any checkout
        fairy.dbapi_connection.autocommit = True
        self._local.fairy, self._local.pid = fairy, os.getpid()
        with self._lock:
            self._held.append(fairy)
        return fairy

    def _discard(self, fairy: Any) -> None:
        self._local.fairy = None
        with self._lock:
            if fairy in self._held:
                self._held.remove(fairy)
        fairy.invalidate()

    def run(self, work: Callable[[Any], T]) -> T:
        """``work(dbapi_connection)`` on this thread's connection (retried once if it was dead)."""
        fairy = getattr(self._local, "fairy", None)
        if fairy is None or fairy.dbapi_connection is None or self._local.pid != os.getpid():
            fairy = self._checkout()  # none yet, given back by close(), or inherited by a fork
        try:
            return work(fairy.dbapi_connection)
        except self._dead:
            if not fairy.dbapi_connection.closed:
                raise  # a live connection: the statement itself failed
            self._discard(fairy)
        return work(self._checkout().dbapi_connection)

    def close(self) -> None:
        """Give every held connection back (they leave autocommit first)."""
        with self._lock:
            held, self._held = self._held, []
        for fairy in held:
            try:
                if not fairy.dbapi_connection.closed:
                    fairy.dbapi_connection.autocommit = False
                fairy.close()
            except Exception:  # closing must not fail a shutdown
                fairy.invalidate()
