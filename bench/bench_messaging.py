"""Messaging: the outbox end to end on Redis-backed dramatiq, beside a no-op actor.

In a child process (its own dramatiq broker), on a fresh PostgreSQL database
and a private Redis namespace:

1. **no-op baseline** — ``--messages`` jobs of ``messaging.noop`` through the
   same Redis broker and the same ``careloop worker`` processes (enqueued the
   way the outbox enqueues: pipelined);
2. **end to end** — ``--messages`` outbox rows for as many patients
   (``enqueue_bulk``, which hands them to ``messaging.send_messages`` in
   batches), each re-checked by the policy, rendered from a template, sent over
   HTTP to a local fake provider (``tests/messaging/fake_provider.py``) and its
   status recorded; timed from the insert until every row is final.  No-op and
   end-to-end rounds alternate (``--rounds``) and medians are compared, so load
   from other processes hits both;
3. **campaign** — ``--campaign`` rows for one campaign written and handed to
   the broker (no workers running), timed until all are on the queue.

Targets (issue 4): end-to-end throughput >= 20% of the no-op's; the 100,000
campaign queued within 60 s.  Peak memory (max RSS) of the driver and of the
worker processes is reported.  Options: ``--messages 10000``
``--campaign 100000`` ``--processes 2`` ``--threads 4`` ``--rounds 2``; Redis from
``CARELOOP_BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import Result

BENCH = "messaging (Redis, PostgreSQL)"
REDIS_ENV = "CARELOOP_BENCH_REDIS_URL"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
ROOT = Path(__file__).resolve().parents[1]


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench_messaging")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--campaign", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    known, _ = parser.parse_known_args(argv)
    return known


# -- driver (child process) -----------------------------------------------------------


def _seed_patients(runtime: Any, count: int, start: int) -> list[int]:
    """Insert *count* patients with a phone and SMS consent (care and marketing), in bulk."""
    from sqlalchemy import insert

    from core.db import utcnow
    from core.models import ConsentEvent, ContactPoint, Patient

    now = utcnow()
    ids: list[int] = []
    with runtime.transaction() as session:
        for offset in range(0, count, 10_000):
            size = min(10_000, count - offset)
            rows = [
                {
                    "given_name": f"Bench{start + offset + i}",
                    "family_name": "Patient",
                    "display_name": f"Bench{start + offset + i} Patient",
                    "sort_name": f"bench{start + offset + i} patient",
                    "sex": "unknown",
                    "is_lead": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(size)
            ]
            batch = list(
                session.scalars(
                    insert(Patient).returning(Patient.id, sort_by_parameter_order=True), rows
                )
            )
            session.execute(
                insert(ContactPoint),
                [
                    {
                        "patient_id": pid,
                        "kind": "phone",
                        "value": f"+62812{pid:08d}",
                        "is_primary": True,
                        "verified": False,
                        "created_at": now,
                    }
                    for pid in batch
                ],
            )
            session.execute(
                insert(ConsentEvent),
                [
                    {
                        "patient_id": pid,
                        "channel": "sms",
                        "purpose": purpose,
                        "status": "granted",
                        "method": "import",
                        "occurred_at": now,
                        "recorded_at": now,
                    }
                    for pid in batch
                    for purpose in ("care", "marketing")
                ],
            )
            ids += batch
    return ids


def _start_workers(env: dict[str, str], processes: int, log: Path) -> list[subprocess.Popen]:
    from tests.messaging.http_channel import start_worker

    return [start_worker(env, log) for _ in range(processes)]


def _stop_workers(workers: list[subprocess.Popen]) -> None:
    from tests.messaging.http_channel import stop_workers

    stop_workers(workers)


def _count_unfinished(runtime: Any, ids_from: int) -> int:
    from sqlalchemy import func, select

    from core.models import OutboundMessage

    with runtime.session() as session:
        return session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                OutboundMessage.id >= ids_from,
                OutboundMessage.status.in_(["queued", "sending"]),
            )
        )


def _noop_rate(broker: Any, count: int) -> float:
    from core.messaging.actors import QUEUE, noop
    from core.messaging.broker import send_many

    start = time.perf_counter()
    send_many(noop, [((i,), None) for i in range(count)])  # as the outbox enqueues
    broker.join(QUEUE, interval=20)
    return count / (time.perf_counter() - start)


def _e2e_rate(runtime: Any, patients: list[int]) -> float:
    """Queue one message per patient (bulk, as a campaign) and wait until all are final."""
    from core.messaging import outbox

    start = time.perf_counter()
    with runtime.transaction() as session:
        ids = outbox.enqueue_bulk(
            session,
            patients,
            purpose="care",
            template_key="bench",
            channels=["sms"],
            context={"code": "4711"},
        )
    while _count_unfinished(runtime, ids[0]):
        time.sleep(0.05)
    return len(ids) / (time.perf_counter() - start)


def child(opts: argparse.Namespace) -> dict[str, Any]:
    """Run the measurements; returns figures as a dict (printed as JSON)."""
    from bench.bench_lookup import bench_runtime, temp_postgres_database
    from core.messaging import outbox
    from core.messaging.templates import save_template
    from tests.messaging.fake_provider import FakeProvider

    redis_base = os.environ.get(REDIS_ENV) or DEFAULT_REDIS
    namespace = f"careloop-bench-{uuid.uuid4().hex[:8]}"
    broker_url = f"{redis_base}{'&' if '?' in redis_base else '?'}namespace={namespace}"
    figures: dict[str, Any] = {"messages": opts.messages, "campaign": opts.campaign}
    provider = FakeProvider(dedupe=True).start()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"{namespace}-workers.log"
    with temp_postgres_database("careloop_bench_msg") as database_url:
        runtime = bench_runtime(
            database_url,
            broker_url=broker_url,
            channel_mode="live",
            quiet_hours="off",
            marketing_cap="off",
        )
        import dramatiq

        broker = dramatiq.get_broker()
        try:
            with runtime.transaction() as session:
                save_template(
                    session,
                    key="bench",
                    locale="en",
                    channel="sms",
                    body="Hi {{ patient.given_name }}, your code is {{ ctx.code }}.",
                )
            patients = _seed_patients(runtime, opts.messages, 0)
            env = {
                **os.environ,
                "CARELOOP_DATABASE_URL": database_url,
                "CARELOOP_BROKER_URL": broker_url,
                "CARELOOP_SECRET_KEY": "bench",
                "CARELOOP_CHANNEL_MODE": "live",
                "CARELOOP_QUIET_HOURS": "off",
                "CARELOOP_MARKETING_CAP": "off",
                "CARELOOP_PLUGIN_STATE_TTL": "5",
                "CARELOOP_FAKE_PROVIDER_URL": provider.url,
                "CARELOOP_FAKE_PROVIDER_DEDUPE": "1",
                "CARELOOP_FAKE_WORKER_THREADS": str(opts.threads),
                "CARELOOP_FAKE_WORKER_INTERVAL": "5",
            }
            from core.audit import Actor
            from tests.messaging.http_channel import HttpChannelPlugin

            runtime.plugins.add_module(HttpChannelPlugin(provider.url, True), source="bench")
            runtime.plugins.enable("fake_http", Actor.system("bench"))
            workers = _start_workers(env, opts.processes, log)
            try:
                _noop_rate(broker, 200)  # warm-up: workers are up and consuming
                # alternate no-op and end-to-end rounds: load from other processes hits both
                noops = [_noop_rate(broker, opts.messages)]
                e2es: list[float] = []
                for _ in range(opts.rounds):
                    e2es.append(_e2e_rate(runtime, patients))
                    noops.append(_noop_rate(broker, opts.messages))
            finally:
                _stop_workers(workers)
            figures.update(
                noop_rate=statistics.median(noops),
                noop_rates=noops,
                e2e_rate=statistics.median(e2es),
                e2e_rates=e2es,
                delivered=sum(provider.deliveries.values()),
                duplicates=sum(1 for n in provider.deliveries.values() if n > 1),
                worker_peak_rss_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            )
            if opts.campaign:
                more = _seed_patients(runtime, opts.campaign, opts.messages)
                start = time.perf_counter()
                with runtime.transaction() as session:
                    created = outbox.enqueue_bulk(
                        session,
                        more,
                        purpose="marketing",
                        template_key="bench",
                        channels=["sms"],
                        campaign_id=1,
                    )
                seconds = time.perf_counter() - start
                from core.messaging.actors import QUEUE

                figures.update(
                    campaign_seconds=seconds,
                    campaign_rows=len(created),
                    campaign_on_queue=broker.do_qsize(QUEUE),
                )
        finally:
            keys = list(broker.client.scan_iter(f"{namespace}*"))
            for i in range(0, len(keys), 1000):
                broker.client.delete(*keys[i : i + 1000])
            broker.close()
            runtime.close()
            provider.stop()
    figures["driver_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


# -- entry points -----------------------------------------------------------------------


def run(argv: list[str]) -> list[Result]:
    """Run the measurements in a child process and turn them into result lines."""
    opts = _options(argv)
    args = [
        "--messages",
        str(opts.messages),
        "--campaign",
        str(opts.campaign),
        "--processes",
        str(opts.processes),
        "--threads",
        str(opts.threads),
        "--rounds",
        str(opts.rounds),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_messaging", "--child", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(done.stderr[-4000:], file=sys.stderr)
        raise RuntimeError("bench_messaging child failed")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(figures), file=sys.stderr)
    size = f"{opts.messages:,} msgs, {opts.processes}x{opts.threads} threads"
    results = [
        Result(
            BENCH,
            "end-to-end msg/s vs no-op",
            figures["e2e_rate"],
            figures["noop_rate"],
            "msg/s",
            0.20,
            note=f"{size}, medians; e2e rounds "
            + "/".join(f"{r:.0f}" for r in figures["e2e_rates"])
            + ", no-op rounds "
            + "/".join(f"{r:.0f}" for r in figures["noop_rates"])
            + f" msg/s; duplicates {figures['duplicates']}",
        ),
        Result(
            BENCH,
            "peak RSS worker (MB)",
            figures["worker_peak_rss_mb"],
            512,
            "MB",
            1.0,
            higher_is_better=False,
            note=f"driver {figures['driver_peak_rss_mb']:.0f} MB",
        ),
    ]
    if "campaign_seconds" in figures:
        results.append(
            Result(
                BENCH,
                f"{figures['campaign_rows']:,} campaign queued (s)",
                figures["campaign_seconds"],
                60.0,
                "s",
                1.0,
                higher_is_better=False,
                note=f"in {figures['campaign_on_queue']:,} batch jobs on the Redis queue",
            )
        )
    return results


if __name__ == "__main__":
    options = _options(sys.argv[1:])
    if options.child:
        print(json.dumps(child(options)))
    else:
        from bench.common import print_table

        print_table(run(sys.argv[1:]))
