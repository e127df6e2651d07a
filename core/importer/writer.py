"""The writer thread: commits planned chunks while the main thread plans the next.

Writing a chunk mostly waits for the database (``COPY``, index updates,
commit); the main thread meanwhile receives and plans the next chunk.  Chunks
are written one at a time, in order, each in its own transaction, and
``careloop_on_patients_imported`` fires after each commit.  At most one chunk
waits in the queue, so at most two planned chunks are uncommitted at any
time (see ``PENDING_CHUNKS``).
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING

from core import events
from core.audit import Actor
from core.db import utcnow
from core.importer.dedupe import ChunkPlan, fold
from core.importer.write import ChunkWriter

if TYPE_CHECKING:
    from core.importer.pipeline import ImportReport
    from core.runtime import CareLoop

#: chunks planned but perhaps not committed: the one being written, the one queued,
#: and a spare; the planner looks their new rows up in memory
PENDING_CHUNKS = 3


class WriterThread(threading.Thread):
    """Writes :class:`ChunkPlan` objects in order; errors surface in the main thread."""

    def __init__(self, runtime: CareLoop, actor: Actor, report: ImportReport) -> None:
        super().__init__(name="careloop-import-writer", daemon=True)
        self.runtime = runtime
        self.actor = actor
        self.report = report
        self.writer = ChunkWriter(runtime.db.dialect)
        self._jobs: queue.Queue[ChunkPlan | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None

    @property
    def postgres(self) -> bool:
        return self.writer.postgres

    def submit(self, plan: ChunkPlan) -> None:
        """Queue *plan* (waits while another one is queued)."""
        self._raise()
        self._jobs.put(plan)

    def finish(self) -> None:
        """Write what is queued, stop, and raise the writer's error if any."""
        self._jobs.put(None)
        self.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def run(self) -> None:
        while (plan := self._jobs.get()) is not None:
            if self._error is None:
                try:
                    self._write(plan)
                except BaseException as exc:  # handed to the main thread
                    self._error = exc

    def _write(self, plan: ChunkPlan) -> None:
        for target, delta in plan.late_updates:
            assert target.patient_id is not None  # its chunk was written before this one
            if target.patient_id in plan.updates:
                fold(plan.updates[target.patient_id], delta)
            else:
                plan.updates[target.patient_id] = delta
        with self.runtime.transaction() as session:
            new_ids = self.writer.write(session, plan, utcnow())
            for row, patient_id in zip(plan.new, new_ids, strict=False):
                row.patient_id = patient_id
            if plan.fast:
                plan.fast.written(new_ids[len(plan.new) :])
            touched = [*new_ids, *plan.updates]
            if touched:
                events.emit(
                    session, "careloop_on_patients_imported", patient_ids=touched, actor=self.actor
                )
        report = self.report
        report.created += len(new_ids)
        if new_ids:
            low, high = min(new_ids), max(new_ids)
            report.first_id = low if report.first_id is None else min(report.first_id, low)
            report.last_id = high if report.last_id is None else max(report.last_id, high)
