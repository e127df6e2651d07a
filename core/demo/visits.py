"""The appointment part of a demo story: past visits and the next weeks' bookings."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from core.demo.messages import NOTES
from core.demo.story import SYSTEM, DoctorRef, ServiceRef, StoryBase
from core.services.appointments import book_appointment, change_status

_ADULT_DAYS = 18 * 365


class Visits(StoryBase):
    """Books appointments and walks them through their statuses, with the messages around them."""

    def appointments(self) -> None:
        """Past visits (completed, no-show, cancelled) and the next weeks' bookings."""
        rng = self.rng
        if self.person.data.is_lead:
            if rng.random() < 0.3:
                self.upcoming()
            return
        count = rng.choices((1, 2, 3, 4, 5, 6), weights=(25, 25, 20, 14, 9, 7))[0]
        first_day = self.person.registered_at.date()
        span = max((self.refs.now.date() - first_day).days - 1, 0)
        for offset in sorted(rng.randint(0, span) for _ in range(count)):
            start = self.slot(first_day + dt.timedelta(days=offset))
            if start >= self.refs.now - dt.timedelta(hours=3):
                continue
            roll = rng.random()
            status = "completed" if roll < 0.75 else ("no_show" if roll < 0.86 else "cancelled")
            self.past_visit(start, status)
        if rng.random() < 0.35:
            self.upcoming()

    def book(self, start: dt.datetime) -> tuple[int, DoctorRef, ServiceRef]:
        rng = self.rng
        department = (
            self.person.department if rng.random() < 0.75 else rng.choice(list(self.refs.doctors))
        )
        birth = self.person.data.birth_date
        if (
            birth
            and (self.refs.now.date() - birth).days < _ADULT_DAYS
            and department != "dentistry"
        ):
            department = "paediatrics"
        doctor = self.refs.doctor_for(rng, department, self.lang)
        services = self.refs.services[department]
        service = services[0] if rng.random() < 0.55 else rng.choice(services)
        appointment = book_appointment(
            self.session,
            self.patient_id,
            scheduled_start=start,
            actor=self.agent(),
            doctor_id=doctor.id,
            service_id=service.id,
            booking_channel=rng.choice(("phone", "whatsapp", "web", "in_person", "phone")),
        )
        self.keep.append(appointment)
        appointment.created_at = start - dt.timedelta(
            days=rng.randint(1, 14), hours=rng.randint(0, 8)
        )
        return appointment.id, doctor, service

    def past_visit(self, start: dt.datetime, status: str) -> None:
        rng = self.rng
        appointment_id, doctor, service = self.book(start)
        channel = self.texting_channel()
        reminded = start - dt.timedelta(days=1, hours=rng.randint(0, 4))
        self.say(
            "reminder", reminded, channel=channel, direction="outbound", doctor=doctor.name,
            about=start, appointment_id=appointment_id,
            provider_ref=f"demo-{uuid.UUID(int=rng.getrandbits(128)).hex[:20]}",
        )  # fmt: skip
        if rng.random() < 0.6:
            replied = reminded + dt.timedelta(minutes=rng.randint(2, 240))
            self.say(
                "confirm_reply", replied, channel=channel, direction="inbound",
                appointment_id=appointment_id,
            )  # fmt: skip
            change_status(self.session, appointment_id, "confirmed", SYSTEM, at=replied)
        if status == "cancelled":
            at = start - dt.timedelta(hours=rng.randint(2, 20))
            change_status(self.session, appointment_id, "cancelled", self.agent(), at=at)
            return
        if status == "no_show":
            at = start + dt.timedelta(minutes=45)
            change_status(self.session, appointment_id, "no_show", self.agent(), at=at)
            if rng.random() < 0.6:
                self.call("outbound", at + dt.timedelta(hours=2), appointment_id)
            return
        arrived = start + dt.timedelta(minutes=rng.randint(-15, 25))
        seen = arrived + dt.timedelta(minutes=rng.randint(0, 30))
        finished = seen + dt.timedelta(minutes=service.minutes + rng.randint(-5, 20))
        extra = Decimal(rng.choice((0, 0, 0, 1, 2))) * service.price / Decimal(4)
        change_status(self.session, appointment_id, "arrived", self.crm(), at=arrived)
        change_status(self.session, appointment_id, "in_service", SYSTEM, at=seen)
        change_status(
            self.session, appointment_id, "completed", self.crm(), at=finished,
            amount_billed=(service.price + extra).quantize(Decimal("0.01")),
        )  # fmt: skip
        self.log(
            self.crm(), channel="in_person", direction="inbound", kind="visit",
            subject=service.name, started_at=arrived, ended_at=finished,
            appointment_id=appointment_id, outcome="completed",
        )  # fmt: skip
        if rng.random() < 0.5:
            self.log(
                self.crm(), channel="in_person", direction="internal", kind="consultation",
                subject=f"{service.name} — {doctor.name}", body=rng.choice(NOTES),
                started_at=seen, appointment_id=appointment_id,
            )  # fmt: skip
        self.after_visit(finished, doctor, appointment_id)

    def after_visit(self, finished: dt.datetime, doctor: DoctorRef, appointment_id: int) -> None:
        """A follow-up message, a satisfaction survey and the results e-mail, for some."""
        rng, now, channel = self.rng, self.refs.now, self.texting_channel()
        at = finished + dt.timedelta(days=2, hours=rng.randint(0, 6))
        if rng.random() < 0.4 and at < now:
            self.say(
                "after_visit", at, channel=channel, direction="outbound", kind="follow_up",
                actor=self.agent(), doctor=doctor.name, appointment_id=appointment_id,
            )  # fmt: skip
        at = finished + dt.timedelta(days=1, hours=rng.randint(0, 6))
        if rng.random() < 0.25 and at < now:
            self.say(
                "survey", at, channel=channel, direction="outbound", kind="survey",
                appointment_id=appointment_id,
            )  # fmt: skip
            answered = at + dt.timedelta(minutes=rng.randint(3, 170))
            if rng.random() < 0.5 and answered < now:
                weights = (1, 1, 1, 1, 2, 3, 4, 8, 14, 16, 12)
                score = str(rng.choices(range(11), weights=weights)[0])
                self.log(
                    SYSTEM, channel=channel, direction="inbound", kind="survey",
                    subject="NPS", body=score, outcome=f"nps:{score}", started_at=answered,
                    appointment_id=appointment_id,
                )  # fmt: skip
        at = finished + dt.timedelta(days=rng.randint(1, 4))
        if self.person.has_email and rng.random() < 0.2 and at < now:
            self.say(
                "results", at, channel="email", direction="outbound", doctor=doctor.name,
                appointment_id=appointment_id,
            )  # fmt: skip

    def upcoming(self) -> None:
        """A booking in the next four weeks, confirmed half the time."""
        rng = self.rng
        day = (self.refs.now + dt.timedelta(days=rng.randint(1, 28))).date()
        appointment_id, _, _ = self.book(self.slot(day))
        if rng.random() < 0.5:
            change_status(self.session, appointment_id, "confirmed", self.agent())
