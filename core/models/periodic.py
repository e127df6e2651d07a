"""When each periodic task last ran and runs next (shared by every worker process)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class PeriodicRun(Base):
    """One row per periodic task; the slot is claimed by moving ``next_run_at`` forward."""

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    schedule: Mapped[str] = mapped_column(String(120))
    next_run_at: Mapped[dt.datetime]
    last_run_at: Mapped[dt.datetime | None]
    #: ``enqueued`` or the error type of a failed hand-over to the broker
    last_outcome: Mapped[str | None] = mapped_column(String(120))

    def __repr__(self) -> str:
        return f"<PeriodicRun {self.name} next={self.next_run_at.isoformat()}>"
