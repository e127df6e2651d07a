"""``careloop patients``: find, import and export patients."""

from __future__ import annotations

import click

from core.cli.base import CliState, pass_state
from core.i18n import gettext as _
from core.services.patients import find_patients


@click.group("patients")
def patients_group() -> None:
    """Find, import and export patients."""


@patients_group.command("find")
@click.argument("query")
@click.option("--region", help="ISO region for numbers without a country code.")
@pass_state
def find(state: CliState, query: str, region: str | None) -> None:
    """Find patients by phone (any format), e-mail or MRN."""
    runtime = state.runtime
    with runtime.session() as session:
        matches = find_patients(session, query, region or runtime.config.default_region)
    if not matches:
        click.echo(_("No patient found."))
        raise SystemExit(1)
    for match in matches:
        born = match.birth_date.isoformat() if match.birth_date else "-"
        click.echo(f"{match.id:>8}  {match.mrn or '-':<14} {born:<10}  {match.display_name}")
