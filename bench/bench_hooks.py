"""Hook dispatch: registry writes with every built-in plugin enabled vs none.

On each database kind (a SQLite file, a fresh PostgreSQL database) the same
runtime alternates rounds with all built-in plugins enabled and with none
enabled, so both see the same machine noise.  Two writes are measured, each
in its own committed transaction:

* ``create_patient`` with a phone, an e-mail and a lead source;
* ``log_interaction`` (an inbound WhatsApp message) on an existing patient.

Plugins do their deferred work in dramatiq actors: here no worker runs during
the measured loop, so enqueued jobs only pile up on the embedded broker (they
are counted, then dropped).  With a real broker, workers do that work in other
processes.  Plugin state is re-read with the default TTL, as in production.

Options: ``--writes=300`` (per round, mode and write), ``--rounds=6``,
``--backends=sqlite,postgresql``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import dramatiq

from bench.bench_lookup import bench_runtime, temp_postgres_database
from bench.common import Result
from core.audit import Actor
from core.runtime import CareLoop
from core.services.interactions import log_interaction
from core.services.patients import PatientInput, create_patient

ACTOR = Actor.system("bench")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench hooks", add_help=False)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args, _ = parser.parse_known_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    return args


@contextlib.contextmanager
def database(backend: str) -> Iterator[str]:
    """A fresh, empty database of *backend*, removed afterwards."""
    if backend == "postgresql":
        with temp_postgres_database("careloop_bench_hooks") as url:
            yield url
    else:
        with tempfile.TemporaryDirectory(prefix="careloop-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"


def builtin_plugins(runtime: CareLoop) -> list[str]:
    """Names of the built-in plugins that can be enabled."""
    return sorted(r.name for r in runtime.plugins.status() if r.source == "builtin" and r.loadable)


def set_plugins(runtime: CareLoop, names: list[str], on: bool) -> None:
    """Enable all of *names* (dependencies first) or disable them all."""
    for name in names:
        if on:
            runtime.plugins.enable(name, ACTOR)
        else:
            runtime.plugins.disable(name, ACTOR, cascade=True)
    runtime.plugins.refresh(force=True)
    expected = set(names) if on else set()
    if set(runtime.plugins.enabled) & set(names) != expected:
        raise RuntimeError(f"plugins not {'enabled' if on else 'disabled'} as asked")


def queued_jobs() -> int:
    """Messages waiting on the embedded broker (no worker consumes them here)."""
    broker = dramatiq.get_broker()
    queues = getattr(broker, "queues", {})
    return sum(q.qsize() for q in queues.values())


def _writers(runtime: CareLoop) -> dict[str, Callable[[], None]]:
    numbers = count(1)
    with runtime.transaction() as session:
        anchor = create_patient(
            session, PatientInput(given_name="Anchor", phones=["+6281100000000"]), ACTOR
        ).id

    def create() -> None:
        n = next(numbers)
        data = PatientInput(
            given_name="Bench",
            family_name=f"Patient {n}",
            phones=[f"0813-{n // 10_000:04d}-{n % 10_000:04d}"],
            emails=[f"bench{n}@example.org"],
            lead_source="bench-ad",
            region="ID",
        )
        with runtime.transaction() as session:
            create_patient(session, data, ACTOR)

    def interaction() -> None:
        with runtime.transaction() as session:
            log_interaction(
                session,
                anchor,
                channel="whatsapp",
                direction="inbound",
                kind="message",
                subject="bench",
                actor=ACTOR,
                lead_source="bench-ad",
            )

    return {"create_patient": create, "log_interaction": interaction}


def measure(runtime: CareLoop, writes: int, rounds: int) -> tuple[dict[str, Any], list[str]]:
    """Writes per second per (write, plugins on?), best of *rounds*; jobs queued per write.

    Rounds alternate the order of the two modes so neither always runs first.
    """
    plugins = builtin_plugins(runtime)
    writers = _writers(runtime)
    rates: dict[tuple[str, bool], list[float]] = {}
    jobs: dict[tuple[str, bool], int] = {}
    broker = dramatiq.get_broker()
    for n in range(rounds):
        for on in (False, True) if n % 2 == 0 else (True, False):
            set_plugins(runtime, plugins, on)
            for name, write in writers.items():
                for _ in range(max(10, writes // 10)):  # warm-up
                    write()
                broker.flush_all()
                began = time.perf_counter()
                for _ in range(writes):
                    write()
                elapsed = time.perf_counter() - began
                jobs[(name, on)] = jobs.get((name, on), 0) + queued_jobs()
                broker.flush_all()
                rates.setdefault((name, on), []).append(writes / elapsed)
    for key, values in sorted(rates.items()):
        print(f"  {key}: {[round(v) for v in values]} writes/s", file=sys.stderr)
    return {
        "best": {key: max(values) for key, values in rates.items()},
        "median": {key: statistics.median(values) for key, values in rates.items()},
        "jobs_per_write": {key: n / (writes * rounds) for key, n in jobs.items()},
    }, plugins


def run(argv: list[str]) -> list[Result]:
    """Measure on every backend asked for (see the module docstring)."""
    args = _parse(argv)
    results: list[Result] = []
    for backend in args.backends:
        with database(backend) as url:
            runtime = bench_runtime(url)
            try:
                figures, plugins = measure(runtime, args.writes, args.rounds)
            finally:
                runtime.close()
        for name in ("create_patient", "log_interaction"):
            results.append(
                Result(
                    f"hook dispatch ({backend})",
                    f"{name} writes/s",
                    figures["best"][(name, True)],
                    figures["best"][(name, False)],
                    "writes/s",
                    0.9,
                    note=(
                        f"all {len(plugins)} built-ins ({', '.join(plugins)}) vs none, best of "
                        f"{args.rounds}; medians {figures['median'][(name, True)]:.0f} vs "
                        f"{figures['median'][(name, False)]:.0f}; jobs queued per write "
                        f"{figures['jobs_per_write'][(name, True)]:.2f} vs "
                        f"{figures['jobs_per_write'][(name, False)]:.2f}"
                    ),
                )
            )
    return results
