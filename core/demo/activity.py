"""A demo patient's history: consents, appointments and interactions, through core services."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from core.audit import Actor
from core.demo.messages import CALL_OUTCOMES, NOTES, text
from core.demo.people import DemoPerson
from core.services.appointments import book_appointment, change_status
from core.services.consent import record_consent
from core.services.interactions import log_interaction


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


_DATE_FORMATS = {"ru": "%d.%m.%Y", "uk": "%d.%m.%Y", "zh": "%Y-%m-%d", "ko": "%Y-%m-%d"}
_SYSTEM = Actor.system("demo")


class Story:
    """Writes one patient's history with the core services, in the caller's transaction."""

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
        self.marketing: dict[str, tuple[dt.datetime, dt.datetime]] = {}
        self._keep: list[object] = []

    # -- helpers -------------------------------------------------------------

    def _agent(self) -> Actor:
        return self.rng.choice(self.refs.staff["agent"])

    def _crm(self) -> Actor:
        return self.rng.choice(self.refs.staff["crm_staff"])

    def _between(self, start: dt.datetime, end: dt.datetime) -> dt.datetime:
        if end <= start:
            return start
        seconds = int((end - start).total_seconds())
        return start + dt.timedelta(seconds=self.rng.randint(0, seconds))

    def _slot(self, day: dt.date) -> dt.datetime:
        """A clinic-hours slot (08:00-16:30, 15-minute grid, Monday-Saturday) on or after *day*."""
        while day.weekday() == 6:
            day += dt.timedelta(days=1)
        minutes = 8 * 60 + 15 * self.rng.randint(0, 34)
        local = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), self.refs.clinic_tz)
        return local.astimezone(dt.UTC)

    def _fill(self, key: str, doctor: str = "", when: dt.datetime | None = None) -> tuple[str, str]:
        local = (when or self.refs.now).astimezone(self.tz)
        return text(
            key,
            self.lang,
            name=self.name,
            doctor=doctor,
            date=local.strftime(_DATE_FORMATS.get(self.lang, "%d/%m/%Y")),
            time=local.strftime("%H:%M"),
        )

    def _message_channel(self) -> str:
        if self.person.has_whatsapp:
            return "whatsapp"
        return "sms"

    def _log(self, actor: Actor, **kwargs: object) -> int:
        interaction = log_interaction(self.session, self.patient_id, actor=actor, **kwargs)  # type: ignore[arg-type]
        return interaction.id

    # -- consent ---------------------------------------------------------------

    def consents(self) -> None:
        """Care consent at registration; marketing for some, withdrawn later by a few."""
        rng, reg = self.rng, self.person.registered_at
        channels = ["phone", "sms"]
        if self.person.has_whatsapp:
            channels.append("whatsapp")
        if self.person.has_email:
            channels.append("email")
        imported = rng.random() < 0.3
        for channel in channels:
            self._consent(
                channel,
                "care",
                "granted",
                "import" if imported else "form",
                "Imported from the previous patient system"
                if imported
                else "Registration form signed at the front desk",
                reg,
            )
        if rng.random() < 0.04:
            self._consent(
                "sms",
                "care",
                "withdrawn",
                "staff",
                "Asked at reception to stop SMS",
                self._between(reg, self.refs.now),
            )
        for channel in channels[1:]:
            if rng.random() >= 0.45:
                continue
            granted_at = reg + dt.timedelta(days=rng.randint(0, 30), minutes=rng.randint(1, 600))
            granted_at = min(granted_at, self.refs.now - dt.timedelta(hours=1))
            keyword = channel in ("sms", "whatsapp") and rng.random() < 0.5
            self._consent(
                channel,
                "marketing",
                "granted",
                "reply_keyword" if keyword else "form",
                "Replied YES to the opt-in message" if keyword else "Ticked the newsletter box",
                granted_at,
            )
            until = self.refs.now
            if rng.random() < 0.25:
                until = self._between(granted_at, self.refs.now)
                method = {"email": "provider"}.get(channel, "reply_keyword")
                evidence = "Unsubscribe link" if channel == "email" else "Replied STOP"
                self._consent(channel, "marketing", "withdrawn", method, evidence, until)
            self.marketing[channel] = (granted_at, until)

    def _consent(
        self,
        channel: str,
        purpose: str,
        status: str,
        method: str,
        evidence: str,
        when: dt.datetime,
    ) -> None:
        actor = self._crm() if method in ("form", "staff") else _SYSTEM
        record_consent(
            self.session,
            self.patient_id,
            channel,
            purpose,
            status,
            method,
            actor,
            evidence=evidence,
            occurred_at=when,
        )

    # -- first touch ---------------------------------------------------------------

    def first_touch(self) -> None:
        """The inbound contact that brought the patient, tagged with its lead source."""
        source = self.person.data.lead_source or "walk_in"
        when = self.person.registered_at - dt.timedelta(minutes=self.rng.randint(5, 600))
        subject, body = self._fill("booking_request")
        if source in ("whatsapp_click", "instagram", "facebook", "tiktok"):
            channel = "whatsapp" if source == "whatsapp_click" else "chat"
            self._log(
                _SYSTEM,
                channel=channel,
                direction="inbound",
                kind="message",
                subject=subject,
                body=body,
                started_at=when,
                lead_source=source,
            )
        elif source in ("google_ads", "referral", "hotel_concierge", "insurance_partner"):
            outcome = "booked_appointment" if self.rng.random() < 0.7 else "information_given"
            self._log(
                self._agent(),
                channel="phone",
                direction="inbound",
                kind="call",
                subject=source.replace("_", " "),
                outcome=outcome,
                started_at=when,
                duration_seconds=self.rng.randint(90, 420),
                lead_source=source,
            )
        elif source == "website":
            self._log(
                _SYSTEM,
                channel="web",
                direction="inbound",
                kind="message",
                subject=subject,
                body=body,
                started_at=when,
                lead_source=source,
            )

    # -- appointments ----------------------------------------------------------------

    def appointments(self) -> None:
        """Past visits (completed, no-show, cancelled) and the next weeks' bookings."""
        if self.person.data.is_lead:
            if self.rng.random() < 0.3:
                self._upcoming()
            return
        rng = self.rng
        count = rng.choices((1, 2, 3, 4, 5, 6), weights=(25, 25, 20, 14, 9, 7))[0]
        start_day = self.person.registered_at.date()
        span = (self.refs.now.date() - start_day).days - 1
        days = sorted(rng.randint(0, max(span, 0)) for _ in range(count))
        for offset in days:
            start = self._slot(start_day + dt.timedelta(days=offset))
            if start >= self.refs.now - dt.timedelta(hours=3):
                continue
            roll = rng.random()
            status = "completed" if roll < 0.75 else ("no_show" if roll < 0.86 else "cancelled")
            self._past_visit(start, status)
        if rng.random() < 0.35:
            self._upcoming()

    def _book(
        self, start: dt.datetime, department: str | None = None
    ) -> tuple[int, DoctorRef, ServiceRef]:
        rng = self.rng
        department = department or (
            self.person.department if rng.random() < 0.75 else rng.choice(list(self.refs.doctors))
        )
        if (
            self.person.data.birth_date
            and (self.refs.now.date() - self.person.data.birth_date).days < 18 * 365
        ):
            department = "paediatrics" if department != "dentistry" else department
        doctor = self.refs.doctor_for(rng, department, self.lang)
        services = self.refs.services[department]
        service = services[0] if rng.random() < 0.55 else rng.choice(services)
        channel = rng.choice(("phone", "whatsapp", "web", "in_person", "phone", "whatsapp"))
        appointment = book_appointment(
            self.session,
            self.patient_id,
            scheduled_start=start,
            actor=self._agent(),
            doctor_id=doctor.id,
            service_id=service.id,
            booking_channel=channel,
        )
        self._keep.append(appointment)  # the session's identity map holds objects weakly
        appointment.created_at = start - dt.timedelta(
            days=rng.randint(1, 14), hours=rng.randint(0, 8)
        )
        return appointment.id, doctor, service

    def _past_visit(self, start: dt.datetime, status: str) -> None:
        rng = self.rng
        appointment_id, doctor, service = self._book(start)
        reminder_at = start - dt.timedelta(days=1, hours=rng.randint(0, 4))
        subject, body = self._fill("reminder", doctor.name, start)
        self._log(
            _SYSTEM,
            channel=self._message_channel(),
            direction="outbound",
            kind="message",
            subject=subject,
            body=body,
            started_at=reminder_at,
            appointment_id=appointment_id,
            provider_ref=f"demo-{uuid.UUID(int=rng.getrandbits(128)).hex[:20]}",
        )
        confirmed = rng.random() < 0.6
        if confirmed:
            reply_at = reminder_at + dt.timedelta(minutes=rng.randint(2, 240))
            subject, body = self._fill("confirm_reply")
            self._log(
                _SYSTEM,
                channel=self._message_channel(),
                direction="inbound",
                kind="message",
                subject=subject,
                body=body,
                started_at=reply_at,
                appointment_id=appointment_id,
            )
            change_status(self.session, appointment_id, "confirmed", _SYSTEM, at=reply_at)
        if status == "cancelled":
            at = start - dt.timedelta(hours=rng.randint(2, 30))
            change_status(self.session, appointment_id, "cancelled", self._agent(), at=at)
            return
        if status == "no_show":
            at = start + dt.timedelta(minutes=45)
            change_status(self.session, appointment_id, "no_show", self._agent(), at=at)
            if rng.random() < 0.6:
                self._call("outbound", at + dt.timedelta(hours=2), appointment_id)
            return
        arrived = start + dt.timedelta(minutes=rng.randint(-15, 25))
        finished = arrived + dt.timedelta(minutes=service.minutes + rng.randint(-5, 20))
        change_status(self.session, appointment_id, "arrived", self._crm(), at=arrived)
        change_status(
            self.session,
            appointment_id,
            "in_service",
            _SYSTEM,
            at=arrived + dt.timedelta(minutes=rng.randint(0, 30)),
        )
        extra = Decimal(rng.choice((0, 0, 0, 1, 2))) * service.price / Decimal(4)
        change_status(
            self.session,
            appointment_id,
            "completed",
            self._crm(),
            at=finished,
            amount_billed=(service.price + extra).quantize(Decimal("0.01")),
        )
        self._log(
            self._crm(),
            channel="in_person",
            direction="inbound",
            kind="visit",
            subject=service.name,
            started_at=arrived,
            ended_at=finished,
            appointment_id=appointment_id,
            outcome="completed",
        )
        if rng.random() < 0.5:
            self._log(
                self._crm(),
                channel="in_person",
                direction="internal",
                kind="consultation",
                subject=f"{service.name} — {doctor.name}",
                body=rng.choice(NOTES),
                started_at=arrived + dt.timedelta(minutes=5),
                appointment_id=appointment_id,
            )
        self._after_visit(finished, doctor, appointment_id)

    def _after_visit(self, finished: dt.datetime, doctor: DoctorRef, appointment_id: int) -> None:
        rng, now = self.rng, self.refs.now
        if rng.random() < 0.4:
            at = finished + dt.timedelta(days=2, hours=rng.randint(0, 6))
            if at < now:
                subject, body = self._fill("after_visit", doctor.name)
                self._log(
                    self._agent(),
                    channel=self._message_channel(),
                    direction="outbound",
                    kind="follow_up",
                    subject=subject,
                    body=body,
                    started_at=at,
                    appointment_id=appointment_id,
                )
        if rng.random() < 0.25:
            at = finished + dt.timedelta(days=1, hours=rng.randint(0, 6))
            if at < now:
                subject, body = self._fill("survey")
                channel = self._message_channel()
                self._log(
                    _SYSTEM,
                    channel=channel,
                    direction="outbound",
                    kind="survey",
                    subject=subject,
                    body=body,
                    started_at=at,
                    appointment_id=appointment_id,
                )
                if rng.random() < 0.5 and at + dt.timedelta(hours=3) < now:
                    score = str(
                        rng.choices(range(11), weights=(1, 1, 1, 1, 2, 3, 4, 8, 14, 16, 12))[0]
                    )
                    self._log(
                        _SYSTEM,
                        channel=channel,
                        direction="inbound",
                        kind="survey",
                        subject=subject,
                        body=score,
                        outcome=f"nps:{score}",
                        started_at=at + dt.timedelta(minutes=rng.randint(3, 170)),
                        appointment_id=appointment_id,
                    )
        if self.person.has_email and rng.random() < 0.2:
            at = finished + dt.timedelta(days=rng.randint(1, 4))
            if at < now:
                subject, body = self._fill("results", doctor.name)
                self._log(
                    _SYSTEM,
                    channel="email",
                    direction="outbound",
                    kind="message",
                    subject=subject,
                    body=body,
                    started_at=at,
                    appointment_id=appointment_id,
                )

    def _upcoming(self) -> None:
        rng = self.rng
        day = (self.refs.now + dt.timedelta(days=rng.randint(1, 28))).date()
        appointment_id, _, _ = self._book(self._slot(day))
        if rng.random() < 0.5:
            change_status(self.session, appointment_id, "confirmed", self._agent())

    # -- other interactions ------------------------------------------------------------

    def _call(self, direction: str, when: dt.datetime, appointment_id: int | None = None) -> None:
        rng = self.rng
        outcome = rng.choices(list(CALL_OUTCOMES), weights=[w for w, _ in CALL_OUTCOMES.values()])[
            0
        ]
        low, high = CALL_OUTCOMES[outcome][1]
        duration = rng.randint(low, high)
        recording = None
        if duration > 60 and rng.random() < 0.3:
            recording = (
                f"https://recordings.example/calls/{uuid.UUID(int=rng.getrandbits(128))}.mp3"
            )
        self._log(
            self._agent(),
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

    def other_interactions(self) -> None:
        """Calls, promotions, complaints, suggestions and notes spread over the history."""
        rng, reg, now = self.rng, self.person.registered_at, self.refs.now
        for _ in range(rng.choices((0, 1, 2, 3), weights=(30, 35, 25, 10))[0]):
            self._call(rng.choice(("inbound", "outbound")), self._between(reg, now))
        for channel, (granted, until) in self.marketing.items():
            if channel == "phone":
                continue
            for _ in range(rng.randint(0, 3)):
                at = self._between(granted, until)
                subject, body = self._fill("promo")
                self._log(
                    _SYSTEM,
                    channel=channel,
                    direction="outbound",
                    kind="message",
                    subject=subject,
                    body=body,
                    started_at=at,
                )
        if rng.random() < 0.06:
            key = rng.choice(("complaint_wait", "complaint_bill"))
            subject, body = self._fill(key)
            self._log(
                self._crm(),
                channel=rng.choice(("in_person", "phone", "email", "whatsapp")),
                direction="inbound",
                kind="complaint",
                subject=subject,
                body=body,
                outcome=rng.choice(("resolved", "resolved", "open", "escalated")),
                started_at=self._between(reg, now),
            )
        if rng.random() < 0.05:
            subject, body = self._fill(rng.choice(("suggestion_booking", "suggestion_language")))
            self._log(
                self._crm(),
                channel=rng.choice(("web", "email", "in_person")),
                direction="inbound",
                kind="suggestion",
                subject=subject,
                body=body,
                started_at=self._between(reg, now),
            )
        if rng.random() < 0.15:
            self._log(
                self._crm(),
                channel="in_person",
                direction="internal",
                kind="note",
                subject="Note",
                body=rng.choice(NOTES),
                started_at=self._between(reg, now),
            )

    def tell(self) -> None:
        """Write the whole story."""
        self.consents()
        self.first_touch()
        self.appointments()
        self.other_interactions()
