"""Hook dispatch: registry writes with every built-in plugin enabled vs none.

On each database kind (a SQLite file, a fresh PostgreSQL database) the same
runtime alternates short batches with all built-in plugins enabled and with
none enabled (the order flips every pair), so both modes see the same load
from other processes.  Throughput is total writes over total wall time per
mode; the median on/off ratio of the pairs and the CPU time per write are
reported beside it.  Two writes are measured, each
in its own committed transaction:

* ``create_patient`` with a phone, an e-mail and a lead source;
* ``log_interaction`` (an inbound WhatsApp message) on an existing patient.

Plugins do their deferred work in dramatiq actors: here no worker runs during
the measured loop, so enqueued jobs only pile up on the embedded broker (they
are counted, then dropped).  With a real broker, workers do that work in other
processes.  Plugin state is re-read with the default TTL, as in production.

Options: ``--pairs=80`` (off/on batch pairs; 2,000 writes per mode: fewer leave
+-7% of noise on a 10% margin), ``--batch=25`` (writes per batch),
``--backends=sqlite,postgresql``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

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
    parser.add_argument("--pairs", type=int, default=80)
    parser.add_argument("--batch", type=int, default=25)
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


@dataclass
class Tally:
    """Wall-clock and CPU seconds spent on one write in one mode, and how many writes."""

    writes: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    jobs: int = 0
    pair_ratios: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.writes / self.wall if self.wall else float("nan")


def measure(
    runtime: CareLoop, pairs: int, batch: int
) -> tuple[dict[tuple[str, bool], Tally], list[str]]:
    """Alternate small batches with plugins off and on; tally each (write, mode).

    Short alternating batches (the order flips every pair) spread the load of
    other processes evenly over both modes; each pair also gives one on/off ratio.
    """
    plugins = builtin_plugins(runtime)
    writers = _writers(runtime)
    tallies = {(name, on): Tally() for name in writers for on in (False, True)}
    broker = dramatiq.get_broker()
    for on in (False, True):  # warm-up both modes (caches, prepared statements)
        set_plugins(runtime, plugins, on)
        for write in writers.values():
            for _ in range(batch):
                write()
    broker.flush_all()
    for n in range(pairs):
        seconds: dict[tuple[str, bool], float] = {}
        for on in (False, True) if n % 2 == 0 else (True, False):
            set_plugins(runtime, plugins, on)
            for name, write in writers.items():
                tally = tallies[(name, on)]
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(batch):
                    write()
                seconds[(name, on)] = time.perf_counter() - wall
                tally.wall += seconds[(name, on)]
                tally.cpu += time.process_time() - cpu
                tally.writes += batch
                tally.jobs += queued_jobs()
                broker.flush_all()
        for name in writers:
            tallies[(name, True)].pair_ratios.append(seconds[(name, False)] / seconds[(name, True)])
    return tallies, plugins


def run(argv: list[str]) -> list[Result]:
    """Measure on every backend asked for (see the module docstring)."""
    args = _parse(argv)
    results: list[Result] = []
    for backend in args.backends:
        with database(backend) as url:
            runtime = bench_runtime(url)
            try:
                tallies, plugins = measure(runtime, args.pairs, args.batch)
            finally:
                runtime.close()
        for name in ("create_patient", "log_interaction"):
            on, off = tallies[(name, True)], tallies[(name, False)]
            results.append(
                Result(
                    f"hook dispatch ({backend})",
                    f"{name} writes/s",
                    on.rate,
                    off.rate,
                    "writes/s",
                    0.9,
                    note=(
                        f"all {len(plugins)} built-ins ({', '.join(plugins)}) vs none; "
                        f"{on.writes} writes each; median pair ratio "
                        f"{statistics.median(on.pair_ratios):.3f}; CPU ms/write "
                        f"{on.cpu / on.writes * 1000:.2f} vs {off.cpu / off.writes * 1000:.2f}; "
                        f"jobs queued/write {on.jobs / on.writes:.2f} vs "
                        f"{off.jobs / off.writes:.2f}"
                    ),
                )
            )
    return results
