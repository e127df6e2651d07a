"""Background work on dramatiq: the broker, the embedded worker, plugin actors.

The broker is chosen by ``CARELOOP_BROKER_URL``: ``redis://...`` or
``amqp://...`` in production, empty for the embedded mode (a StubBroker and a
worker thread inside the process).  :func:`configure_broker` must run before
any actor module is imported; :class:`core.runtime.CareLoop` calls it first.

Actors take ids, not objects, and are idempotent (delivery is at least once).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import dramatiq
from dramatiq.brokers.stub import StubBroker

from core.errors import ConfigurationError

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: Redis consumer prefetch: the default (2 x threads) caps short jobs at ~250/s a thread.
REDIS_PREFETCH = 64

_state: dict[str, Any] = {"url": None, "worker": None}
_lock = threading.Lock()


def configure_broker(url: str = "") -> dramatiq.Broker:
    """Install the process-wide broker for *url* once; later calls return it."""
    with _lock:
        if _state["url"] is not None:
            if _state["url"] != url:
                logger.warning("broker already configured; ignoring a different URL")
            return dramatiq.get_broker()
        broker: dramatiq.Broker
        if not url:
            broker = StubBroker()
            broker.emit_after("process_boot")
        elif url.startswith(("redis://", "rediss://", "unix://")):
            from dramatiq.brokers.redis import RedisBroker

            redis_url, namespace = redis_namespace(url)
            broker = RedisBroker(
                url=redis_url, namespace=namespace, dead_message_ttl=86_400_000 * 7
            )
        elif url.startswith(("amqp://", "amqps://")):
            from dramatiq.brokers.rabbitmq import RabbitmqBroker

            broker = RabbitmqBroker(url=url)
        else:
            raise ConfigurationError(
                "CARELOOP_BROKER_URL must start with redis://, amqp:// or be empty"
            )
        dramatiq.set_broker(broker)
        _state["url"] = url
        return broker


def redis_namespace(url: str) -> tuple[str, str]:
    """Split an optional ``?namespace=<prefix>`` (default ``dramatiq``) off a Redis URL.

    Separate namespaces let several CareLoop installations or test runs share one Redis.
    """
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    namespace = next((value for key, value in query if key == "namespace"), "") or "dramatiq"
    rest = urlencode([(key, value) for key, value in query if key != "namespace"])
    return urlunsplit(parts._replace(query=rest)), namespace


def is_configured() -> bool:
    """True once :func:`configure_broker` has installed this process's broker."""
    return _state["url"] is not None


def is_embedded() -> bool:
    return isinstance(dramatiq.get_broker(), StubBroker)


def start_embedded_worker(threads: int = 2) -> dramatiq.Worker | None:
    """Start the in-process worker once per process (embedded mode only)."""
    with _lock:
        if _state["worker"] is not None or not is_embedded():
            return _state["worker"]
        worker = dramatiq.Worker(dramatiq.get_broker(), worker_threads=threads, worker_timeout=100)
        worker.start()
        _state["worker"] = worker
        return worker


def stop_worker(worker: dramatiq.Worker) -> None:
    """Stop *worker* and detach it from its broker.

    dramatiq leaves a stopped worker's middleware on the broker; it would then
    start consumers for queues declared later, which take jobs and never run
    them (a later ``broker.join`` waits forever).
    """
    worker.stop()
    broker = worker.broker
    broker.middleware[:] = [
        m for m in broker.middleware if getattr(m, "worker", None) is not worker
    ]


def stop_embedded_worker() -> None:
    with _lock:
        worker = _state["worker"]
        _state["worker"] = None
    if worker is not None:
        stop_worker(worker)


def plugin_actor(plugin: str, **options: Any) -> Callable[[F], dramatiq.Actor]:
    """Declare a dramatiq actor owned by *plugin*.

    The actor does nothing (and says so in the log) while the plugin is
    disabled, so disabling a plugin stops its actors in every worker at once.
    Options go to :func:`dramatiq.actor`; the queue defaults to the plugin name.
    """

    def decorate(fn: F) -> dramatiq.Actor:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            from core.runtime import process_runtime

            runtime = process_runtime()
            runtime.plugins.refresh()
            if plugin not in runtime.plugins.enabled:
                logger.info("skipping %s: plugin %s is disabled", fn.__name__, plugin)
                return None
            return fn(runtime, *args, **kwargs)

        options.setdefault("queue_name", plugin)
        options.setdefault("actor_name", f"{plugin}.{fn.__name__}")
        return dramatiq.actor(run, **options)

    return decorate


def run_embedded_jobs(timeout_ms: int = 600_000) -> None:
    """Embedded mode: process every queued job now (a CLI command's hooks), then return.

    Starts the in-process worker when none runs and stops it again afterwards.
    Does nothing with a real broker, whose workers do the jobs.
    """
    if not is_embedded():
        return
    started = _state["worker"] is None
    start_embedded_worker()
    try:
        broker = dramatiq.get_broker()
        for queue in list(broker.get_declared_queues()):
            broker.join(queue, timeout=timeout_ms)
    finally:
        if started:
            stop_embedded_worker()
