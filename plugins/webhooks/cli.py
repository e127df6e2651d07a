"""``careloop webhooks ...``: look after the stored provider events."""

from __future__ import annotations

import datetime as dt

import click

from core.cli.base import CliState, pass_state


@click.group()
def webhooks() -> None:
    """Provider webhook events (WhatsApp, SendGrid, SMSAPI)."""


@webhooks.command("reprocess")
@click.option(
    "--older-than",
    default=300,
    show_default=True,
    help="Only events stored at least this many seconds ago.",
)
@pass_state
def reprocess(state: CliState, older_than: int) -> None:
    """Process stored events that were never processed (lost by a broker outage)."""
    # channel plugins register their handlers when the runtime imports their actors
    from plugins.webhooks.services import reprocess_pending

    done = reprocess_pending(state.runtime, older_than=dt.timedelta(seconds=older_than))
    for provider, count in done.items():
        click.echo(f"{provider}: {count} event(s) processed")


@webhooks.command("purge")
@click.option(
    "--older-than-days",
    default=None,
    type=click.IntRange(min=7),
    help="Delete processed events received more than this many days ago "
    "(default: CARELOOP_WEBHOOK_RETENTION_DAYS).",
)
@pass_state
def purge(state: CliState, older_than_days: int | None) -> None:
    """Delete old processed raw events now (workers also do it nightly)."""
    from plugins.webhooks.services import purge_processed

    days = older_than_days or state.runtime.config.webhook_retention_days
    with state.runtime.transaction() as session:
        count = purge_processed(session, older_than=dt.timedelta(days=days))
    click.echo(f"{count} event(s) deleted")
