"""CSV import of patients, beside a raw client-side ``COPY`` of the same rows.

A realistic CSV is generated once into a temporary directory: patients from
Indonesia, China, Russia, Ukraine and Korea with native-script names, phones in
each country's local format (with a ``region`` column), e-mails, tags,
conditions and lead sources; about 1% of rows repeat an earlier patient's phone
(in-file duplicates) and 0.2% carry an unparseable phone (rejects).

PostgreSQL (a fresh database, dropped at the end), in the same run:

* **ours** — :func:`core.importer.import_csv`, end to end: file check, parsing
  in worker processes, dedupe, ``COPY`` into ``patients``, ``contact_points``,
  ``patient_tags`` and ``patient_conditions``, hooks and audit;
* **raw** — the file's bytes streamed by psycopg with ``COPY raw_patients FROM
  STDIN (FORMAT csv, HEADER)`` into one table holding the CSV's columns,
  indexed as our tables are (bigserial primary key, unique MRN, phone, e-mail
  and name indexes): the physical limit for loading those rows.  It runs just
  before and just after ours, into a fresh table each time; the limit is the
  mean, so load from other processes weighs on both sides alike.

SQLite is measured the same way on a smaller file (``--sqlite-rows``), the
limit being ``executemany`` of the raw rows into an indexed table.

Options: ``--rows 1000000`` ``--sqlite-rows 200000`` ``--workers 0`` (0 = CPU count).
Peak RSS of the importing process and of its workers is reported.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import random
import resource
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from bench.common import Result
from core.audit import Actor
from core.config import Config
from core.importer import ImportOptions, import_csv
from core.runtime import CareLoop

SERVER_ENV = "CARELOOP_BENCH_POSTGRES_URL"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
HEADER = [
    "mrn",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "phone",
    "email",
    "language",
    "region",
    "tags",
    "conditions",
    "source",
]

# country: (language, given names, family names, local phone formatter)
_PEOPLE = {
    "ID": (
        "id",
        ["Budi", "Siti", "Dewi", "Agus", "Putri", "Rizky", "Ayu", "Joko"],
        ["Santoso", "Wijaya", "Lestari", "Saputra", "Hidayat", "Rahayu"],
        lambda n: f"08{12 + n % 10} {n // 10_000 % 10_000:04d} {n % 10_000:04d}",
    ),
    "CN": (
        "zh",
        ["小明", "伟", "芳", "娜", "敏", "静", "磊", "洋"],
        ["李", "王", "张", "刘", "陈", "杨", "赵"],
        lambda n: f"13{n % 10} {n // 10_000 % 10_000:04d} {n % 10_000:04d}",
    ),
    "RU": (
        "ru",
        ["Иван", "Анна", "Дмитрий", "Мария", "Сергей", "Ольга"],
        ["Иванов", "Смирнова", "Кузнецов", "Попова", "Соколов"],
        lambda n: f"8 (91{n % 10}) {n // 10_000 % 1000:03d}-{n // 100 % 100:02d}-{n % 100:02d}",
    ),
    "UA": (
        "uk",
        ["Сергій", "Олена", "Андрій", "Наталія", "Тарас", "Ірина"],
        ["Коваленко", "Шевченко", "Бондаренко", "Ткаченко", "Мельник"],
        lambda n: f"06{7 + n % 2} {n // 10_000 % 1000:03d} {n // 100 % 100:02d} {n % 100:02d}",
    ),
    "KR": (
        "ko",
        ["민수", "지은", "서연", "현우", "지훈", "수빈"],
        ["김", "이", "박", "최", "정", "강"],
        lambda n: f"010-{n // 10_000 % 10_000:04d}-{n % 10_000:04d}",
    ),
}
_TAGS = ["vip", "diabetes-program", "loyal", "corporate", "new"]
_CONDITIONS = ["E11:Type 2 diabetes", "I10:Hypertension", "J45:Asthma", "E66:Obesity"]
_SOURCES = ["google-ads", "instagram", "referral", "walk-in", "whatsapp-ctwa", "naver"]


def generate_csv(path: Path, rows: int, seed: int = 7) -> None:
    """Write *rows* patient rows to *path* (UTF-8, LF)."""
    rng = random.Random(seed)
    countries = list(_PEOPLE)
    recent: list[tuple[str, str]] = []  # (phone, country) of some rows, for in-file duplicates
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for i in range(rows):
            country = countries[i % len(countries)]
            roll = rng.random()
            mrn = f"MRN{i:08d}"
            if roll < 0.002:
                phone = "12-abc"
            elif roll < 0.012 and recent:
                (phone, country), mrn = rng.choice(recent), ""
            else:
                phone = _PEOPLE[country][3](i // len(countries) * 7919 % 100_000_000)
                if i % 97 == 0:
                    recent = [*recent[-999:], (phone, country)]
            language, givens, families, _phone_of = _PEOPLE[country]
            writer.writerow(
                [
                    mrn,
                    rng.choice(givens),
                    rng.choice(families),
                    f"{rng.randint(1940, 2015)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    rng.choice(("female", "male")),
                    phone,
                    f"p{i}@example.{country.lower()}" if rng.random() < 0.5 else "",
                    language,
                    country,
                    ";".join(rng.sample(_TAGS, rng.randint(0, 2))),
                    _CONDITIONS[i % 4] if rng.random() < 0.2 else "",
                    rng.choice(_SOURCES) if rng.random() < 0.6 else "",
                ]
            )


# -- measuring ----------------------------------------------------------------

_RAW_COLUMNS = ", ".join(HEADER)
_RAW_TABLE = f"""
CREATE TABLE raw_patients (
    id bigserial PRIMARY KEY,
    {", ".join(f"{name} text" for name in HEADER)}
);
CREATE UNIQUE INDEX raw_patients_mrn ON raw_patients (mrn);
CREATE INDEX raw_patients_phone ON raw_patients (phone);
CREATE INDEX raw_patients_email ON raw_patients (email);
CREATE INDEX raw_patients_name ON raw_patients (family_name, given_name);
"""


def server_url() -> str:
    return os.environ.get(SERVER_ENV) or DEFAULT_SERVER


@contextlib.contextmanager
def temp_database() -> Iterator[str]:
    """A fresh PostgreSQL database on :func:`server_url`, dropped afterwards."""
    server = server_url()
    name = f"careloop_bench_import_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed_import(database_url: str, path: Path, workers: int) -> tuple[float, int, str]:
    """Import *path* into a migrated database; return seconds, rows seen, counts."""
    config = Config.from_env(
        {}, database_url=database_url, default_region="ID", import_workers=workers
    )
    runtime = CareLoop(config)
    try:
        runtime.init_database()
        start = time.perf_counter()
        report = import_csv(runtime, path, Actor.system("bench"), ImportOptions())
        seconds = time.perf_counter() - start
    finally:
        runtime.close()
    rows = report.created + report.updated + report.rejected
    counts = f"{report.created} new, {report.updated} updated, {report.rejected} rejected"
    return seconds, rows, counts


def raw_copy_postgres(database_url: str, path: Path) -> float:
    """Seconds to stream the file through ``COPY raw_patients FROM STDIN`` (fresh table)."""
    with psycopg.connect(database_url) as conn:
        conn.execute("DROP TABLE IF EXISTS raw_patients")
        conn.execute(_RAW_TABLE)
        conn.commit()
        start = time.perf_counter()
        with conn.cursor() as cur, path.open("rb") as handle:
            statement = f"COPY raw_patients ({_RAW_COLUMNS}) FROM STDIN (FORMAT csv, HEADER true)"
            with cur.copy(statement) as copy:
                while block := handle.read(1 << 20):
                    copy.write(block)
        conn.commit()
        return time.perf_counter() - start


def raw_insert_sqlite(database: Path, path: Path) -> float:
    """Seconds to ``executemany`` the file's rows into an indexed SQLite table."""
    conn = sqlite3.connect(database)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_RAW_TABLE.replace("bigserial PRIMARY KEY", "INTEGER PRIMARY KEY"))
        placeholders = ", ".join("?" for _ in HEADER)
        statement = f"INSERT INTO raw_patients ({_RAW_COLUMNS}) VALUES ({placeholders})"
        start = time.perf_counter()
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            rows = [[cell or None for cell in record] for record in reader]
        conn.executemany(statement, rows)
        conn.commit()
        return time.perf_counter() - start
    finally:
        conn.close()


def _head(source: Path, target: Path, rows: int) -> None:
    with source.open(encoding="utf-8") as src, target.open("w", encoding="utf-8") as out:
        for i, line in enumerate(src):
            if i > rows:
                break
            out.write(line)


def _peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def run(argv: list[str]) -> list[Result]:
    parser = argparse.ArgumentParser(prog="bench_import")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sqlite-rows", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=0)
    args, _unknown = parser.parse_known_args(argv)
    workers = args.workers or (os.cpu_count() or 1)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="careloop-bench-import-") as tmp:
        full = Path(tmp) / "patients.csv"
        start = time.perf_counter()
        generate_csv(full, args.rows)
        size_mb = full.stat().st_size / 1e6
        print(
            f"generated {args.rows} rows ({size_mb:.0f} MB) in {time.perf_counter() - start:.1f}s",
            file=sys.stderr,
        )
        rss_before = _peak_rss_mb()[0]
        with temp_database() as url:
            # the limit is measured before and after ours: other load moves both
            raw_before = raw_copy_postgres(url, full)
            ours, rows, counts = timed_import(url, full, workers)
            rss_main, rss_workers = _peak_rss_mb()
            raw_after = raw_copy_postgres(url, full)
        raw = (raw_before + raw_after) / 2
        print(
            f"PostgreSQL import: {counts} in {ours:.1f}s; raw COPY {raw_before:.1f}s before, "
            f"{raw_after:.1f}s after",
            file=sys.stderr,
        )
        results.append(
            Result(
                "CSV import (PostgreSQL)",
                f"rows/s, {args.rows:,} rows",
                rows / ours,
                args.rows / raw,
                "rows/s",
                0.15,
                note=(
                    f"raw = COPY of the same file into an indexed table, mean of "
                    f"{args.rows / raw_before:,.0f} before and {args.rows / raw_after:,.0f} after; "
                    f"{workers} workers; "
                    f"peak RSS main {rss_main:.0f} MB (before import {rss_before:.0f} MB), "
                    f"worker {rss_workers:.0f} MB"
                ),
            )
        )
        small = Path(tmp) / "sqlite.csv"
        sqlite_rows = min(args.sqlite_rows, args.rows)
        _head(full, small, sqlite_rows)
        ours, rows, counts = timed_import(f"sqlite:///{Path(tmp) / 'bench.db'}", small, workers)
        raw = raw_insert_sqlite(Path(tmp) / "raw.db", small)
        print(
            f"SQLite import: {counts} in {ours:.1f}s; raw executemany {raw:.1f}s", file=sys.stderr
        )
        results.append(
            Result(
                "CSV import (SQLite)",
                f"rows/s, {sqlite_rows:,} rows",
                rows / ours,
                sqlite_rows / raw,
                "rows/s",
                0.0,
                note="raw = executemany of the same rows into an indexed table; no target",
            )
        )
    return results


if __name__ == "__main__":
    from bench.common import print_table

    print_table(run(sys.argv[1:]))
