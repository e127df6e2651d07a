"""A pytest plugin with CareLoop fixtures, for core's tests and plugin authors'.

Use it with ``pytest_plugins = ["core.testing"]``.  Fixtures:

* ``database_url`` — each test runs once per backend: SQLite always, and
  PostgreSQL when ``CARELOOP_TEST_POSTGRES_URL`` is set.  With
  ``CARELOOP_TEST_REQUIRE_POSTGRES=1`` an unreachable server fails the run
  instead of skipping.  Each pytest(-xdist) worker gets its own database.
* ``runtime`` — a migrated :class:`core.runtime.CareLoop` on that database,
  emptied after each test, with plugin state as ``careloop init`` left it.
* ``session`` — a session of that runtime (you commit).
* ``actor`` — an :class:`core.audit.Actor` for the test.
* ``plugin_registrar`` — register in-memory plugins for one test.
* ``run_jobs`` — run every queued dramatiq job (embedded broker) and wait.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from core.audit import Actor
from core.config import Config
from core.db import Base, make_engine
from core.models import PluginState
from core.runtime import CareLoop, set_process_runtime
from core.tasks import stop_worker

POSTGRES_URL_ENV = "CARELOOP_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "CARELOOP_TEST_REQUIRE_POSTGRES"


def _backends() -> list[Any]:
    params: list[Any] = ["sqlite"]
    if os.environ.get(POSTGRES_URL_ENV):
        params.append(pytest.param("postgresql", marks=pytest.mark.postgres))
    elif os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
        raise pytest.UsageError(f"{REQUIRE_POSTGRES_ENV}=1 but {POSTGRES_URL_ENV} is not set")
    return params


def _worker_id(config: pytest.Config) -> str:
    return getattr(config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(scope="session", params=_backends())
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty database for this test session, per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'careloop.db'}"
        return
    server_url = os.environ[POSTGRES_URL_ENV]
    name = f"careloop_test_{_worker_id(request.config)}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        message = f"PostgreSQL at {POSTGRES_URL_ENV} is unreachable: {type(exc).__name__}: {exc}"
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    base, _, _ = server_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_config(database_url: str, **overrides: Any) -> Config:
    """A configuration for tests: no environment, plugin state re-read on every check."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": "test-secret",
        "default_region": "ID",
        "plugin_state_ttl": 0.0,
    }
    values.update(overrides)
    return Config.from_env({}, **values)


@pytest.fixture(scope="session")
def initial_plugin_states(database_url: str) -> list[dict[str, Any]]:
    """Migrate once per session; remember the plugin state ``careloop init`` made."""
    runtime = CareLoop(test_config(database_url))
    try:
        runtime.init_database()
        with runtime.db.engine.connect() as conn:
            rows = conn.execute(select(PluginState.__table__)).mappings().all()
        return [dict(row) for row in rows]
    finally:
        runtime.close()


def _empty_all_tables(runtime: CareLoop) -> None:
    tables = [t for t in Base.metadata.sorted_tables if t.name != "alembic_version"]
    with runtime.db.engine.begin() as conn:
        existing = set(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                if runtime.db.dialect == "postgresql"
                else text("SELECT name FROM sqlite_master WHERE type = 'table'")
            ).scalars()
        )
        present = [t for t in tables if t.name in existing]
        if runtime.db.dialect == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in present)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(present):
                conn.execute(delete(table))


@pytest.fixture
def runtime(database_url: str, initial_plugin_states: list[dict[str, Any]]) -> Iterator[CareLoop]:
    """A CareLoop runtime on a migrated, empty database (per backend)."""
    rt = CareLoop(test_config(database_url))
    _empty_all_tables(rt)
    with rt.db.engine.begin() as conn:
        if initial_plugin_states:
            conn.execute(insert(PluginState.__table__), initial_plugin_states)
    rt.plugins.refresh(force=True)
    set_process_runtime(rt)
    try:
        yield rt
    finally:
        set_process_runtime(None)
        _empty_all_tables(rt)
        rt.close()


@pytest.fixture
def session(runtime: CareLoop) -> Iterator[Session]:
    with runtime.session() as s:
        yield s


@pytest.fixture
def actor() -> Actor:
    return Actor(label="test:pytest", ip_address="127.0.0.1")


@pytest.fixture
def plugin_registrar(runtime: CareLoop) -> Iterator[Callable[..., Any]]:
    """``register(obj, enable=True)`` adds an in-memory plugin for this test only."""
    added: list[str] = []

    def register(obj: Any, *, enable: bool = True) -> Any:
        rec = runtime.plugins.add_module(obj, source="test")
        runtime.plugins.check_dependencies()
        added.append(rec.name)
        if enable and rec.loadable:
            runtime.plugins.enable(rec.name, Actor.system("test"))
        return rec

    yield register
    for name in reversed(added):
        runtime.plugins.remove(name)


@pytest.fixture
def run_jobs(runtime: CareLoop) -> Iterator[Callable[[], None]]:
    """Call to process every queued job on the embedded broker, then return."""
    import dramatiq

    broker = dramatiq.get_broker()
    broker.flush_all()  # jobs left by earlier tests point at rows of other databases
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()

    def run(timeout_ms: int = 120_000) -> None:
        for queue in list(broker.get_declared_queues()):
            broker.join(queue, fail_fast=True, timeout=timeout_ms)
        worker.join()

    try:
        yield run
    finally:
        stop_worker(worker)
        broker.flush_all()
