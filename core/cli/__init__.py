"""The ``careloop`` command.

Core commands live in this package, one module per group; enabled plugins add
theirs through ``careloop_register_cli_commands``.
"""

from __future__ import annotations

import logging
import sys

import click

from core.cli.base import CliState, fail, pass_state
from core.errors import CareLoopError

__all__ = ["CliState", "cli", "fail", "main", "pass_state"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log more (never patient data).")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """CareLoop: patient CRM and engagement for hospitals and clinics."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = CliState()


def _register_core_commands() -> None:
    from core.cli import db, patients, plugins

    cli.add_command(db.init)
    cli.add_command(plugins.plugins_group)
    cli.add_command(patients.patients_group)
    for module_name in ("core.cli.demo", "core.cli.users", "core.cli.worker", "core.cli.i18n"):
        try:
            module = __import__(module_name, fromlist=["commands"])
        except ModuleNotFoundError:
            continue
        for command in module.commands:
            cli.add_command(command)


def _register_plugin_commands() -> None:
    """Add enabled plugins' commands; a plugin failing here must not break the CLI."""
    try:
        state = CliState()
        runtime = state.runtime
        from core import migrate

        if not migrate.is_initialised(runtime.db.engine):
            return
        runtime.plugins.refresh(force=True)
        for command in runtime.plugins.collect("careloop_register_cli_commands"):
            if command.name not in cli.commands:
                cli.add_command(command)
    except Exception as exc:  # the core commands must stay usable
        logging.getLogger(__name__).warning("plugin commands unavailable: %s", type(exc).__name__)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _register_core_commands()
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] not in cli.commands and not args[0].startswith("-"):
        _register_plugin_commands()
    try:
        cli.main(args=args, prog_name="careloop", standalone_mode=True)
    except CareLoopError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
