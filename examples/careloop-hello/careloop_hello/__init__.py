"""careloop-hello: the smallest useful third-party CareLoop plugin."""

from __future__ import annotations

import click

from core import Manifest, hookimpl
from core.audit import Actor

manifest = Manifest(
    name="hello",
    version="0.1.0",
    summary="Adds a welcome note to every new patient's timeline",
    depends=(),
    default_enabled=False,
)

WELCOME_SUBJECT = "Welcome to the clinic"


@hookimpl
def careloop_on_patient_created(patient_id: int) -> None:
    """Write the welcome note in a transaction of our own (the patient's has committed)."""
    from core.runtime import process_runtime
    from core.services.interactions import log_interaction

    runtime = process_runtime()
    with runtime.transaction() as session:
        log_interaction(
            session,
            patient_id,
            channel="in_person",
            direction="internal",
            kind="note",
            subject=WELCOME_SUBJECT,
            actor=Actor.system("plugin:hello"),
        )


@click.command("hello")
def hello_command() -> None:
    """Say hello from a third-party plugin."""
    click.echo("Hello from the careloop-hello plugin!")


@hookimpl
def careloop_register_cli_commands() -> list[click.Command]:
    return [hello_command]
