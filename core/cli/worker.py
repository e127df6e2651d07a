"""``careloop worker``: run dramatiq workers and the outbox's periodic loop.

One process runs ``--threads`` worker threads over every declared queue (core's
``messaging`` and each enabled plugin's) with a Redis/RabbitMQ prefetch of
``CARELOOP_WORKER_PREFETCH`` (dramatiq's default of 2 x threads caps short jobs
at ~250 messages/s per thread), plus a thread that every ``--interval``
seconds enqueues due messages (dispatcher), recovers stuck ones (sweeper) and
starts the plugins' periodic tasks whose slot has come (:mod:`core.periodic`).
``--processes N`` starts N such processes and stops them together.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import click

from core.cli.base import CliState, fail, pass_state

logger = logging.getLogger(__name__)


def periodic_loop(runtime: Any, stop: threading.Event, interval: float) -> None:
    """Until *stop* is set: dispatch due rows, sweep stuck ones, start due periodic tasks.

    Errors are logged (by type) and the loop goes on.
    """
    from core.messaging.dispatcher import dispatch_due
    from core.messaging.sweeper import sweep
    from core.periodic import run_due_tasks

    while not stop.is_set():
        for step in (dispatch_due, sweep, run_due_tasks):
            try:
                step(runtime)
            except Exception as exc:  # the database may be briefly unavailable: try later
                logger.warning("periodic %s failed: %s", step.__name__, type(exc).__name__)
        stop.wait(interval)


def _spawn(argv: list[str], processes: int) -> None:
    """Run *processes* copies of this command with ``--processes 1``; stop them on a signal."""
    children = [
        subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
            [sys.executable, "-c", "from core.cli import main; main()", *argv]
        )
        for _ in range(processes)
    ]

    def stop(_signum: int, _frame: Any) -> None:
        for child in children:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    codes = [child.wait() for child in children]
    raise SystemExit(max(codes, default=0))


@click.command("worker")
@click.option("--threads", default=8, show_default=True, help="Worker threads per process.")
@click.option("--processes", default=1, show_default=True, help="Worker processes to start.")
@click.option(
    "--prefetch",
    type=int,
    default=None,
    help="Messages prefetched per queue (default: CARELOOP_WORKER_PREFETCH).",
)
@click.option("--queue", "queues", multiple=True, help="Only these queues (repeatable).")
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    help="Seconds between dispatcher/sweeper runs (0: do not run them here).",
)
@pass_state
def worker(
    state: CliState,
    threads: int,
    processes: int,
    prefetch: int | None,
    queues: tuple[str, ...],
    interval: float,
) -> None:
    """Run background workers (sending messages and plugin jobs)."""
    if processes > 1:
        argv = ["worker", "--threads", str(threads), "--processes", "1"]
        argv += ["--interval", str(interval)]
        if prefetch:
            argv += ["--prefetch", str(prefetch)]
        for queue in queues:
            argv += ["--queue", queue]
        _spawn(argv, processes)
    from core import tasks

    runtime = state.runtime
    if tasks.is_embedded():
        fail("careloop worker needs a broker: set CARELOOP_BROKER_URL (redis:// or amqp://)")
    run_worker(runtime, threads=threads, prefetch=prefetch, queues=queues, interval=interval)


def run_worker(
    runtime: Any,
    *,
    threads: int = 8,
    prefetch: int | None = None,
    queues: tuple[str, ...] = (),
    interval: float = 5.0,
    stop: threading.Event | None = None,
) -> None:
    """Run dramatiq workers and the periodic loop for *runtime* until SIGTERM/SIGINT or *stop*."""
    import dramatiq

    import core.messaging.actors  # noqa: F401  (declares the messaging queue)
    from core.runtime import set_process_runtime

    set_process_runtime(runtime)
    broker = dramatiq.get_broker()
    broker.emit_after("process_boot")
    dramatiq_worker = dramatiq.Worker(
        broker, worker_threads=threads, queues=set(queues) or None, worker_timeout=200
    )
    dramatiq_worker.queue_prefetch = prefetch or runtime.config.worker_prefetch
    dramatiq_worker.start()
    stop = stop or threading.Event()
    loop = None
    if interval > 0:
        loop = threading.Thread(
            target=periodic_loop,
            args=(runtime, stop, interval),
            name="outbox-periodic",
            daemon=True,
        )
        loop.start()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    click.echo(
        f"careloop worker: {threads} threads, prefetch {dramatiq_worker.queue_prefetch}, "
        f"queues {', '.join(sorted(broker.get_declared_queues()))}",
        err=True,
    )
    while not stop.is_set():
        time.sleep(0.2)
    dramatiq_worker.stop()
    if loop is not None:
        loop.join(timeout=interval + 5)
    broker.close()


commands = [worker]
