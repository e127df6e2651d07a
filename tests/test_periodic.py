"""Periodic tasks: cron slots in the clinic's time zone, claimed by exactly one process."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from core import Manifest, hookimpl
from core.errors import ConfigurationError
from core.models import PeriodicRun
from core.periodic import PeriodicTask, registered_tasks, run_due_tasks

T0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)  # 17:00 in Jakarta


class CountingActor:
    """Stands for a dramatiq actor: counts ``send()`` calls, or fails like a broker."""

    def __init__(self, fail: bool = False) -> None:
        self.sent = 0
        self.fail = fail
        self._lock = threading.Lock()

    def send(self) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        with self._lock:
            self.sent += 1


class Scheduler:
    manifest = Manifest(name="scheduler", version="1.0")

    def __init__(self, *tasks: PeriodicTask) -> None:
        self.tasks = list(tasks)

    @hookimpl
    def careloop_register_periodic_tasks(self) -> list[PeriodicTask]:
        return self.tasks


def _row(runtime, name: str) -> PeriodicRun:
    with runtime.session() as session:
        return session.scalars(select(PeriodicRun).where(PeriodicRun.name == name)).one()


def test_hook_careloop_register_periodic_tasks(runtime, plugin_registrar, actor):
    task = PeriodicTask("scheduler.nightly", "0 3 * * *", CountingActor())
    plugin_registrar(Scheduler(task))
    assert task in registered_tasks(runtime)
    assert "webhooks.purge" in {t.name for t in registered_tasks(runtime)}  # a built-in one
    runtime.plugins.disable("scheduler", actor)
    assert task not in registered_tasks(runtime)


def test_a_slot_runs_once_at_its_local_time(runtime, plugin_registrar):
    runtime.config = runtime.config.with_overrides(timezone="Asia/Jakarta")
    job = CountingActor()
    plugin_registrar(Scheduler(PeriodicTask("scheduler.daily", "30 2 * * *", job)))
    assert "scheduler.daily" not in run_due_tasks(runtime, now=T0)  # new: waits for its slot
    slot = dt.datetime(2026, 11, 23, 19, 30, tzinfo=dt.UTC)  # 02:30 on the 24th in Jakarta
    assert _row(runtime, "scheduler.daily").next_run_at == slot
    run_due_tasks(runtime, now=slot - dt.timedelta(seconds=1))
    assert job.sent == 0
    assert "scheduler.daily" in run_due_tasks(runtime, now=slot + dt.timedelta(seconds=3))
    assert "scheduler.daily" not in run_due_tasks(runtime, now=slot + dt.timedelta(seconds=8))
    assert job.sent == 1
    row = _row(runtime, "scheduler.daily")
    assert row.next_run_at == slot + dt.timedelta(days=1) and row.last_outcome == "enqueued"


def test_a_missed_slot_runs_once_then_the_schedule_goes_on(runtime, plugin_registrar):
    job = CountingActor()
    plugin_registrar(Scheduler(PeriodicTask("scheduler.hourly", "0 * * * *", job)))
    run_due_tasks(runtime, now=T0)
    later = T0 + dt.timedelta(days=3, minutes=20)  # the worker was down for three days
    run_due_tasks(runtime, now=later)
    run_due_tasks(runtime, now=later + dt.timedelta(minutes=1))
    assert job.sent == 1
    assert _row(runtime, "scheduler.hourly").next_run_at == T0 + dt.timedelta(days=3, hours=1)


def test_concurrent_workers_send_a_slot_once(runtime, plugin_registrar):
    job = CountingActor()
    plugin_registrar(Scheduler(PeriodicTask("scheduler.often", "*/5 * * * *", job)))
    run_due_tasks(runtime, now=T0)
    due = T0 + dt.timedelta(minutes=5, seconds=1)
    outcomes: list[object] = []

    def worker() -> None:
        try:
            outcomes.append(run_due_tasks(runtime, due))
        except Exception as exc:  # a failing claim must fail the test, not vanish in a thread
            outcomes.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, outcomes)) == ["['scheduler.often']", "[]", "[]", "[]"]
    assert job.sent == 1


def test_a_broker_failure_is_recorded_and_the_next_slot_tries_again(runtime, plugin_registrar):
    job = CountingActor(fail=True)
    plugin_registrar(Scheduler(PeriodicTask("scheduler.fragile", "0 * * * *", job)))
    run_due_tasks(runtime, now=T0)
    assert run_due_tasks(runtime, now=T0 + dt.timedelta(hours=1)) == []
    row = _row(runtime, "scheduler.fragile")
    assert row.last_outcome == "ConnectionError"
    assert row.next_run_at == T0 + dt.timedelta(hours=2)


def test_a_changed_schedule_is_rescheduled(runtime, plugin_registrar):
    scheduler = Scheduler(PeriodicTask("scheduler.moving", "0 3 * * *", CountingActor()))
    plugin_registrar(scheduler)
    run_due_tasks(runtime, now=T0)
    scheduler.tasks = [PeriodicTask("scheduler.moving", "15 10 * * *", CountingActor())]
    run_due_tasks(runtime, now=T0)
    row = _row(runtime, "scheduler.moving")
    assert (row.schedule, row.next_run_at) == ("15 10 * * *", T0 + dt.timedelta(minutes=15))


@pytest.mark.parametrize("schedule", ["every night", "61 * * * *", ""])
def test_a_bad_schedule_is_refused_naming_the_task(schedule):
    with pytest.raises(ConfigurationError, match=r"scheduler\.bad"):
        PeriodicTask("scheduler.bad", schedule, CountingActor())


def test_the_worker_loop_starts_due_tasks(runtime, plugin_registrar):
    from core.cli.worker import periodic_loop

    job = CountingActor()
    plugin_registrar(Scheduler(PeriodicTask("scheduler.loop", "0 3 * * *", job)))
    with runtime.transaction() as session:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
        session.add(PeriodicRun(name="scheduler.loop", schedule="0 3 * * *", next_run_at=past))
    stop = threading.Event()
    loop = threading.Thread(target=periodic_loop, args=(runtime, stop, 0.05))
    loop.start()
    try:
        for _ in range(100):
            if job.sent:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        loop.join(timeout=10)
    assert job.sent == 1


def test_a_plugin_with_a_bad_schedule_does_not_stop_the_others(runtime, plugin_registrar, caplog):
    class Broken:
        manifest = Manifest(name="broken_schedule", version="1.0")

        @hookimpl
        def careloop_register_periodic_tasks(self) -> list[PeriodicTask]:
            return [PeriodicTask("broken.task", "every night", CountingActor())]

    good = PeriodicTask("scheduler.fine", "0 4 * * *", CountingActor())
    plugin_registrar(Scheduler(good))
    plugin_registrar(Broken())
    names = {task.name for task in registered_tasks(runtime)}
    assert "scheduler.fine" in names and "broken.task" not in names
    assert "broken_schedule failed in careloop_register_periodic_tasks" in caplog.text
