"""The messaging actors (dramatiq): ids in, idempotent.

Importing this module declares the actors on the process's broker, so the
broker must be configured first (:func:`core.tasks.configure_broker`, which
every :class:`core.runtime.CareLoop` calls); when nothing configured it yet,
it is configured here from the environment rather than letting dramatiq pick
a default broker.
"""

from __future__ import annotations

import dramatiq

from core import tasks

if not tasks.is_configured():
    from core.config import Config

    tasks.configure_broker(Config.from_env().broker_url)

QUEUE = "messaging"


@dramatiq.actor(
    queue_name=QUEUE,
    actor_name="messaging.send_message",
    max_retries=3,
    min_backoff=1000,
    max_backoff=60_000,
)
def send_message(message_id: int) -> None:
    """Send one outbox row (ids only; safe to run twice)."""
    from core.messaging.sender import process_message
    from core.runtime import process_runtime

    process_message(process_runtime(), message_id)


@dramatiq.actor(
    queue_name=QUEUE,
    actor_name="messaging.send_messages",
    max_retries=3,
    min_backoff=1000,
    max_backoff=60_000,
)
def send_messages(message_ids: list[int]) -> None:
    """Send a batch of outbox rows (campaigns); same guarantees as ``send_message``."""
    from core.messaging.batch import process_batch
    from core.runtime import process_runtime

    process_batch(process_runtime(), message_ids)


@dramatiq.actor(queue_name=QUEUE, actor_name="messaging.noop", max_retries=0)
def noop(message_id: int) -> None:
    """Does nothing: the benchmark's baseline for broker overhead."""
