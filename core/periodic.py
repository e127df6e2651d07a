"""Periodic tasks: cron-scheduled jobs that plugins declare and workers start.

A plugin returns :class:`PeriodicTask` objects from
``careloop_register_periodic_tasks`` (a nightly purge, a recall campaign's
daily run, survey reminders).  The worker's periodic loop calls
:func:`run_due_tasks` every few seconds; when a task's slot has come, exactly
one process claims it (an ``UPDATE`` that moves ``periodic_runs.next_run_at``
forward only if nobody moved it first) and sends the task's dramatiq actor, so
the work itself runs on a worker thread like any other job.

Schedules are cron expressions (``croniter``) in the clinic's time zone
(``CARELOOP_TIMEZONE``): ``"30 2 * * *"`` is 02:30 at the clinic.  A new task
first runs at its next slot, not at once.  A worker that was down for a while
runs a missed task once, then goes on from the next slot after now (no
catch-up storm); so does a task whose plugin was disabled over its slot, as
soon as the plugin is enabled again.  A slot is handed to the broker at most once: if the broker
refuses it, the failure is logged and recorded on the row, and the task runs
at its next slot.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.db import utcnow
from core.errors import ConfigurationError
from core.models import PeriodicRun

if TYPE_CHECKING:
    from core.runtime import CareLoop

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicTask:
    """A job to start on a schedule.

    :param name: unique and stable, prefixed with the plugin (``webhooks.purge``).
    :param schedule: a five-field cron expression in the clinic's time zone.
    :param actor: a dramatiq actor (declare it with ``core.tasks.plugin_actor`` so
        it does nothing while its plugin is disabled); it is sent without arguments.
    """

    name: str
    schedule: str
    actor: Any

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 120:
            raise ConfigurationError(f"periodic task name {self.name!r} must be 1-120 characters")
        if not croniter.is_valid(self.schedule):
            raise ConfigurationError(
                f"periodic task {self.name}: {self.schedule!r} is not a cron expression"
            )

    def next_after(self, moment: dt.datetime, zone: ZoneInfo) -> dt.datetime:
        """The first slot strictly after *moment*, in UTC."""
        local = croniter(self.schedule, moment.astimezone(zone)).get_next(dt.datetime)
        return local.astimezone(dt.UTC)


def registered_tasks(runtime: CareLoop) -> list[PeriodicTask]:
    """The tasks of every enabled plugin; a duplicate name keeps the first and is logged.

    A plugin whose hook raises (a bad cron expression) is logged and left out,
    so it cannot stop the other plugins' tasks.
    """
    tasks: dict[str, PeriodicTask] = {}
    for task in runtime.plugins.collect_isolated("careloop_register_periodic_tasks"):
        if not isinstance(task, PeriodicTask):
            logger.error("careloop_register_periodic_tasks returned a %s", type(task).__name__)
        elif task.name in tasks:
            logger.error("periodic task %s is registered twice; the second is ignored", task.name)
        else:
            tasks[task.name] = task
    return list(tasks.values())


def _ensure_rows(
    runtime: CareLoop, tasks: Sequence[PeriodicTask], now: dt.datetime, zone: ZoneInfo
) -> dict[str, PeriodicRun]:
    """Each task's row, created at its next slot (a changed schedule is rescheduled)."""
    with runtime.transaction() as session:
        rows = {
            row.name: row
            for row in session.scalars(
                select(PeriodicRun).where(PeriodicRun.name.in_([t.name for t in tasks]))
            )
        }
        for task in tasks:
            row = rows.get(task.name)
            if row is not None and row.schedule != task.schedule:
                row.schedule = task.schedule
                row.next_run_at = task.next_after(now, zone)
    missing = [task for task in tasks if task.name not in rows]
    for task in missing:
        row = PeriodicRun(
            name=task.name, schedule=task.schedule, next_run_at=task.next_after(now, zone)
        )
        try:
            with runtime.transaction() as session:
                session.add(row)
        except IntegrityError:  # another worker created it at the same moment
            continue
        rows[task.name] = row
    return rows


def run_due_tasks(runtime: CareLoop, now: dt.datetime | None = None) -> list[str]:
    """Send the actor of every task whose slot has come and that this process claims.

    :returns: the names of the tasks sent.
    """
    tasks = registered_tasks(runtime)
    if not tasks:
        return []
    now = now or utcnow()
    zone = ZoneInfo(runtime.config.timezone)
    rows = _ensure_rows(runtime, tasks, now, zone)
    sent: list[str] = []
    for task in tasks:
        row = rows.get(task.name)
        if row is None or row.next_run_at > now:
            continue
        with runtime.transaction() as session:
            claimed = session.execute(
                update(PeriodicRun)
                .where(PeriodicRun.name == task.name, PeriodicRun.next_run_at == row.next_run_at)
                .values(next_run_at=task.next_after(now, zone), last_run_at=now)
            ).rowcount
        if claimed != 1:
            continue  # another worker took this slot
        outcome = "enqueued"
        try:
            task.actor.send()
            sent.append(task.name)
        except Exception as exc:  # the broker may be down: the next slot tries again
            outcome = type(exc).__name__
            logger.warning("periodic task %s could not be enqueued: %s", task.name, outcome)
        with runtime.transaction() as session:
            session.execute(
                update(PeriodicRun)
                .where(PeriodicRun.name == task.name)
                .values(last_outcome=outcome[:120])
            )
    return sent
