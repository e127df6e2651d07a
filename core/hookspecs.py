"""Every hook a CareLoop plugin can implement.

Names follow three families (see STYLE.md):

* ``careloop_register_*`` — return things for core to register (views, channels...);
  results of all enabled plugins are collected into one list.
* ``careloop_on_*`` — facts that already happened.  They are called **after the
  database transaction that caused them commits**, never for a rolled-back one,
  with ids rather than ORM objects; open your own session to read more.  A
  failing implementation is logged and does not stop the others.
* ``careloop_*`` questions answered by one plugin use ``firstresult=True``.

Implementations may accept any subset of a hook's arguments.  New arguments are
only ever added, so plugins written today keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import datetime as dt

    import click
    from sqlalchemy.orm import Session

    from core.audit import Actor
    from core.panels import PatientPanel
    from core.timeline import TimelineEntry

PROJECT_NAME = "careloop"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------
# Registration: plugins hand things to core
# ---------------------------------------------------------------------------


@hookspec
def careloop_register_migrations() -> str | None:
    """Name the folder holding this plugin's Alembic revisions.

    Called for every *installed* plugin, enabled or not, because Alembic needs
    every recorded revision on its path.  The plugin's first revision uses
    ``branch_labels=("<plugin name>",)`` and ``depends_on`` a core revision.

    :returns: an absolute path, or ``None`` when the plugin has no tables.
    """


@hookspec
def careloop_register_models() -> list[type] | None:
    """List the SQLAlchemy model classes this plugin owns.

    Used to show the plugin's tables on its management page and to filter
    Alembic autogenerate to them.  The classes use ``core.db.Base``.

    :returns: model classes.
    """


@hookspec
def careloop_register_admin_views(admin: Any, db: Any) -> list[Any] | None:
    """Return Flask-Admin views this plugin adds to the back office.

    :param admin: the ``flask_admin.Admin`` instance being built.
    :param db: the Flask-SQLAlchemy-Lite extension bound to core's engine.
    :returns: view instances; each must check access through core's base view.
    """


@hookspec
def careloop_register_blueprints() -> list[Any] | None:
    """Return Flask blueprints (public pages, webhooks) this plugin serves.

    :returns: ``flask.Blueprint`` objects; their URLs stop answering when the
        plugin is disabled.
    """


@hookspec
def careloop_register_cli_commands() -> list[click.Command] | None:
    """Return click commands (or groups) to add under ``careloop``.

    :returns: commands; names must not clash with core's.
    """


@hookspec
def careloop_register_channels() -> list[Any] | None:
    """Return messaging channels (WhatsApp, e-mail, SMS...) this plugin provides.

    :returns: channel objects implementing ``core.messaging.Channel``.
    """


@hookspec
def careloop_register_periodic_tasks() -> list[Any] | None:
    """Return jobs to start on a schedule (nightly clean-ups, daily recall runs).

    The worker's periodic loop sends each task's actor when its cron slot comes,
    from exactly one worker process, in the clinic's time zone; see
    :mod:`core.periodic`.

    :returns: ``core.periodic.PeriodicTask(name, schedule, actor)`` objects; the
        name is stable and prefixed with the plugin's (``webhooks.purge``), the
        actor a ``core.tasks.plugin_actor`` taking no arguments.
    """


@hookspec
def careloop_register_segment_filters() -> list[Any] | None:
    """Return filters marketers can combine into patient segments.

    :returns: ``core.segments.SegmentFilter`` objects (name, label, how to
        turn a value into a SQLAlchemy condition on ``Patient``).
    """


@hookspec
def careloop_patient_timeline_entries(
    session: Session, patient_id: int, before: dt.datetime | None, limit: int
) -> list[TimelineEntry] | None:
    """Add this plugin's entries (messages, survey answers...) to a patient's timeline.

    :param session: a read-only session to query with.
    :param patient_id: the patient whose timeline is shown.
    :param before: return only entries strictly older than this (UTC), or all when ``None``.
    :param limit: return at most this many entries, newest first.
    :returns: timeline entries.
    """


@hookspec
def careloop_patient_panels(
    session: Session, patient_id: int, viewer_role: str
) -> list[PatientPanel] | None:
    """Add this plugin's boxes (messages, survey answers, campaigns...) to the 360° page.

    Build them with ``core.panels.render_panel`` (autoescaped) or as plain text;
    leave out what *viewer_role* may not see (e.g. clinical notes for a marketer).

    :param session: a read-only session to query with.
    :param patient_id: the patient whose page is shown.
    :param viewer_role: the signed-in staff member's role (``core.models.enums.Role``).
    :returns: ``core.panels.PatientPanel`` objects.
    """


# ---------------------------------------------------------------------------
# Events: called after the transaction that caused them commits
# ---------------------------------------------------------------------------


@hookspec
def careloop_on_patient_created(patient_id: int, lead_source: str | None, actor: Actor) -> None:
    """A patient (or a lead) was created.

    :param patient_id: the new patient's id.
    :param lead_source: the first-touch source given at creation, if any.
    :param actor: who created it (staff user, import, webhook).
    """


@hookspec
def careloop_on_patient_updated(patient_id: int, changed_fields: list[str], actor: Actor) -> None:
    """A patient's profile, contact points, tags or conditions changed.

    :param patient_id: the patient.
    :param changed_fields: names of what changed (never the values).
    :param actor: who changed it.
    """


@hookspec
def careloop_on_patients_merged(winner_id: int, loser_id: int, actor: Actor) -> None:
    """Two patient records were merged; *loser_id* now points at *winner_id*.

    Plugins move their own rows from the loser to the winner here.

    :param winner_id: the record that was kept.
    :param loser_id: the record marked ``merged_into``.
    :param actor: who merged them.
    """


@hookspec
def careloop_on_patients_imported(patient_ids: list[int], actor: Actor) -> None:
    """A bulk import created or updated these patients (one call per committed batch).

    Imports fire this instead of ``careloop_on_patient_created`` per row; queue
    chunked background work rather than doing per-patient work here.

    :param patient_ids: ids of the patients created or updated by the batch.
    :param actor: who ran the import.
    """


@hookspec
def careloop_on_interaction_logged(
    interaction_id: int,
    patient_id: int,
    channel: str,
    direction: str,
    kind: str,
    actor: Actor,
    lead_source: str | None,
) -> None:
    """An interaction (call, message, visit, complaint...) was recorded.

    :param interaction_id: the new interaction.
    :param patient_id: whose timeline it is on.
    :param channel: ``core.models.enums.Channel`` value.
    :param direction: inbound, outbound or internal.
    :param kind: ``core.models.enums.InteractionKind`` value.
    :param actor: who logged it.
    :param lead_source: the advert, referral or tracked number it came through, if known.
    """


@hookspec
def careloop_on_appointment_booked(appointment_id: int, patient_id: int, actor: Actor) -> None:
    """An appointment was booked (or a walk-in registered).

    :param appointment_id: the new appointment.
    :param patient_id: the patient.
    :param actor: who booked it.
    """


@hookspec
def careloop_on_appointment_status_changed(
    appointment_id: int, patient_id: int, old_status: str, new_status: str, actor: Actor
) -> None:
    """An appointment moved from *old_status* to *new_status*.

    :param appointment_id: the appointment.
    :param patient_id: the patient.
    :param old_status: the status before.
    :param new_status: the status now.
    :param actor: who changed it.
    """


@hookspec
def careloop_on_consent_changed(
    patient_id: int, channel: str, purpose: str, status: str, method: str, actor: Actor
) -> None:
    """A patient granted or withdrew consent for a channel and purpose.

    :param patient_id: the patient.
    :param channel: sms, email, whatsapp or phone.
    :param purpose: care or marketing.
    :param status: granted or withdrawn.
    :param method: how it was given (form, reply_keyword, staff, import, provider).
    :param actor: who recorded it.
    """


@hookspec
def careloop_on_plugin_state_changed(name: str, enabled: bool, actor: Actor) -> None:
    """A plugin was enabled or disabled (called on the other enabled plugins).

    :param name: the plugin's manifest name.
    :param enabled: its new state.
    :param actor: who changed it.
    """


@hookspec
def careloop_on_message_status_changed(
    message_id: int, patient_id: int, channel: str, status: str, campaign_id: int | None
) -> None:
    """An outbound message changed status (sent, delivered, read, failed, suppressed...).

    :param message_id: the ``OutboundMessage`` id.
    :param patient_id: its patient.
    :param channel: whatsapp, sms or email.
    :param status: the new status.
    :param campaign_id: the campaign it belongs to, if any.
    """
