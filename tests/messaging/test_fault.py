"""Fault test: kill -9 worker processes during a campaign on the Redis broker.

A campaign of :data:`MESSAGES` goes through ``careloop worker``-style
subprocesses (:func:`tests.messaging.http_channel.worker_main`) to a fake HTTP
provider that counts deliveries per idempotency key.  Workers are killed with
SIGKILL at random moments :data:`KILLS` times and restarted.  Afterwards:

* every message ended ``sent``/``delivered`` or ``failed`` with a reason: none lost;
* with a deduplicating provider, each was delivered exactly once;
* without one, none was delivered twice, and every message whose send was
  interrupted is flagged ``needs_reconciliation`` (delivered 0 or 1 times).

Sizes: ``CARELOOP_FAULT_MESSAGES`` / ``CARELOOP_FAULT_KILLS`` (defaults are CI-sized).
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import select, update

from core.messaging import outbox
from core.models import OutboundMessage
from core.tasks import redis_namespace
from tests.messaging.fake_provider import FakeProvider
from tests.messaging.http_channel import HttpChannelPlugin, start_worker, stop_workers

MESSAGES = int(os.environ.get("CARELOOP_FAULT_MESSAGES", "120"))
KILLS = int(os.environ.get("CARELOOP_FAULT_KILLS", "6"))
WORKERS = 2


def _statuses(runtime) -> list[tuple[str, str | None, bool, str]]:
    with runtime.session() as session:
        return [
            tuple(row)
            for row in session.execute(
                select(
                    OutboundMessage.status,
                    OutboundMessage.status_reason,
                    OutboundMessage.needs_reconciliation,
                    OutboundMessage.idempotency_key,
                )
            )
        ]


@pytest.mark.parametrize("dedupe", [True, False], ids=["dedupe", "no-dedupe"])
def test_kill_workers_during_a_campaign(
    msg_runtime, plugin_registrar, make_patient, redis_url, tmp_path, monkeypatch, dedupe
):
    provider = FakeProvider(dedupe=dedupe, delay=(0.05, 0.2)).start()
    plugin_registrar(HttpChannelPlugin(provider.url, dedupe))
    patients = [make_patient(consents=[("sms", "care")], email=None) for _ in range(10)]
    monkeypatch.setattr(outbox, "send_to_broker", lambda jobs: 0)
    with msg_runtime.transaction() as session:
        ids: list[int] = []
        for i in range(MESSAGES):
            ids.append(
                outbox.enqueue_message(
                    session,
                    patients[i % 10],
                    channel="sms",
                    body="Hi {{ patient.given_name }}",
                    campaign_id=1,
                    cause=f"fault:{i}",
                ).id
            )
    # half wait in the database for the dispatcher, half go straight to Redis
    half = ids[: MESSAGES // 2]
    with msg_runtime.transaction() as session:
        session.execute(
            update(OutboundMessage).where(OutboundMessage.id.in_(half)).values(enqueued_at=None)
        )
    url, namespace = redis_namespace(redis_url)
    direct = RedisBroker(url=url, namespace=namespace)
    direct.declare_queue("messaging")
    for mid in ids[MESSAGES // 2 :]:
        direct.enqueue(
            Message(
                queue_name="messaging",
                actor_name="messaging.send_message",
                args=(mid,),
                kwargs={},
                options={},
            )
        )
    direct.close()

    env = {
        **os.environ,
        "CARELOOP_DATABASE_URL": msg_runtime.config.database_url,
        "CARELOOP_BROKER_URL": redis_url,
        "CARELOOP_SECRET_KEY": "test",
        "CARELOOP_CHANNEL_MODE": "live",
        "CARELOOP_QUIET_HOURS": "off",
        "CARELOOP_MARKETING_CAP": "off",
        "CARELOOP_OUTBOX_STUCK_AFTER": "3",
        "CARELOOP_SEND_BACKOFF": "0.2",
        "CARELOOP_SEND_MAX_ATTEMPTS": "8",
        "CARELOOP_PLUGIN_STATE_TTL": "5",
        "CARELOOP_FAKE_PROVIDER_URL": provider.url,
        "CARELOOP_FAKE_PROVIDER_DEDUPE": "1" if dedupe else "0",
        "CARELOOP_FAKE_WORKER_THREADS": "3",
        "CARELOOP_FAKE_WORKER_INTERVAL": "0.5",
    }
    log = tmp_path / "workers.log"
    workers = [start_worker(env, log) for _ in range(WORKERS)]
    rng = random.Random(os.environ.get("CARELOOP_FAULT_SEED"))
    kills = 0
    deadline = time.monotonic() + 150
    try:
        while time.monotonic() < deadline and not sum(provider.deliveries.values()):
            time.sleep(0.1)  # wait until the workers are sending
        while kills < KILLS and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.1, 0.8))
            victim = rng.randrange(WORKERS)
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            kills += 1
            workers[victim] = start_worker(env, log)
        while time.monotonic() < deadline:
            rows = _statuses(msg_runtime)
            if all(status not in ("queued", "sending") for status, *_ in rows):
                break
            time.sleep(0.5)
    finally:
        stop_workers(workers, timeout=15)
        provider.stop()

    rows = _statuses(msg_runtime)
    assert kills == KILLS
    assert len(rows) == MESSAGES
    unfinished = [r for r in rows if r[0] in ("queued", "sending")]
    assert not unfinished, f"lost: {unfinished[:5]} (log: {log.read_text()[-2000:]})"
    for status, reason, flagged, key in rows:
        delivered = provider.deliveries[key]
        assert delivered <= 1, f"{key} delivered {delivered} times"
        assert status in ("sent", "delivered", "failed"), status
        if status == "failed":
            assert reason
        if dedupe:
            assert delivered == 1 and status in ("sent", "delivered")
        elif flagged:
            assert status == "failed" and reason.startswith("interrupted_send")
        else:
            assert status in ("sent", "delivered") and delivered == 1
    print(
        f"\nfault test ({'dedupe' if dedupe else 'no dedupe'}): {MESSAGES} messages, "
        f"{kills} kills, duplicates refused by provider {sum(provider.refused.values())}, "
        f"flagged for reconciliation {sum(1 for r in rows if r[2])}"
    )
