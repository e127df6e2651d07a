"""Helpers for the channel plugins' webhook views (Flask side)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import abort, current_app

from core.runtime import CareLoop
from plugins.webhooks.services import IncomingEvent, record_events

logger = logging.getLogger(__name__)


def current_runtime() -> CareLoop:
    """The CareLoop runtime of the Flask app serving this request."""
    return current_app.extensions["careloop"]


def require_enabled(plugin: str) -> Callable[[], None]:
    """A ``before_request`` guard: the blueprint answers 404 while *plugin* is disabled."""

    def guard() -> None:
        runtime = current_runtime()
        runtime.plugins.refresh()
        if plugin not in runtime.plugins.enabled:
            abort(404)

    return guard


def same_secret(given: str | bytes | None, expected: str | bytes) -> bool:
    """Constant-time comparison; an empty expected secret never matches."""
    if not expected or given is None:
        return False
    given_b = given.encode("utf-8") if isinstance(given, str) else given
    expected_b = expected.encode("utf-8") if isinstance(expected, str) else expected
    return hmac.compare_digest(given_b, expected_b)


def accept_events(provider: str, events: Iterable[IncomingEvent], process: Any) -> list[int]:
    """Store *events* (raw, deduplicated) and queue the new ones on the *process* actor.

    The events are committed before anything is queued; if the broker is down
    they stay unprocessed in the log for a later re-run, and the provider still
    gets its 200 (it would only send them again).
    """
    runtime = current_runtime()
    with runtime.transaction() as session:
        new_ids = record_events(session, provider, events)
    if new_ids:
        try:
            process.send(new_ids)
        except Exception as exc:  # the broker is down: the events wait in the log
            logger.warning("could not queue %s webhook events: %s", provider, type(exc).__name__)
    return new_ids
