"""Each hook, called for real: ``test_hook_<hook name>`` (see tests/test_hookspecs.py).

Event hooks must fire after the transaction commits, with the documented
arguments, and never for a rolled-back transaction.  Registration hooks must
hand their items to ``PluginHost.collect`` while the plugin is enabled only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import dramatiq
import flask
import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import Manifest, hookimpl
from core.audit import Actor
from core.messaging.outbox import cancel_message, enqueue_message
from core.models import Tag
from core.runtime import CareLoop
from core.services.appointments import book_appointment, change_status
from core.services.consent import grant
from core.services.interactions import log_interaction
from core.services.patients import PatientInput, create_patient, merge_patients, update_patient
from core.services.timeline import patient_timeline
from core.timeline import TimelineEntry


class Rollback(Exception):
    """Raised inside a transaction to roll it back."""


class Recorder:
    """A plugin that writes down every event hook call with all its arguments."""

    manifest = Manifest(name="recorder", version="1.0", summary="records hook calls")

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def of(self, hook: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == hook]

    @hookimpl
    def careloop_on_patient_created(self, patient_id, lead_source, actor):
        self.calls.append(("careloop_on_patient_created", locals_of(locals())))

    @hookimpl
    def careloop_on_patient_updated(self, patient_id, changed_fields, actor):
        self.calls.append(("careloop_on_patient_updated", locals_of(locals())))

    @hookimpl
    def careloop_on_patients_merged(self, winner_id, loser_id, actor):
        self.calls.append(("careloop_on_patients_merged", locals_of(locals())))

    @hookimpl
    def careloop_on_interaction_logged(
        self, interaction_id, patient_id, channel, direction, kind, actor, lead_source
    ):
        self.calls.append(("careloop_on_interaction_logged", locals_of(locals())))

    @hookimpl
    def careloop_on_appointment_booked(self, appointment_id, patient_id, actor):
        self.calls.append(("careloop_on_appointment_booked", locals_of(locals())))

    @hookimpl
    def careloop_on_appointment_status_changed(
        self, appointment_id, patient_id, old_status, new_status, actor
    ):
        self.calls.append(("careloop_on_appointment_status_changed", locals_of(locals())))

    @hookimpl
    def careloop_on_consent_changed(self, patient_id, channel, purpose, status, method, actor):
        self.calls.append(("careloop_on_consent_changed", locals_of(locals())))

    @hookimpl
    def careloop_on_plugin_state_changed(self, name, enabled, actor):
        self.calls.append(("careloop_on_plugin_state_changed", locals_of(locals())))

    @hookimpl
    def careloop_on_message_status_changed(
        self, message_id, patient_id, channel, status, campaign_id
    ):
        self.calls.append(("careloop_on_message_status_changed", locals_of(locals())))


def locals_of(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != "self"}


@pytest.fixture(autouse=True)
def drop_queued_jobs() -> Iterator[None]:
    """No worker runs here: drop the jobs built-in plugins queued (e.g. attribution's)."""
    yield
    dramatiq.get_broker().flush_all()


@pytest.fixture
def recorder(plugin_registrar: Callable[..., Any]) -> Recorder:
    plugin = Recorder()
    assert plugin_registrar(plugin).loadable
    plugin.calls.clear()
    return plugin


def new_patient(runtime: CareLoop, actor: Actor, name: str = "Ana", **fields: Any) -> int:
    with runtime.transaction() as session:
        return create_patient(session, PatientInput(given_name=name, **fields), actor).id


def fires_after_commit(
    runtime: CareLoop, recorder: Recorder, hook: str, action: Callable[[Session], Any]
) -> tuple[Any, dict[str, Any]]:
    """Run *action* in a transaction: *hook* must wait for the commit, then fire once."""
    recorder.calls.clear()
    with runtime.transaction() as session:
        result = action(session)
        assert recorder.of(hook) == [], f"{hook} fired before the commit"
    calls = recorder.of(hook)
    assert len(calls) == 1, f"{hook} fired {len(calls)} times"
    return result, calls[0]


def silent_on_rollback(
    runtime: CareLoop, recorder: Recorder, hook: str, action: Callable[[Session], Any]
) -> None:
    """Run *action* in a transaction that rolls back: *hook* must not fire."""
    recorder.calls.clear()
    with pytest.raises(Rollback), runtime.transaction() as session:
        action(session)
        raise Rollback
    assert recorder.of(hook) == []


# ---------------------------------------------------------------------------
# Event hooks
# ---------------------------------------------------------------------------


def test_hook_careloop_on_patient_created(runtime, actor, recorder):
    hook = "careloop_on_patient_created"

    def create(session: Session) -> int:
        data = PatientInput(given_name="Budi", phones=["0812 3456 7890"], lead_source="fb-ad")
        return create_patient(session, data, actor).id

    patient_id, call = fires_after_commit(runtime, recorder, hook, create)
    assert call == {"patient_id": patient_id, "lead_source": "fb-ad", "actor": actor}
    silent_on_rollback(runtime, recorder, hook, create)


def test_hook_careloop_on_patient_updated(runtime, actor, recorder):
    hook = "careloop_on_patient_updated"
    pid = new_patient(runtime, actor)

    def update(session: Session) -> list[str]:
        return update_patient(session, pid, {"city": "Bandung", "tags": ["vip"]}, actor)

    changed, call = fires_after_commit(runtime, recorder, hook, update)
    assert call == {"patient_id": pid, "changed_fields": ["city", "tags"], "actor": actor}
    assert changed == ["city", "tags"]
    # the same values again change nothing and fire nothing
    with runtime.transaction() as session:
        assert update_patient(session, pid, {"city": "Bandung"}, actor) == []
    assert recorder.of(hook) == [call]
    silent_on_rollback(
        runtime, recorder, hook, lambda s: update_patient(s, pid, {"city": "Medan"}, actor)
    )
    with runtime.session() as session:
        assert session.scalars(select(Tag.name)).all() == ["vip"]


def test_hook_careloop_on_patients_merged(runtime, actor, recorder):
    hook = "careloop_on_patients_merged"
    winner = new_patient(runtime, actor, "Winner", phones=["+6281111111111"])
    loser = new_patient(runtime, actor, "Loser", phones=["+6281111111112"])
    silent_on_rollback(runtime, recorder, hook, lambda s: merge_patients(s, winner, loser, actor))
    _, call = fires_after_commit(
        runtime, recorder, hook, lambda s: merge_patients(s, winner, loser, actor)
    )
    assert call == {"winner_id": winner, "loser_id": loser, "actor": actor}


def test_hook_careloop_on_interaction_logged(runtime, actor, recorder):
    hook = "careloop_on_interaction_logged"
    pid = new_patient(runtime, actor)

    def log(session: Session) -> int:
        return log_interaction(
            session,
            pid,
            channel="phone",
            direction="inbound",
            kind="call",
            actor=actor,
            lead_source="radio-ad",
        ).id

    interaction_id, call = fires_after_commit(runtime, recorder, hook, log)
    assert call == {
        "interaction_id": interaction_id,
        "patient_id": pid,
        "channel": "phone",
        "direction": "inbound",
        "kind": "call",
        "actor": actor,
        "lead_source": "radio-ad",
    }
    silent_on_rollback(runtime, recorder, hook, log)


def _book(session: Session, pid: int, actor: Actor) -> int:
    start = dt.datetime(2030, 1, 7, 2, 0, tzinfo=dt.UTC)
    return book_appointment(session, pid, scheduled_start=start, actor=actor).id


def test_hook_careloop_on_appointment_booked(runtime, actor, recorder):
    hook = "careloop_on_appointment_booked"
    pid = new_patient(runtime, actor)
    appointment_id, call = fires_after_commit(
        runtime, recorder, hook, lambda s: _book(s, pid, actor)
    )
    assert call == {"appointment_id": appointment_id, "patient_id": pid, "actor": actor}
    silent_on_rollback(runtime, recorder, hook, lambda s: _book(s, pid, actor))


def test_hook_careloop_on_appointment_status_changed(runtime, actor, recorder):
    hook = "careloop_on_appointment_status_changed"
    pid = new_patient(runtime, actor)
    with runtime.transaction() as session:
        appointment_id = _book(session, pid, actor)
    silent_on_rollback(
        runtime, recorder, hook, lambda s: change_status(s, appointment_id, "confirmed", actor)
    )
    _, call = fires_after_commit(
        runtime, recorder, hook, lambda s: change_status(s, appointment_id, "confirmed", actor)
    )
    assert call == {
        "appointment_id": appointment_id,
        "patient_id": pid,
        "old_status": "booked",
        "new_status": "confirmed",
        "actor": actor,
    }


def test_hook_careloop_on_consent_changed(runtime, actor, recorder):
    hook = "careloop_on_consent_changed"
    pid = new_patient(runtime, actor)
    silent_on_rollback(runtime, recorder, hook, lambda s: grant(s, pid, "sms", "marketing", actor))
    _, call = fires_after_commit(
        runtime,
        recorder,
        hook,
        lambda s: grant(s, pid, "sms", "marketing", actor, method="form"),
    )
    assert call == {
        "patient_id": pid,
        "channel": "sms",
        "purpose": "marketing",
        "status": "granted",
        "method": "form",
        "actor": actor,
    }


def test_hook_careloop_on_message_status_changed(runtime, actor, recorder):
    hook = "careloop_on_message_status_changed"
    pid = new_patient(runtime, actor)
    try:
        with runtime.transaction() as session:
            message_id = enqueue_message(session, pid, channel="sms", body="Hello").id
        silent_on_rollback(runtime, recorder, hook, lambda s: cancel_message(s, message_id, actor))
        _, call = fires_after_commit(
            runtime, recorder, hook, lambda s: cancel_message(s, message_id, actor)
        )
    finally:
        dramatiq.get_broker().flush_all()  # no worker here: drop the queued send job
    assert call == {
        "message_id": message_id,
        "patient_id": pid,
        "channel": "sms",
        "status": "cancelled",
        "campaign_id": None,
    }


class Migrating:
    """A plugin with (pretend) tables, depending on the recorder."""

    manifest = Manifest(name="migrating", version="2.0", depends=("recorder",))

    @hookimpl
    def careloop_register_migrations(self) -> str:
        return "/nonexistent/migrating/migrations"


def test_hook_careloop_on_plugin_state_changed(
    runtime, actor, recorder, plugin_registrar, monkeypatch
):
    hook = "careloop_on_plugin_state_changed"
    plugin_registrar(Migrating(), enable=False)
    migrated: list[str] = []
    monkeypatch.setattr(runtime.plugins, "migrator", lambda name, conn: migrated.append(name))

    assert runtime.plugins.enable("migrating", actor) == ["migrating"]
    assert migrated == ["migrating"]
    assert recorder.of(hook) == [{"name": "migrating", "enabled": True, "actor": actor}]

    recorder.calls.clear()
    assert runtime.plugins.disable("migrating", actor) == ["migrating"]
    assert recorder.of(hook) == [{"name": "migrating", "enabled": False, "actor": actor}]

    # a migration that fails rolls the enabling back: no state change, no event
    def broken(name: str, conn: Any) -> None:
        raise Rollback

    monkeypatch.setattr(runtime.plugins, "migrator", broken)
    recorder.calls.clear()
    with pytest.raises(Rollback):
        runtime.plugins.enable("migrating", actor)
    assert recorder.of(hook) == []
    assert runtime.plugins.read_states()["migrating"] is False


# ---------------------------------------------------------------------------
# Patient page hooks
# ---------------------------------------------------------------------------


class TimelinePlugin:
    manifest = Manifest(name="timeline_probe", version="1.0")

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    @hookimpl
    def careloop_patient_timeline_entries(self, session, patient_id, before, limit):
        self.asked.append({"patient_id": patient_id, "before": before, "limit": limit})
        assert isinstance(session, Session)
        return [
            TimelineEntry(
                occurred_at=dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC),
                source="timeline_probe",
                kind="survey",
                title="Survey answered",
                ref=f"probe:{patient_id}",
            )
        ]


def test_hook_careloop_patient_timeline_entries(runtime, actor, plugin_registrar):
    pid = new_patient(runtime, actor)
    with runtime.transaction() as session:
        log_interaction(
            session, pid, channel="phone", direction="inbound", kind="call", actor=actor
        )
    probe = TimelinePlugin()
    plugin_registrar(probe)
    with runtime.session() as session:
        page = patient_timeline(session, runtime.plugins, pid, limit=10)
    refs = [e.ref for e in page.entries]
    assert f"probe:{pid}" in refs
    assert any(r and r.startswith("interaction:") for r in refs)
    assert refs.index(f"probe:{pid}") == len(refs) - 1  # 2024 is older than today's call
    assert probe.asked and probe.asked[0]["patient_id"] == pid
    assert probe.asked[0]["before"] is None and probe.asked[0]["limit"] >= 10

    runtime.plugins.disable("timeline_probe", actor)
    with runtime.session() as session:
        page = patient_timeline(session, runtime.plugins, pid, limit=10)
    assert f"probe:{pid}" not in [e.ref for e in page.entries]


# ---------------------------------------------------------------------------
# Registration hooks: collected while the plugin is enabled, not after
# ---------------------------------------------------------------------------

ADMIN, DB = object(), object()
BLUEPRINT = flask.Blueprint("registrar_probe", __name__)
CHANNEL = object()
SEGMENT_FILTER = object()


@click.command("registrar-probe")
def probe_command() -> None:
    """A command contributed by a test plugin."""


class Registrar:
    """One plugin implementing every ``careloop_register_*`` hook."""

    manifest = Manifest(name="registrar", version="1.0")

    def __init__(self) -> None:
        self.admin_args: list[tuple[Any, Any]] = []

    @hookimpl
    def careloop_register_migrations(self) -> str:
        return str(Path(__file__).parent / "no-such-migrations")

    @hookimpl
    def careloop_register_models(self) -> list[type]:
        return [Tag]

    @hookimpl
    def careloop_register_admin_views(self, admin, db) -> list[Any]:
        self.admin_args.append((admin, db))
        return ["registrar-view"]

    @hookimpl
    def careloop_register_blueprints(self) -> list[Any]:
        return [BLUEPRINT]

    @hookimpl
    def careloop_register_cli_commands(self) -> list[click.Command]:
        return [probe_command]

    @hookimpl
    def careloop_register_channels(self) -> list[Any]:
        return [CHANNEL]

    @hookimpl
    def careloop_register_segment_filters(self) -> list[Any]:
        return [SEGMENT_FILTER]


@pytest.fixture
def registrar(runtime, plugin_registrar, monkeypatch) -> Registrar:
    monkeypatch.setattr(runtime.plugins, "migrator", lambda name, conn: None)
    plugin = Registrar()
    assert plugin_registrar(plugin).loadable
    return plugin


def collected_while_enabled(runtime: CareLoop, hook: str, item: Any, **kwargs: Any) -> None:
    assert item in runtime.plugins.collect(hook, **kwargs)
    runtime.plugins.disable("registrar", Actor.system("test"))
    assert item not in runtime.plugins.collect(hook, **kwargs)


def test_hook_careloop_register_migrations(runtime, registrar):
    rec = runtime.plugins.get("registrar")
    assert rec.migrations == str(Path(__file__).parent / "no-such-migrations")
    assert rec.migrations in runtime.plugin_migration_locations()
    # a built-in plugin's branch really created its tables
    attribution = runtime.plugins.get("attribution")
    assert attribution.migrations and Path(attribution.migrations).is_dir()
    assert "attribution" in runtime.plugins.enabled
    tables = {model.__tablename__ for model in attribution.module.careloop_register_models()}
    assert tables and tables <= set(sa_inspect(runtime.db.engine).get_table_names())


def test_hook_careloop_register_models(runtime, registrar):
    collected_while_enabled(runtime, "careloop_register_models", Tag)


def test_hook_careloop_register_admin_views(runtime, registrar):
    # ADMIN and DB are stand-ins: leave out plugins that would build real views with them
    for name in sorted(runtime.plugins.enabled - {"registrar"}):
        runtime.plugins.disable(name, Actor.system("test"), cascade=True)
    collected_while_enabled(
        runtime, "careloop_register_admin_views", "registrar-view", admin=ADMIN, db=DB
    )
    assert registrar.admin_args[0] == (ADMIN, DB)


def test_hook_careloop_register_blueprints(runtime, registrar):
    collected_while_enabled(runtime, "careloop_register_blueprints", BLUEPRINT)


def test_hook_careloop_register_cli_commands(runtime, registrar):
    collected_while_enabled(runtime, "careloop_register_cli_commands", probe_command)


def test_hook_careloop_register_channels(runtime, registrar):
    collected_while_enabled(runtime, "careloop_register_channels", CHANNEL)


def test_hook_careloop_register_segment_filters(runtime, registrar):
    collected_while_enabled(runtime, "careloop_register_segment_filters", SEGMENT_FILTER)


def test_a_failing_event_hook_does_not_stop_the_others(runtime, actor, recorder, plugin_registrar):
    class Failing:
        manifest = Manifest(name="failing", version="1.0")

        @hookimpl
        def careloop_on_patient_created(self, patient_id):
            raise RuntimeError(f"boom {patient_id}")

    plugin_registrar(Failing())
    pid = new_patient(runtime, actor)
    assert [c["patient_id"] for c in recorder.of("careloop_on_patient_created")] == [pid]


def test_disabled_plugin_hears_no_events(runtime, actor, recorder):
    runtime.plugins.disable("recorder", actor)
    recorder.calls.clear()
    new_patient(runtime, actor)
    assert recorder.of("careloop_on_patient_created") == []
    runtime.plugins.enable("recorder", actor)
    pid = new_patient(runtime, actor, "Again")
    assert [c["patient_id"] for c in recorder.of("careloop_on_patient_created")] == [pid]
