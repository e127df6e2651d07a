"""Phone lookup, the caller-ID path, beside a raw indexed SQL lookup.

A fresh PostgreSQL database is filled with patients whose phones come from
several countries, first 100,000 then 1,000,000 (rows generated here and
loaded with ``COPY``).  At each size, the same random existing numbers are
looked up two ways, interleaved so that noise from other processes hits both:

* **ours** — :func:`core.services.patients.find_by_phone` with the number
  written the local way (``0812-3456-7890`` with region ``ID``), parsing
  included, in an open session (as a webhook handler calls it); the same call
  wrapped in its own new session is reported beside it;
* **raw** — ``SELECT patient_id FROM contact_points WHERE kind='phone' AND
  value=%s`` with the E.164 value on one psycopg connection, prepared.

Options: ``--sizes 100000,1000000`` ``--lookups 20000`` ``--warmup 500`` (a p99 of
5,000 lookups rests on 50 samples: too few for the 1M/100k growth ratio).
The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import random
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg

from bench.common import Result, percentile
from core.config import Config
from core.runtime import CareLoop
from core.services.patients import find_by_phone

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
SERVER_ENV = "CARELOOP_BENCH_POSTGRES_URL"
BENCH = "phone lookup (PostgreSQL)"
RAW_SQL = "SELECT patient_id FROM contact_points WHERE kind = 'phone' AND value = %s"


# -- a throw-away database ----------------------------------------------------------


def server_url() -> str:
    """The PostgreSQL server benchmarks create their databases on."""
    return os.environ.get(SERVER_ENV) or DEFAULT_SERVER


@contextlib.contextmanager
def temp_postgres_database(prefix: str) -> Iterator[str]:
    """Create an empty database on :func:`server_url`, yield its URL, drop it."""
    server = server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_runtime(database_url: str, **overrides: object) -> CareLoop:
    """A migrated runtime on *database_url*, configured without the environment."""
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": "bench",
        "default_region": "ID",
    }
    values.update(overrides)
    runtime = CareLoop(Config.from_env({}, **values))
    runtime.init_database()
    return runtime


# -- synthetic patients ---------------------------------------------------------------


@dataclass(frozen=True)
class Country:
    """How one country's mobile numbers look, in E.164 and written locally."""

    region: str
    prefix: str  # E.164 up to the subscriber digits
    digits: int  # subscriber digits after the prefix
    language: str
    given: tuple[str, ...]
    family: tuple[str, ...]

    def subscriber(self, k: int) -> str:
        """The *k*-th subscriber number, spread over the range (a bijection for k < 10**digits)."""
        return str((k * 7919 + 104_729) % 10**self.digits).zfill(self.digits)

    def local(self, sub: str) -> str:
        """The number as people write it at home."""
        national = self.prefix[len(_CALLING_CODE[self.region]) + 1 :]
        return {
            "ID": f"0{national}-{sub[:4]}-{sub[4:]}",
            "CN": f"{national} {sub[:4]} {sub[4:]}",
            "RU": f"8 ({national}) {sub[:3]}-{sub[3:5]}-{sub[5:]}",
            "UA": f"0{national} {sub[:3]} {sub[3:5]} {sub[5:]}",
            "KR": f"0{national}-{sub[:4]}-{sub[4:]}",
            "DE": f"0{national} {sub}",
        }[self.region]


_CALLING_CODE = {"ID": "62", "CN": "86", "RU": "7", "UA": "380", "KR": "82", "DE": "49"}

COUNTRIES = (
    Country("ID", "+62812", 8, "id", ("Budi", "Siti", "Agus", "Dewi"), ("Santoso", "Wijaya")),
    Country("CN", "+86138", 8, "zh", ("小明", "丽", "伟"), ("李", "王", "张")),
    Country("RU", "+7912", 7, "ru", ("Иван", "Ольга", "Сергей"), ("Иванов", "Смирнова")),
    Country("UA", "+38067", 7, "uk", ("Сергій", "Олена", "Тарас"), ("Коваленко", "Шевченко")),
    Country("KR", "+8210", 8, "ko", ("민수", "지영", "서준"), ("김", "이", "박")),
    Country("DE", "+49151", 8, "de", ("Lukas", "Anna", "Jonas"), ("Müller", "Schmidt")),
)


def phone_of(i: int) -> tuple[Country, str, str]:
    """Patient *i*'s country, E.164 phone and locally written phone."""
    country = COUNTRIES[i % len(COUNTRIES)]
    sub = country.subscriber(i // len(COUNTRIES))
    return country, country.prefix + sub, country.local(sub)


def _rows(start: int, stop: int) -> tuple[bytes, bytes]:
    """COPY text for patients ``start..stop-1`` and their contact points."""
    now = dt.datetime.now(dt.UTC).isoformat()
    patients, contacts = io.StringIO(), io.StringIO()
    for i in range(start, stop):
        country, e164, _ = phone_of(i)
        given = country.given[i % len(country.given)]
        family = country.family[(i // 7) % len(country.family)]
        display = f"{family}{given}" if country.region in ("CN", "KR") else f"{given} {family}"
        patients.write(
            f"{i}\t{given}\t{family}\t{display}\t{display.casefold()}\tunknown\t"
            f"{country.language}\t{country.region}\tf\t{now}\t{now}\n"
        )
        contacts.write(f"{2 * i}\t{i}\tphone\t{e164}\tt\tf\t{now}\n")
        if i % 2:
            contacts.write(f"{2 * i + 1}\t{i}\temail\tp{i}@example.org\tt\tf\t{now}\n")
    return patients.getvalue().encode(), contacts.getvalue().encode()


def load_patients(database_url: str, start: int, stop: int, chunk: int = 50_000) -> float:
    """COPY patients ``start..stop-1`` (and phones, e-mails) in; return seconds taken."""
    began = time.perf_counter()
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        for lo in range(start, stop, chunk):
            patients, contacts = _rows(lo, min(lo + chunk, stop))
            with cur.copy(
                "COPY patients (id, given_name, family_name, display_name, sort_name, sex, "
                "preferred_language, country, is_lead, created_at, updated_at) FROM STDIN"
            ) as copy:
                copy.write(patients)
            with cur.copy(
                "COPY contact_points (id, patient_id, kind, value, is_primary, verified, "
                "created_at) FROM STDIN"
            ) as copy:
                copy.write(contacts)
        cur.execute("SELECT setval('patients_id_seq', (SELECT max(id) FROM patients))")
        cur.execute("SELECT setval('contact_points_id_seq', (SELECT max(id) FROM contact_points))")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE patients")
        conn.execute("VACUUM ANALYZE contact_points")
    return time.perf_counter() - began


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Latencies:
    """Latencies in milliseconds at one size: ours, raw, and ours with a session per call."""

    size: int
    ours: list[float]
    raw: list[float]
    per_session: list[float]

    def p(self, which: str, pct: float) -> float:
        return percentile(getattr(self, which), pct)


def measure(
    runtime: CareLoop, database_url: str, size: int, lookups: int, warmup: int
) -> Latencies:
    """Look up random existing numbers each way, interleaved; check every answer.

    *ours* runs in the request's session (its connection already checked out,
    as when a webhook handler looks up the caller); *per_session* also opens
    and closes a session around the call (pool checkout and ping, ``BEGIN``,
    ``ROLLBACK``) and is reported beside it.
    """
    rng = random.Random(size)
    picks = [rng.randrange(size) for _ in range(warmup + lookups)]
    lat = Latencies(size, [], [], [])
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        conn.cursor() as cur,
        runtime.session() as session,
    ):
        for n, i in enumerate(picks):
            country, e164, local = phone_of(i)
            t0 = time.perf_counter()
            found = find_by_phone(session, local, country.region)
            t1 = time.perf_counter()
            cur.execute(RAW_SQL, (e164,), prepare=True)
            rows = cur.fetchall()
            t2 = time.perf_counter()
            with runtime.session() as own:
                again = find_by_phone(own, local, country.region)
            t3 = time.perf_counter()
            if [m.id for m in found] != [i] or rows != [(i,)] or again != found:
                raise AssertionError(f"lookup of patient {i} returned the wrong rows")
            if n >= warmup:
                lat.ours.append((t1 - t0) * 1000)
                lat.raw.append((t2 - t1) * 1000)
                lat.per_session.append((t3 - t2) * 1000)
    return lat


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench lookup", add_help=False)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--lookups", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=500)
    args, _ = parser.parse_known_args(argv)
    args.sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    return args


def run(argv: list[str]) -> list[Result]:
    """Fill, measure at each size, and compare (see the module docstring)."""
    args = _parse(argv)
    results: list[Result] = []
    measured: list[Latencies] = []
    with temp_postgres_database("careloop_bench_lookup") as url:
        runtime = bench_runtime(url)
        try:
            loaded = 0
            for size in args.sizes:
                seconds = load_patients(url, loaded, size)
                print(
                    f"  loaded {size - loaded:,} patients in {seconds:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
                loaded = size
                lat = measure(runtime, url, size, args.lookups, args.warmup)
                measured.append(lat)
                results.append(
                    Result(
                        BENCH,
                        f"p99 ms at {size:,}",
                        lat.p("ours", 99),
                        lat.p("raw", 99),
                        "ms",
                        2.0,
                        higher_is_better=False,
                        note=(
                            f"p50 ours {lat.p('ours', 50):.3f} / raw {lat.p('raw', 50):.3f} ms; "
                            f"session per call p50 {lat.p('per_session', 50):.3f} "
                            f"p99 {lat.p('per_session', 99):.3f} ms"
                        ),
                    )
                )
        finally:
            runtime.close()
    if len(measured) > 1:
        small, large = measured[0], measured[-1]
        results.append(
            Result(
                BENCH,
                f"p99 growth {small.size:,}->{large.size:,}",
                large.p("ours", 99),
                small.p("ours", 99),
                "ms",
                1.5,
                higher_is_better=False,
                note=f"ours at {large.size:,} vs ours at {small.size:,}",
            )
        )
    return results
