"""What every part of a demo patient's story needs: clinic ids, staff, time and messages."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from core.audit import Actor
from core.demo.messages import CALL_OUTCOMES, text
from core.demo.people import DemoPerson
from core.services.interactions import log_interactions

_DATE_FORMATS = {"ru": "%d.%m.%Y", "uk": "%d.%m.%Y", "zh": "%Y-%m-%d", "ko": "%Y-%m-%d"}
#: automatic messages (reminders, surveys, promotions) are sent by the system
SYSTEM = Actor.system("demo")


@dataclass(frozen=True)
class DoctorRef:
    id: int
    name: str
    languages: tuple[str, ...]


@dataclass(frozen=True)
class ServiceRef:
    id: int
    name: str
    price: Decimal
    minutes: int


@dataclass
class ClinicRefs:
    """Ids of what the loader created, for the stories to point at."""

    doctors: dict[str, list[DoctorRef]]
    services: dict[str, list[ServiceRef]]
    staff: dict[str, list[Actor]]
    clinic_tz: ZoneInfo
    now: dt.datetime

    def doctor_for(self, rng: random.Random, department: str, language: str) -> DoctorRef:
        """A doctor of *department*, preferring one who speaks *language*."""
        doctors = self.doctors[department]
        speaking = [d for d in doctors if language in d.languages]
        return rng.choice(speaking if speaking and rng.random() < 0.85 else doctors)


class StoryBase:
    """Helpers shared by the parts of a story, which writes through core services."""

    def __init__(
        self,
        session: Session,
        refs: ClinicRefs,
        person: DemoPerson,
        patient_id: int,
        display_name: str,
        rng: random.Random,
    ) -> None:
        self.session = session
        self.refs = refs
        self.person = person
        self.patient_id = patient_id
        self.rng = rng
        self.lang = person.language
        self.name = display_name if self.lang in ("zh", "ko") else person.data.given_name
        self.tz = ZoneInfo(person.data.time_zone or "UTC")
        #: marketing channel -> (granted at, withdrawn at or now)
        self.marketing: dict[str, tuple[dt.datetime, dt.datetime]] = {}
        #: the session's identity map holds objects weakly: keep what services look up again
        self.keep: list[object] = []
        #: interactions written together by :meth:`write_interactions`
        self.pending: list[dict[str, object]] = []

    def agent(self) -> Actor:
        return self.rng.choice(self.refs.staff["agent"])

    def crm(self) -> Actor:
        return self.rng.choice(self.refs.staff["crm_staff"])

    def between(self, start: dt.datetime, end: dt.datetime) -> dt.datetime:
        """A random moment in ``[start, end]`` (*start* when the span is empty)."""
        if end <= start:
            return start
        seconds = int((end - start).total_seconds())
        return start + dt.timedelta(seconds=self.rng.randint(0, seconds))

    def slot(self, day: dt.date) -> dt.datetime:
        """A clinic-hours slot (08:00-16:30, 15-minute grid, Monday-Saturday) on or after *day*."""
        while day.weekday() == 6:
            day += dt.timedelta(days=1)
        minutes = 8 * 60 + 15 * self.rng.randint(0, 34)
        local = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), self.refs.clinic_tz)
        return local.astimezone(dt.UTC)

    def texting_channel(self) -> str:
        return "whatsapp" if self.person.has_whatsapp else "sms"

    def log(self, actor: Actor, **fields: object) -> None:
        """Queue an interaction on this patient (see :meth:`write_interactions`)."""
        self.pending.append({"actor": actor, **fields})

    def write_interactions(self) -> None:
        """Write the queued interactions in one statement, audited and announced as usual."""
        log_interactions(self.session, self.patient_id, self.pending, SYSTEM)
        self.pending.clear()

    def say(
        self,
        key: str,
        at: dt.datetime,
        *,
        channel: str,
        direction: str,
        kind: str = "message",
        actor: Actor = SYSTEM,
        doctor: str = "",
        about: dt.datetime | None = None,
        **fields: object,
    ) -> None:
        """Log message *key* in the patient's language; *about* is the time it mentions."""
        local = (about or at).astimezone(self.tz)
        subject, body = text(
            key,
            self.lang,
            name=self.name,
            doctor=doctor,
            date=local.strftime(_DATE_FORMATS.get(self.lang, "%d/%m/%Y")),
            time=local.strftime("%H:%M"),
        )
        self.log(
            actor,
            channel=channel,
            direction=direction,
            kind=kind,
            subject=subject,
            body=body,
            started_at=at,
            **fields,
        )

    def call(self, direction: str, when: dt.datetime, appointment_id: int | None = None) -> None:
        """A phone call with a weighted outcome, its duration and sometimes a recording."""
        rng = self.rng
        outcomes = list(CALL_OUTCOMES)
        outcome = rng.choices(outcomes, weights=[CALL_OUTCOMES[o][0] for o in outcomes])[0]
        low, high = CALL_OUTCOMES[outcome][1]
        duration = rng.randint(low, high)
        recording = None
        if duration > 60 and rng.random() < 0.3:
            recording = (
                f"https://recordings.example/calls/{uuid.UUID(int=rng.getrandbits(128))}.mp3"
            )
        self.log(
            self.agent(),
            channel="phone",
            direction=direction,
            kind="call",
            subject="Call" if direction == "inbound" else "Call back",
            outcome=outcome,
            started_at=when,
            duration_seconds=duration,
            recording_url=recording,
            appointment_id=appointment_id,
        )
