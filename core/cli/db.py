"""``careloop init``: create or upgrade the database."""

from __future__ import annotations

import click

from core.audit import Actor
from core.cli.base import CliState, pass_state
from core.i18n import gettext as _


@click.command()
@pass_state
def init(state: CliState) -> None:
    """Create or upgrade the database and enable default plugins."""
    runtime = state.runtime
    enabled = runtime.init_database(Actor.cli())
    click.echo(_("Database ready: %(url)s", url=runtime.db.engine.url.render_as_string()))
    if enabled:
        click.echo(_("Enabled plugins: %(names)s", names=", ".join(enabled)))
