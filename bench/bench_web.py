"""The back office and the telephony endpoint under gunicorn, beside a minimal Flask JSON app.

Both apps run under gunicorn with the same workers (``--workers``, sync), on
127.0.0.1, and are loaded the same way by ``wrk`` (same threads, connections
and duration), one after the other in the same run.  A fresh PostgreSQL
database gets 100,000 then 1,000,000 patients (phones and e-mails from
``bench_lookup``, two interactions and one appointment each, loaded with ``COPY``).

Measured, each against the minimal endpoint (``GET /json`` answering a small
JSON document):

* ``POST /api/telephony/inbound-call`` with random existing callers (written the
  local way): requests/s >= 40 % of the minimal app's, p99 <= 3x;
* the patient list (random pages), search (random surnames, phones, MRN-less
  names) and the 360° page (random patients), signed in as an agent: p99 <= 10x
  the minimal app's at 100,000 patients, and at 1,000,000 no more than 1.5x
  their own value at 100,000.

Our app runs as in production: jobs its hooks send go to a Redis broker
(``CARELOOP_BENCH_REDIS_URL``, default ``redis://127.0.0.1:6379/15``, in a
private namespace deleted at the end); no worker consumes them during the
measurement, as workers run elsewhere.  (An inbound call without a lead source
queues none: attribution only acts on tracked sources.)

Options: ``--sizes 100000,1000000`` ``--workers 2`` ``--connections 4``
``--duration 10`` (seconds per measurement).  Needs ``wrk`` and ``gunicorn``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path

import psycopg

from bench.bench_lookup import (
    COUNTRIES,
    RAW_SQL,
    bench_runtime,
    load_patients,
    phone_of,
    temp_postgres_database,
)
from bench.common import Result

BENCH = "web (gunicorn + wrk)"
REDIS_ENV = "CARELOOP_BENCH_REDIS_URL"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
SECRET = "bench-web-secret"
TOKEN = "bench-telephony-token"
PASSWORD = "bench password 123"
ROOT = Path(__file__).resolve().parent.parent


# -- the two apps (gunicorn imports these) -------------------------------------------------


def careloop_app():  # pragma: no cover - run by gunicorn
    """CareLoop's web app from the environment (``gunicorn 'bench.bench_web:careloop_app()'``)."""
    from admin.app import create_app

    return create_app()


def minimal_app():  # pragma: no cover - run by gunicorn
    """The yardstick: Flask answering a small JSON document."""
    from flask import Flask, jsonify

    app = Flask("minimal")

    @app.get("/json")
    def answer():
        return jsonify(status="ok", name="minimal", items=[1, 2, 3])

    return app


def db_floor_app():  # pragma: no cover - run by gunicorn
    """A second yardstick, for reading the telephony figure: one raw indexed lookup as JSON.

    Flask and one psycopg connection per worker, the caller-ID query of
    ``bench_lookup`` (prepared), no ORM, no session, no write: what any endpoint
    that touches PostgreSQL at all pays on top of the minimal app.
    """
    import psycopg
    from flask import Flask, jsonify, request

    app = Flask("db_floor")
    connection = psycopg.connect(os.environ["CARELOOP_DATABASE_URL"], autocommit=True)

    @app.get("/lookup")
    def lookup():
        rows = connection.execute(RAW_SQL, (request.args["e164"],), prepare=True).fetchall()
        return jsonify(patients=[row[0] for row in rows])

    return app


# -- data --------------------------------------------------------------------------------------


def _history(start: int, stop: int) -> tuple[str, str]:
    """COPY text: two interactions and one future appointment for each patient."""
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    interactions, appointments = io.StringIO(), io.StringIO()
    for i in range(start, stop):
        first = (base + dt.timedelta(minutes=i % 500_000)).isoformat()
        second = (base + dt.timedelta(days=30, minutes=i % 500_000)).isoformat()
        visit = (dt.datetime(2031, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i)).isoformat()
        interactions.write(
            f"{i}\tphone\tinbound\tcall\tCall about results\tanswered\t{first}\t{first}\n"
            f"{i}\twhatsapp\toutbound\tmessage\tReminder\t\\N\t{second}\t{second}\n"
        )
        appointments.write(f"{i}\t{visit}\t{visit}\tbooked\tphone\tf\t{first}\t{first}\n")
    return interactions.getvalue(), appointments.getvalue()


def seed(database_url: str, start: int, stop: int, chunk: int = 100_000) -> float:
    """Add patients ``start..stop-1`` with phones, e-mails and history; seconds taken."""
    began = time.perf_counter()
    load_patients(database_url, start, stop)
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        for lo in range(start, stop, chunk):
            interactions, appointments = _history(lo, min(lo + chunk, stop))
            with cur.copy(
                "COPY interactions (patient_id, channel, direction, kind, subject, outcome, "
                "started_at, created_at) FROM STDIN"
            ) as copy:
                copy.write(interactions)
            with cur.copy(
                "COPY appointments (patient_id, scheduled_start, scheduled_end, status, "
                "booking_channel, walk_in, created_at, updated_at) FROM STDIN"
            ) as copy:
                copy.write(appointments)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE interactions")
        conn.execute("VACUUM ANALYZE appointments")
    return time.perf_counter() - began


def add_agent(database_url: str) -> None:
    """The staff user the load generator signs in as."""
    from core.audit import Actor
    from core.services.staff import create_user

    runtime = bench_runtime(database_url)
    try:
        with runtime.transaction() as session:
            create_user(session, "bench_agent", PASSWORD, "agent", Actor.system("bench"))
    finally:
        runtime.close()


# -- servers and load ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(target: str, workers: int, env: dict[str, str]) -> Iterator[str]:
    """Serve ``module:factory()`` with *workers* sync workers; yield its base URL."""
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            target,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/", timeout=1)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def session_cookie(url: str, username: str) -> str:
    """Sign in through the real form; return the ``Cookie`` header value."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(url + "/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"username": username, "password": PASSWORD, "csrf_token": token})
    opener.open(url + "/login", data=data.encode()).read()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    assert "careloop_session" in cookie, "sign-in failed"
    return cookie


@dataclass
class Load:
    """What wrk measured: requests/s and latency percentiles in milliseconds."""

    rps: float
    p50: float
    p99: float
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * _UNITS[unit]


def wrk(url: str, script: str, connections: int, duration: int, cookie: str = "") -> Load:
    """Run wrk with a Lua *script* (one thread, *connections*, *duration* s)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        path = handle.name
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", path]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    os.unlink(path)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Load(rps, p50, p99, errors)


def _lua_paths(paths: list[str]) -> str:
    items = ",".join('"' + p.replace('"', '\\"') + '"' for p in paths)
    return (
        f"local paths = {{{items}}}\n"
        "math.randomseed(os.time())\n"
        "request = function()\n"
        "  return wrk.format('GET', paths[math.random(#paths)])\n"
        "end\n"
    )


def _lua_telephony(callers: list[str]) -> str:
    bodies = ",".join(
        "'" + '{"caller": "' + c + '", "dialled": "0361 555 123"}' + "'" for c in callers
    )
    return (
        f"local bodies = {{{bodies}}}\n"
        "math.randomseed(os.time())\n"
        "request = function()\n"
        "  local headers = {}\n"
        "  headers['Content-Type'] = 'application/json'\n"
        f"  headers['Authorization'] = 'Bearer {TOKEN}'\n"
        "  local body = bodies[math.random(#bodies)]\n"
        "  return wrk.format('POST', '/api/telephony/inbound-call', headers, body)\n"
        "end\n"
    )


def workloads(size: int, rng: random.Random) -> dict[str, tuple[str, str]]:
    """name -> (Lua script, cookie needed?) for the back-office pages and the telephony API."""
    ids = [rng.randrange(size) for _ in range(500)]
    # Indonesian patients (every sixth): their numbers written the local way, region ID
    local = [phone_of(6 * rng.randrange(size // 6))[2] for _ in range(300)]
    pages = [f"/admin/patients/?page={rng.randrange(40)}" for _ in range(200)]
    names = sorted({g for c in COUNTRIES for g in c.given if g.isascii()})
    searches = [f"/admin/patients/?search={rng.choice(names)}" for _ in range(100)] + [
        "/admin/patients/?search=" + urllib.parse.quote(number) for number in local[:100]
    ]
    return {
        "patient list": (_lua_paths(pages), "agent"),
        "patient search": (_lua_paths(searches), "agent"),
        "patient 360": (_lua_paths([f"/admin/patient/{i}" for i in ids]), "agent"),
        "telephony lookup": (_lua_telephony(local), ""),
    }


@contextlib.contextmanager
def private_broker() -> Iterator[str]:
    """A Redis broker URL in a namespace of its own; its keys are deleted afterwards."""
    import redis

    base = os.environ.get(REDIS_ENV) or DEFAULT_REDIS
    namespace = f"careloop-bench-web-{uuid.uuid4().hex[:8]}"
    try:
        yield f"{base}{'&' if '?' in base else '?'}namespace={namespace}"
    finally:
        client = redis.Redis.from_url(base)
        keys = list(client.scan_iter(f"{namespace}*"))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])
        client.close()


def measure_size(
    database_url: str, broker_url: str, size: int, workers: int, connections: int, duration: int
) -> dict[str, tuple[Load, Load]]:
    """name -> (ours, minimal) with the two servers up side by side."""
    env = {
        "CARELOOP_DATABASE_URL": database_url,
        "CARELOOP_BROKER_URL": broker_url,
        "CARELOOP_SECRET_KEY": SECRET,
        "CARELOOP_TELEPHONY_TOKEN": TOKEN,
        "CARELOOP_SESSION_COOKIE_SECURE": "0",
        "CARELOOP_DEFAULT_REGION": "ID",
    }
    rng = random.Random(size)
    results: dict[str, tuple[Load, Load]] = {}
    minimal_script = _lua_paths(["/json"])
    callers = [phone_of(6 * rng.randrange(size // 6))[1] for _ in range(300)]
    floor_script = _lua_paths([f"/lookup?e164={urllib.parse.quote(c)}" for c in callers])
    with (
        gunicorn("bench.bench_web:careloop_app()", workers, env) as ours,
        gunicorn("bench.bench_web:minimal_app()", workers, {}) as minimal,
        gunicorn("bench.bench_web:db_floor_app()", workers, env) as floor,
    ):
        wrk(floor, floor_script, connections, 2)
        floor_load = wrk(floor, floor_script, connections, duration)
        results["db floor"] = (floor_load, Load(0, 0, 0, 0))
        print(
            f"{size:>9} {'db floor':<18} raw SELECT {floor_load.rps:8.1f} req/s "
            f"p50 {floor_load.p50:7.2f} ms p99 {floor_load.p99:7.2f} ms errors {floor_load.errors}",
            file=sys.stderr,
            flush=True,
        )
        cookie = session_cookie(ours, "bench_agent")
        for name, (script, who) in workloads(size, rng).items():
            # warm both, then measure ours and the yardstick back to back
            wrk(ours, script, connections, 2, cookie if who else "")
            wrk(minimal, minimal_script, connections, 2)
            mine = wrk(ours, script, connections, duration, cookie if who else "")
            base = wrk(minimal, minimal_script, connections, duration)
            print(
                f"{size:>9} {name:<18} ours {mine.rps:8.1f} req/s p50 {mine.p50:7.2f} ms "
                f"p99 {mine.p99:7.2f} ms errors {mine.errors} | minimal {base.rps:8.1f} req/s "
                f"p99 {base.p99:6.2f} ms",
                file=sys.stderr,
                flush=True,
            )
            results[name] = (mine, base)
    return results


def run(argv: list[str]) -> list[Result]:
    parser = argparse.ArgumentParser(prog="bench web")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--duration", type=int, default=10)
    args, _unknown = parser.parse_known_args(argv)
    if not shutil.which("wrk"):
        print("bench_web: wrk is not installed; skipped", file=sys.stderr)
        return []
    sizes = [int(s) for s in args.sizes.split(",")]
    by_size: dict[int, dict[str, tuple[Load, Load]]] = {}
    with temp_postgres_database("careloop_bench_web") as url, private_broker() as broker_url:
        bench_runtime(url).close()
        add_agent(url)
        loaded = 0
        for size in sizes:
            took = seed(url, loaded, size)
            loaded = size
            print(f"seeded {size} patients ({took:.0f}s)", file=sys.stderr, flush=True)
            by_size[size] = measure_size(
                url, broker_url, size, args.workers, args.connections, args.duration
            )
    return _results(by_size, args)


def _results(
    by_size: dict[int, dict[str, tuple[Load, Load]]], args: argparse.Namespace
) -> list[Result]:
    results: list[Result] = []
    how = f"{args.workers} gunicorn workers, wrk {args.connections} connections, {args.duration}s"
    sizes = sorted(by_size)
    first = sizes[0]
    tel, tel_base = by_size[first]["telephony lookup"]
    floor, _none = by_size[first]["db floor"]
    results.append(
        Result(
            BENCH,
            f"telephony req/s @{first // 1000}k",
            tel.rps,
            tel_base.rps,
            "req/s",
            0.40,
            note=(
                f"vs minimal JSON app; {how}; errors {tel.errors}; for reading it: Flask + one "
                f"raw indexed SELECT (no write) serves {floor.rps:.0f} req/s, "
                f"{floor.rps / tel_base.rps:.2f} of the minimal app, p99 {floor.p99:.2f} ms"
            ),
        )
    )
    results.append(
        Result(
            BENCH,
            f"telephony p99 @{first // 1000}k",
            tel.p99,
            tel_base.p99,
            "ms",
            3.0,
            higher_is_better=False,
            note="vs minimal JSON app p99",
        )
    )
    for name in ("patient list", "patient search", "patient 360"):
        mine, base = by_size[first][name]
        results.append(
            Result(
                BENCH,
                f"{name} p99 @{first // 1000}k",
                mine.p99,
                base.p99,
                "ms",
                10.0,
                higher_is_better=False,
                note=f"vs minimal JSON app p99; errors {mine.errors}",
            )
        )
        for size in sizes[1:]:
            big, _base = by_size[size][name]
            results.append(
                Result(
                    BENCH,
                    f"{name} p99 @{size // 1000}k",
                    big.p99,
                    mine.p99,
                    "ms",
                    1.5,
                    higher_is_better=False,
                    note=f"vs the same page at {first // 1000}k",
                )
            )
    return results
