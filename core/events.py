"""Hooks fired after commit: services queue events on the session, commit sends them.

A service calls :func:`emit` inside its transaction.  When the outermost
transaction commits, :func:`install` has arranged for the queued events to be
dispatched through the plugin host; a rollback discards them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

PENDING_KEY = "careloop.pending_events"

Dispatcher = Callable[[str, dict[str, Any]], None]


def emit(session: Session, hook_name: str, **kwargs: Any) -> None:
    """Queue ``hook_name(**kwargs)`` to run once *session*'s transaction commits."""
    session.info.setdefault(PENDING_KEY, []).append((hook_name, kwargs))


def install(factory: sessionmaker[Session], dispatch: Dispatcher) -> None:
    """Make sessions from *factory* dispatch queued events after each commit."""

    def after_commit(session: Session) -> None:
        pending = session.info.pop(PENDING_KEY, None)
        for hook_name, kwargs in pending or ():
            dispatch(hook_name, kwargs)

    def after_rollback(session: Session) -> None:
        session.info.pop(PENDING_KEY, None)

    event.listen(factory, "after_commit", after_commit)

    def after_soft_rollback(session: Session, previous_transaction: Any) -> None:
        if previous_transaction.parent is None:  # a savepoint rollback keeps the rest
            after_rollback(session)

    event.listen(factory, "after_soft_rollback", after_soft_rollback)
