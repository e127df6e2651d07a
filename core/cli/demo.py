"""``careloop demo``: load the demo clinic and serve the back office on this machine."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import click
from dramatiq.errors import QueueJoinTimeout

from core import tasks
from core.audit import Actor
from core.cli.base import CliState, fail, pass_state
from core.demo import DEFAULT_PATIENTS, DEFAULT_SEED, DemoSummary, count_patients, load_demo
from core.demo.loader import DEMO_LOGINS, demo_loaded
from core.demo.outreach import due_on_broker, message_counts
from core.i18n import gettext as _
from core.runtime import CareLoop, create, set_process_runtime

#: the SQLite file the demo uses when no database is configured
DEMO_DATABASE = "careloop-demo.db"
#: how long ``--no-serve`` waits for background jobs (attribution...) to finish
JOBS_TIMEOUT_MS = 60_000


def _demo_database_url(fresh: bool) -> str:
    path = Path.cwd() / DEMO_DATABASE
    if fresh:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def _echo_logins(summary: DemoSummary | None) -> None:
    click.echo(_("Demo logins (fixed demo passwords: for a local demo only, never production):"))
    existing = set(summary.existing_logins) if summary else set()
    for login in DEMO_LOGINS:
        password = _("(unchanged)") if login.username in existing else login.password
        click.echo(f"  {login.role:<10} {login.username:<10} {password}")


def _echo_summary(summary: DemoSummary) -> None:
    click.echo(
        _(
            "Loaded %(patients)s patients, %(appointments)s appointments, "
            "%(interactions)s interactions and %(consents)s consent events "
            "(%(departments)s departments, %(doctors)s doctors, %(services)s services) "
            "in %(seconds).1f s.",
            patients=summary.patients,
            appointments=summary.appointments,
            interactions=summary.interactions,
            consents=summary.consent_events,
            departments=summary.departments,
            doctors=summary.doctors,
            services=summary.services,
            seconds=summary.seconds,
        )
    )


def _echo_messages(runtime: CareLoop) -> None:
    """One line: the outbox by status (console channel: nothing left the machine)."""
    counts = message_counts(runtime)
    accepted = sum(counts.get(status, 0) for status in ("sent", "delivered", "read"))
    click.echo(
        _(
            "Messages: %(total)s in the outbox: %(queued)s queued, %(sent)s sent "
            "(console channel), %(suppressed)s suppressed by policy, %(failed)s failed.",
            total=sum(counts.values()),
            queued=counts.get("queued", 0) + counts.get("sending", 0),
            sent=accepted,
            suppressed=counts.get("suppressed", 0),
            failed=counts.get("failed", 0),
        )
    )


def _load(runtime: CareLoop, patients: int, seed: int) -> DemoSummary:
    with click.progressbar(length=patients, label=_("Loading demo patients")) as bar:
        return load_demo(runtime, patients=patients, seed=seed, progress=bar.update)


def drain_jobs(runtime: CareLoop, timeout_ms: int = JOBS_TIMEOUT_MS) -> bool:
    """Let the embedded worker finish the jobs due now (first touches, messages to send).

    Jobs delayed into the future (a message deferred until quiet hours end) are
    not waited for: their rows stay queued in the database, where the sweeper
    finds them again.  Messages due now are also watched in the database: a job
    given a delay waits in the broker's delay queue before its queue sees it.
    :returns: False when *timeout_ms* ran out first.
    """
    import dramatiq
    from dramatiq.common import join_queue, q_name

    if not tasks.is_embedded():
        return True
    broker = dramatiq.get_broker()
    deadline = time.monotonic() + timeout_ms / 1000
    for name in list(broker.get_declared_queues()):
        if q_name(name) != name:  # a delay queue: its jobs are due later
            continue
        try:
            join_queue(broker.queues[name], timeout=max(0.0, deadline - time.monotonic()))
        except (KeyError, QueueJoinTimeout):
            return False
    while due_on_broker(runtime):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _serve(runtime: CareLoop, host: str, port: int) -> None:
    from werkzeug.serving import run_simple

    from admin.app import create_app
    from core.cli.worker import periodic_loop

    app = create_app(runtime=runtime)
    # what `careloop worker` does beside its threads: due messages, stuck ones, periodic tasks
    stop = threading.Event()
    threading.Thread(
        target=periodic_loop, args=(runtime, stop, 5.0), name="demo-periodic", daemon=True
    ).start()
    base = f"http://{host}:{port}"
    click.echo(_("Back office: %(url)s", url=f"{base}/admin/"))
    click.echo(_("Health check: %(url)s", url=f"{base}/health"))
    click.echo(_("Press Ctrl+C to stop."))
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
    except OSError as exc:
        fail(_("cannot listen on %(host)s:%(port)s: %(error)s", host=host, port=port, error=exc))
    finally:
        stop.set()


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--database-url",
    envvar="CARELOOP_DATABASE_URL",
    help=f"Database to load into (default: a fresh {DEMO_DATABASE} in this directory).",
)
@click.option(
    "--fresh/--keep",
    default=True,
    show_default=True,
    help=f"--fresh recreates {DEMO_DATABASE}; --keep keeps existing data (and loads the demo "
    "next to it, once).",
)
@click.option(
    "--patients",
    default=DEFAULT_PATIENTS,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="How many demo patients to create.",
)
@click.option("--seed", default=DEFAULT_SEED, show_default=True, help="Random seed of the data.")
@click.option("--serve/--no-serve", default=True, help="--no-serve loads the data and exits.")
@pass_state
def demo(
    state: CliState,
    host: str,
    port: int,
    database_url: str | None,
    fresh: bool,
    patients: int,
    seed: int,
    serve: bool,
) -> None:
    """Load a demo clinic (1,000 patients in six languages) and serve the back office."""
    configured = bool(database_url)
    url = database_url or _demo_database_url(fresh)
    runtime = create(state.config.with_overrides(database_url=url))
    try:
        runtime.init_database(Actor.cli())
        click.echo(_("Database: %(url)s", url=runtime.db.engine.url.render_as_string()))
        set_process_runtime(runtime)
        summary: DemoSummary | None = None
        existing = count_patients(runtime)
        if existing and not fresh and demo_loaded(runtime):
            click.echo(_("The demo data is already loaded; keeping it."))
        elif existing and configured and fresh:
            fail(
                _(
                    "the database already holds %(count)s patients; "
                    "use --keep to load the demo next to them",
                    count=existing,
                )
            )
        else:
            summary = _load(runtime, patients, seed)
            _echo_summary(summary)
        tasks.start_embedded_worker()
        _echo_logins(summary)
        if serve:
            _echo_messages(runtime)
            _serve(runtime, host, port)
        else:
            if not drain_jobs(runtime):
                click.echo(_("Some background jobs were still running; they continue later."))
            _echo_messages(runtime)
    finally:
        tasks.stop_embedded_worker()
        set_process_runtime(None)
        runtime.close()


commands = [demo]
