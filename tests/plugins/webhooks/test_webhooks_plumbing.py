"""The raw event log, opt-out keywords, lost-queue recovery and plugin switches."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from core.audit import Actor
from core.models import Interaction
from plugins.webhooks.models import WebhookEvent
from plugins.webhooks.services import IncomingEvent, process_event, record_events
from tests.fakes.webapp import web_app

SECRET = "cb-secret"


def test_record_events_stores_each_key_once_and_returns_only_new_ids(session):
    first = record_events(
        session,
        "smsapi",
        [IncomingEvent("a", "report", {"n": 1}), IncomingEvent("a", "report", {"n": 2})],
    )
    again = record_events(
        session, "smsapi", [IncomingEvent("a", "report", {}), IncomingEvent("b", "report", {})]
    )
    other_provider = record_events(session, "whatsapp", [IncomingEvent("a", "message", {})])
    session.commit()
    assert len(first) == 1 and len(again) == 1 and len(other_provider) == 1
    stored = session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all()
    assert [(e.provider, e.event_key) for e in stored] == [
        ("smsapi", "a"),
        ("smsapi", "b"),
        ("whatsapp", "a"),
    ]
    assert stored[0].payload == {"n": 1}  # the first delivery is what was kept


def test_process_event_runs_the_handler_once(session):
    [event_id] = record_events(session, "smsapi", [IncomingEvent("x", "report", {})])
    session.commit()
    calls: list[int] = []

    def handler(_session, event):
        calls.append(event.id)
        return "done"

    assert process_event(session, event_id, handler) == "done"
    session.commit()
    assert process_event(session, event_id, handler) is None
    assert calls == [event_id]


def test_a_failing_handler_leaves_the_event_pending(session):
    [event_id] = record_events(session, "smsapi", [IncomingEvent("y", "report", {})])
    session.commit()

    def broken(_session, _event):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        process_event(session, event_id, broken)
    session.rollback()
    assert session.get(WebhookEvent, event_id).processed_at is None


def _sms_runtime(runtime):
    runtime.config = runtime.config.with_overrides(smsapi_callback_secret=SECRET)
    return runtime


def test_events_stored_while_the_broker_is_down_are_processed_later(runtime, session, monkeypatch):
    from plugins.sms import actors
    from plugins.webhooks.services import reprocess_pending

    client = web_app(_sms_runtime(runtime)).test_client()

    def broker_down(*_args, **_kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(actors.process_events, "send", broker_down)
    mo = {"MsgId": "MO-LOST", "sms_from": "6281234567890", "sms_text": "Halo"}
    assert client.post(f"/webhooks/smsapi/{SECRET}", data=mo).data == b"OK"
    assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 1
    assert session.scalar(select(func.count()).select_from(Interaction)) == 0
    assert reprocess_pending(runtime, older_than=dt.timedelta(0))["smsapi"] == 1
    assert reprocess_pending(runtime, older_than=dt.timedelta(0))["smsapi"] == 0
    assert session.scalar(select(func.count()).select_from(Interaction)) == 1


def test_the_reprocess_command_is_offered_to_the_cli(runtime):
    from plugins.webhooks.cli import webhooks

    result = CliRunner().invoke(webhooks, ["reprocess", "--help"])
    assert result.exit_code == 0 and "--older-than" in result.output


@pytest.mark.parametrize(
    ("plugin", "method", "url"),
    [
        ("sms", "get", f"/webhooks/smsapi/{SECRET}?MsgId=1&status=404"),
        ("whatsapp", "get", "/webhooks/whatsapp?hub.mode=subscribe"),
        ("email", "post", "/webhooks/sendgrid"),
    ],
)
def test_a_disabled_channel_plugin_stops_answering(runtime, plugin, method, url):
    client = web_app(_sms_runtime(runtime)).test_client()
    assert getattr(client, method)(url).status_code != 404
    runtime.plugins.disable(plugin, Actor.system("test"))
    assert getattr(client, method)(url).status_code == 404


def test_the_same_event_racing_in_from_many_threads_is_stored_once(runtime):
    barrier = threading.Barrier(6)
    new: list[list[int]] = []

    def deliver() -> None:
        barrier.wait()
        with runtime.transaction() as s:
            new.append(record_events(s, "smsapi", [IncomingEvent("race", "report", {})]))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(ids) for ids in new) == [0, 0, 0, 0, 0, 1]


def test_purge_deletes_only_old_processed_events(session):
    from plugins.webhooks.services import purge_processed

    old, fresh, pending = record_events(
        session,
        "smsapi",
        [IncomingEvent(k, "report", {}) for k in ("old", "fresh", "pending")],
    )
    now = dt.datetime.now(dt.UTC)
    for event_id, received, done in ((old, 100, True), (fresh, 1, True), (pending, 100, False)):
        event = session.get(WebhookEvent, event_id)
        event.received_at = now - dt.timedelta(days=received)
        event.processed_at = now if done else None
    session.commit()
    assert purge_processed(session, older_than=dt.timedelta(days=90)) == 1
    session.commit()
    left = set(session.scalars(select(WebhookEvent.event_key)))
    assert left == {"fresh", "pending"}


def test_the_nightly_purge_task_keeps_events_for_the_configured_days(runtime, run_jobs):
    from core.periodic import registered_tasks

    runtime.config = runtime.config.with_overrides(webhook_retention_days=30)
    with runtime.transaction() as s:
        ids = record_events(
            s, "smsapi", [IncomingEvent(k, "report", {}) for k in ("month old", "week old")]
        )
        now = dt.datetime.now(dt.UTC)
        for event_id, days in zip(ids, (31, 7), strict=True):
            event = s.get(WebhookEvent, event_id)
            event.received_at, event.processed_at = now - dt.timedelta(days=days), now
    (task,) = [t for t in registered_tasks(runtime) if t.name == "webhooks.purge"]
    assert task.schedule == "40 2 * * *"
    task.actor.send()
    run_jobs()
    with runtime.session() as s:
        assert set(s.scalars(select(WebhookEvent.event_key))) == {"week old"}
