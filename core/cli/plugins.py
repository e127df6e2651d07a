"""``careloop plugins``: list, enable and disable plugins."""

from __future__ import annotations

import click

from core.audit import Actor
from core.cli.base import CliState, pass_state
from core.i18n import gettext as _


@click.group("plugins")
def plugins_group() -> None:
    """List, enable and disable plugins."""


@plugins_group.command("list")
@pass_state
def list_plugins(state: CliState) -> None:
    """Show every installed plugin with its state, version and dependencies."""
    runtime = state.runtime
    runtime.plugins.refresh(force=True)
    for rec in runtime.plugins.status():
        if rec.blocked:
            status = _("blocked")
        elif rec.error:
            status = _("broken")
        elif rec.name in runtime.plugins.enabled:
            status = _("enabled")
        else:
            status = _("disabled")
        version = rec.manifest.version if rec.manifest else "-"
        depends = ", ".join(rec.depends) or "-"
        click.echo(f"{rec.name:<20} {status:<10} {version:<10} {depends:<30} {rec.source}")
        if rec.error:
            click.echo(f"    {rec.error}")


@plugins_group.command("enable")
@click.argument("name")
@pass_state
def enable(state: CliState, name: str) -> None:
    """Enable NAME (and what it depends on); creates its tables."""
    changed = state.runtime.plugins.enable(name, Actor.cli())
    if changed:
        click.echo(_("Enabled: %(names)s", names=", ".join(changed)))
    else:
        click.echo(_("%(name)s was already enabled", name=name))


@plugins_group.command("disable")
@click.argument("name")
@click.option("--cascade", is_flag=True, help="Also disable plugins that depend on NAME.")
@pass_state
def disable(state: CliState, name: str, cascade: bool) -> None:
    """Disable NAME; its data is kept."""
    changed = state.runtime.plugins.disable(name, Actor.cli(), cascade=cascade)
    if changed:
        click.echo(_("Disabled: %(names)s (data kept)", names=", ".join(changed)))
    else:
        click.echo(_("%(name)s was already disabled", name=name))
