"""A demo patient's whole story: consents, first touch, visits and other interactions."""

from __future__ import annotations

import datetime as dt

from core.demo.messages import NOTES
from core.demo.story import SYSTEM, ClinicRefs, DoctorRef, ServiceRef
from core.demo.visits import Visits
from core.services.consent import record_consent

__all__ = ["ClinicRefs", "DoctorRef", "ServiceRef", "Story"]

_SOCIAL = {"whatsapp_click": "whatsapp", "instagram": "chat", "facebook": "chat", "tiktok": "chat"}
_BY_PHONE = ("google_ads", "referral", "hotel_concierge", "insurance_partner")


class Story(Visits):
    """Writes one patient's history with the core services, in the caller's transaction."""

    def tell(self) -> None:
        """Write the whole story."""
        self.consents()
        self.first_touch()
        self.appointments()
        self.other_interactions()
        self.write_interactions()

    # -- consent -------------------------------------------------------------------

    def consents(self) -> None:
        """Care consent at registration; marketing for some, withdrawn later by a few."""
        rng, registered, now = self.rng, self.person.registered_at, self.refs.now
        channels = ["phone", "sms"]
        if self.person.has_whatsapp:
            channels.append("whatsapp")
        if self.person.has_email:
            channels.append("email")
        imported = rng.random() < 0.3
        method = "import" if imported else "form"
        evidence = (
            "Imported from the previous patient system"
            if imported
            else "Registration form signed at the front desk"
        )
        for channel in channels:
            self.consent(channel, "care", "granted", method, evidence, registered)
        if rng.random() < 0.04:
            when = self.between(registered, now)
            self.consent("sms", "care", "withdrawn", "staff", "Asked to stop SMS", when)
        for channel in channels[1:]:
            if rng.random() >= 0.45:
                continue
            granted = registered + dt.timedelta(
                days=rng.randint(0, 30), minutes=rng.randint(1, 600)
            )
            granted = min(granted, now - dt.timedelta(hours=1))
            if channel in ("sms", "whatsapp") and rng.random() < 0.5:
                self.consent(
                    channel, "marketing", "granted", "reply_keyword", "Replied YES", granted
                )
            else:
                self.consent(channel, "marketing", "granted", "form", "Newsletter box", granted)
            until = now
            if rng.random() < 0.25:
                until = self.between(granted, now)
                if channel == "email":
                    self.consent(
                        channel, "marketing", "withdrawn", "provider", "Unsubscribe", until
                    )
                else:
                    self.consent(channel, "marketing", "withdrawn", "reply_keyword", "STOP", until)
            self.marketing[channel] = (granted, until)

    def consent(
        self, channel: str, purpose: str, status: str, method: str, evidence: str, when: dt.datetime
    ) -> None:
        actor = self.crm() if method in ("form", "staff") else SYSTEM
        record_consent(
            self.session, self.patient_id, channel, purpose, status, method, actor,
            evidence=evidence, occurred_at=when,
        )  # fmt: skip

    # -- first touch and the rest ------------------------------------------------------

    def first_touch(self) -> None:
        """The inbound contact that brought the patient, tagged with its lead source."""
        source = self.person.data.lead_source or "walk_in"
        when = self.person.registered_at - dt.timedelta(minutes=self.rng.randint(5, 600))
        if source in _SOCIAL or source == "website":
            channel = _SOCIAL.get(source, "web")
            self.say(
                "booking_request", when, channel=channel, direction="inbound", lead_source=source
            )
        elif source in _BY_PHONE:
            outcome = "booked_appointment" if self.rng.random() < 0.7 else "information_given"
            self.log(
                self.agent(), channel="phone", direction="inbound", kind="call",
                subject=source.replace("_", " "), outcome=outcome, started_at=when,
                duration_seconds=self.rng.randint(90, 420), lead_source=source,
            )  # fmt: skip

    def other_interactions(self) -> None:
        """Calls, promotions, complaints, suggestions and notes spread over the history."""
        rng, registered, now = self.rng, self.person.registered_at, self.refs.now
        for _ in range(rng.choices((0, 1, 2, 3), weights=(30, 35, 25, 10))[0]):
            self.call(rng.choice(("inbound", "outbound")), self.between(registered, now))
        for channel, (granted, until) in self.marketing.items():
            for _ in range(rng.randint(0, 3)):
                self.say(
                    "promo", self.between(granted, until), channel=channel, direction="outbound"
                )
        if rng.random() < 0.06:
            self.say(
                rng.choice(("complaint_wait", "complaint_bill")), self.between(registered, now),
                channel=rng.choice(("in_person", "phone", "email", "whatsapp")),
                direction="inbound", kind="complaint", actor=self.crm(),
                outcome=rng.choice(("resolved", "resolved", "open", "escalated")),
            )  # fmt: skip
        if rng.random() < 0.05:
            self.say(
                rng.choice(("suggestion_booking", "suggestion_language")),
                self.between(registered, now), channel=rng.choice(("web", "email", "in_person")),
                direction="inbound", kind="suggestion", actor=self.crm(),
            )  # fmt: skip
        if rng.random() < 0.15:
            self.log(
                self.crm(), channel="in_person", direction="internal", kind="note",
                subject="Note", body=rng.choice(NOTES), started_at=self.between(registered, now),
            )  # fmt: skip
