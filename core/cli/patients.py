"""``careloop patients``: find, import and export patients."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy import func, select, true

from core import tasks
from core.audit import Actor
from core.cli.base import CliState, fail, pass_state
from core.errors import CareLoopError
from core.i18n import gettext as _
from core.models import Patient
from core.services.patients import find_patients

if TYPE_CHECKING:
    from core.importer.rows import Reject


#: how long ``patients import`` waits for embedded-mode jobs before exiting
JOBS_TIMEOUT_MS = 120_000


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


@patients_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write rejected rows (default: FILE.rejects.csv).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    help="Parsing processes (default CARELOOP_IMPORT_WORKERS; 0 = one per CPU).",
)
@pass_state
def import_(state: CliState, file: Path, rejects: Path | None, workers: int | None) -> None:
    """Import patients from a CSV FILE (columns: see the README)."""
    from core.importer import ImportOptions, import_csv
    from core.importer.columns import map_header
    from core.importer.pipeline import nothing_imported_message
    from core.importer.reader import check_file

    err = click.get_text_stream("stderr")
    try:
        info = check_file(file)
    except CareLoopError as exc:
        fail(str(exc))
    unknown = map_header(info.header).unknown
    if unknown:
        click.echo(
            _("warning: ignoring unknown column(s): %(names)s", names=", ".join(unknown)), err=True
        )

    def on_reject(reject: Reject) -> None:
        click.echo(_("line %(line)d: %(reason)s", line=reject.line, reason=reject.reason), err=True)

    runtime = state.runtime
    with click.progressbar(length=info.approx_records, label=_("Importing"), file=err) as bar:
        options = ImportOptions(
            rejects_path=rejects, workers=workers, on_progress=bar.update, on_reject=on_reject
        )
        try:
            report = import_csv(runtime, file, Actor.cli(), options)
        except CareLoopError as exc:
            fail(str(exc))
    click.echo(
        _(
            "created: %(created)d, updated: %(updated)d, rejected: %(rejected)d",
            created=report.created,
            updated=report.updated,
            rejected=report.rejected,
        )
    )
    if report.rejects_path:
        click.echo(_("rejected rows written to %(path)s", path=report.rejects_path))
    try:  # embedded mode: the jobs plugins queued (first touches...) run before we exit
        tasks.run_embedded_jobs(timeout_ms=JOBS_TIMEOUT_MS)
    except Exception as exc:  # the import itself is committed; say what is left
        click.echo(
            _("warning: background jobs did not finish (%(kind)s)", kind=type(exc).__name__),
            err=True,
        )
    if report.imported == 0:
        fail(nothing_imported_message(report))


@patients_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--include-merged", is_flag=True, help="Also export records merged into others.")
@pass_state
def export(state: CliState, file: Path, include_merged: bool) -> None:
    """Export patients to a CSV FILE that `patients import` reads back."""
    from core.exporter import export_csv

    runtime = state.runtime
    with runtime.session() as session:
        total = session.scalar(
            select(func.count())
            .select_from(Patient)
            .where(true() if include_merged else Patient.merged_into_id.is_(None))
        )
        err = click.get_text_stream("stderr")
        with click.progressbar(length=total or 0, label=_("Exporting"), file=err) as bar:
            count = export_csv(
                session, file, Actor.cli(), include_merged=include_merged, on_progress=bar.update
            )
        session.commit()
    click.echo(_("exported %(count)d patients to %(path)s", count=count, path=str(file)))
