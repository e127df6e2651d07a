"""Webhook intake and processing, beside a minimal Flask endpoint in the same process.

A fresh PostgreSQL database (``temp_postgres_database``) and the real app
(``admin.create_app``), driven by Flask's test client (no network, one thread),
so the figures compare the work a webhook does with the framework's own cost:

* intake: signed WhatsApp status webhooks (HMAC check over the raw body, parse,
  ``INSERT ... ON CONFLICT DO NOTHING`` of the raw event, commit, hand-off to
  the broker) — requests/s >= 40 % of a minimal Flask ``POST`` route that does
  the one durable write a webhook cannot skip (an ``INSERT`` and a commit on the
  same engine): persisting before answering is the physical limit here;
* replays: the same requests again (all duplicates) — >= 40 % as well;
* processing: the stored events applied to the outbox by the actor code
  (forward-only status updates) — events/s, reported against the intake rate.

Options: ``--count 2000`` (webhooks per measurement).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time
from typing import Any

from flask import Flask, request
from sqlalchemy import text

from bench.bench_lookup import bench_runtime, temp_postgres_database
from bench.common import Result

BENCH = "webhooks (test client)"
SECRET = "bench-app-secret"


def _status(wamid: str, our_id: int, status: str) -> bytes:
    doc = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": "1"},
                            "statuses": [
                                {
                                    "id": wamid,
                                    "status": status,
                                    "timestamp": "1700000000",
                                    "recipient_id": "6281234567890",
                                    "biz_opaque_callback_data": str(our_id),
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(doc).encode()


def _rate(client: Any, url: str, bodies: list[tuple[bytes, dict[str, str]]]) -> float:
    start = time.perf_counter()
    for body, headers in bodies:
        response = client.post(url, data=body, headers=headers)
        assert response.status_code == 200, response.status_code
    return len(bodies) / (time.perf_counter() - start)


def _messages(runtime: Any, count: int) -> list[int]:
    from core.audit import Actor
    from core.models.outbox import OutboundMessage
    from core.services import patients

    with runtime.transaction() as session:
        patient = patients.create_patient(
            session, patients.PatientInput(given_name="Bench"), Actor.system("bench")
        )
        rows = [
            OutboundMessage(
                patient_id=patient.id,
                channel="whatsapp",
                body="x",
                status="sent",
                provider_message_id=f"wamid.B{i}",
                idempotency_key=f"bench-wh-{i}",
            )
            for i in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _minimal_app(runtime: Any) -> Flask:
    """A bare Flask route doing one INSERT + COMMIT of the raw body per request."""
    engine = runtime.db.engine
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_minimal_hook (id BIGSERIAL PRIMARY KEY, body TEXT)"))
    app = Flask("minimal")

    def hook() -> str:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO bench_minimal_hook (body) VALUES (:b)"),
                {"b": request.get_data(as_text=True)},
            )
        return "OK"

    app.add_url_rule("/hook", "hook", hook, methods=["POST"])
    return app


def run(argv: list[str]) -> list[Result]:
    parser = argparse.ArgumentParser(prog="bench webhooks")
    parser.add_argument("--count", type=int, default=2000)
    args, _ = parser.parse_known_args(argv)
    from admin.app import create_app
    from plugins.webhooks.models import WebhookEvent
    from plugins.webhooks.services import run_events
    from plugins.whatsapp.services import handle_event

    with temp_postgres_database("careloop_bench_webhooks") as url:
        runtime = bench_runtime(url, whatsapp_app_secret=SECRET)
        try:
            import dramatiq

            ids = _messages(runtime, args.count)
            bodies = []
            for n, our_id in enumerate(ids):
                body = _status(f"wamid.B{n}", our_id, "delivered")
                sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                bodies.append((body, {"X-Hub-Signature-256": sig}))
            base = _rate(_minimal_app(runtime).test_client(), "/hook", bodies)
            client = create_app(runtime=runtime).test_client()
            intake = _rate(client, "/webhooks/whatsapp", bodies)
            replay = _rate(client, "/webhooks/whatsapp", bodies)
            dramatiq.get_broker().flush_all()  # process here, timed, not on the broker
            with runtime.session() as session:
                event_ids = list(
                    session.scalars(
                        WebhookEvent.__table__.select().with_only_columns(WebhookEvent.id)
                    )
                )
            start = time.perf_counter()
            run_events(runtime, event_ids, handle_event)
            processing = len(event_ids) / (time.perf_counter() - start)
        finally:
            runtime.close()
    note = f"{args.count} webhooks, PostgreSQL, one thread"
    return [
        Result(BENCH, "signed intake req/s", intake, base, "req/s", 0.4, note=note),
        Result(BENCH, "replayed (dup) req/s", replay, base, "req/s", 0.4, note=note),
        Result(BENCH, "processing events/s", processing, intake, "ev/s", 0.2, note="vs intake"),
    ]
