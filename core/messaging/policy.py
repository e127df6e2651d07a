"""The sending policy: may this patient get this message on this channel, and when?

The rules are pure functions over :class:`Recipient` facts, so they can be
tested exhaustively; :func:`recipient_facts` gathers those facts from the
database in a handful of queries.  The outbox actor calls :func:`decide` right
before every send (consent may have been withdrawn since the row was queued).

Rules, in order:

1. an archived or merged patient gets nothing;
2. marketing respects the frequency cap (``CARELOOP_MARKETING_CAP``, e.g. ``3/7d``);
3. the first channel of the fallback order (the patient's own preferred
   channels first, when the message allows them; see :func:`channel_order`)
   that is available, for which the patient has an address and a *current
   grant* for the message's purpose (a withdrawal is an opt-out), and — for
   WhatsApp outside the 24-hour customer-service window — an approved
   provider template;
4. quiet hours (``CARELOOP_QUIET_HOURS``) in the patient's time zone defer the
   message to their end; nothing is ever dropped for quiet hours.

A refusal is a :class:`Decision` with ``action="suppress"`` and a reason code
(see :data:`REASONS`); the actor records it on the row.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ConfigurationError
from core.i18n import lazy_gettext

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.config import Config

#: WhatsApp lets a business answer freely for 24 hours after the patient's last message.
WHATSAPP_WINDOW = dt.timedelta(hours=24)
CHANNEL_MODES = ("console", "live")
_OFF = {"", "off", "none", "0", "no"}

#: Reason codes stored in ``status_reason`` (``code`` or ``code:detail``) and their labels.
REASONS = {
    "patient_inactive": lazy_gettext("the patient record is archived or merged"),
    "frequency_cap": lazy_gettext("marketing frequency cap reached"),
    "no_channel": lazy_gettext("no channel is possible for this patient"),
    "no_consent": lazy_gettext("no consent for this channel and purpose"),
    "opted_out": lazy_gettext("the patient opted out"),
    "no_address": lazy_gettext("no address for this channel"),
    "channel_unavailable": lazy_gettext("the channel is not enabled"),
    "whatsapp_window": lazy_gettext("outside WhatsApp's 24-hour window and no approved template"),
    "quiet_hours": lazy_gettext("deferred: quiet hours"),
}


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    """A daily window (local time) in which nothing is sent; may cross midnight."""

    start: dt.time
    end: dt.time

    def contains(self, local: dt.time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def end_after(self, moment: dt.datetime, tz: ZoneInfo) -> dt.datetime | None:
        """When the window containing *moment* ends (UTC), or ``None`` outside it."""
        local = moment.astimezone(tz)
        if not self.contains(local.time().replace(tzinfo=None)):
            return None
        day = local.date()
        if self.start > self.end and local.time().replace(tzinfo=None) >= self.start:
            day += dt.timedelta(days=1)
        # wall-clock end in the zone; fold=0 and a DST gap both resolve to a real instant
        end_local = dt.datetime.combine(day, self.end, tzinfo=tz)
        end_utc = end_local.astimezone(dt.UTC)
        return max(end_utc, moment.astimezone(dt.UTC))


@dataclass(frozen=True)
class FrequencyCap:
    """At most ``count`` marketing messages per patient in ``period``."""

    count: int
    period: dt.timedelta


def _parse_clock(text: str) -> dt.time:
    hours, _, minutes = text.strip().partition(":")
    return dt.time(int(hours), int(minutes or 0))


def parse_quiet_hours(text: str) -> QuietHours | None:
    """``"21:00-08:00"`` -> :class:`QuietHours`; ``off``/``none`` -> ``None``."""
    if text.strip().lower() in _OFF:
        return None
    try:
        start, end = text.split("-")
        return QuietHours(_parse_clock(start), _parse_clock(end))
    except ValueError as exc:
        raise ConfigurationError(
            f"CARELOOP_QUIET_HOURS={text!r} must look like 21:00-08:00 (or off)"
        ) from exc


_CAP = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*([dh])\s*$")


def parse_frequency_cap(text: str) -> FrequencyCap | None:
    """``"3/7d"`` (or ``"2/24h"``) -> :class:`FrequencyCap`; ``off`` -> ``None``."""
    if text.strip().lower() in _OFF:
        return None
    match = _CAP.match(text)
    if not match:
        raise ConfigurationError(f"CARELOOP_MARKETING_CAP={text!r} must look like 3/7d (or off)")
    count, amount, unit = int(match[1]), int(match[2]), match[3]
    period = dt.timedelta(days=amount) if unit == "d" else dt.timedelta(hours=amount)
    return FrequencyCap(count, period)


def validate_settings(config: Config) -> None:
    """Check the messaging settings of *config* (called by ``Config.validate``)."""
    if config.channel_mode not in CHANNEL_MODES:
        raise ConfigurationError(
            f"CARELOOP_CHANNEL_MODE={config.channel_mode!r} must be console or live"
        )
    parse_quiet_hours(config.quiet_hours)
    parse_frequency_cap(config.marketing_cap)
    if config.send_max_attempts < 1:
        raise ConfigurationError("CARELOOP_SEND_MAX_ATTEMPTS must be at least 1")
    if config.worker_prefetch < 1:
        raise ConfigurationError("CARELOOP_WORKER_PREFETCH must be at least 1")


def zone(name: str | None, default: str) -> ZoneInfo:
    """The patient's time zone, or the clinic's when unset or unknown."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


# ---------------------------------------------------------------------------
# Facts and decisions
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """What the policy needs to know about a patient, read once per decision."""

    patient_id: int
    active: bool = True
    time_zone: str | None = None
    #: contact kind -> the primary address of that kind
    addresses: Mapping[str, str] = field(default_factory=dict)
    #: (channel, purpose) -> latest consent status (``granted``/``withdrawn``)
    consents: Mapping[tuple[str, str], str] = field(default_factory=dict)
    last_inbound_whatsapp: dt.datetime | None = None
    #: send times of recent accepted marketing messages (inside the cap period)
    recent_marketing: tuple[dt.datetime, ...] = ()
    #: the patient's own order of channels (``Patient.preferred_channels``)
    preferred_channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one message at one moment."""

    action: Literal["send", "defer", "suppress"]
    channel: str | None = None
    address: str | None = None
    reason: str | None = None
    until: dt.datetime | None = None
    #: WhatsApp outside the 24-hour window: send the approved template, not free text
    template_only: bool = False


def address_for(recipient: Recipient, contact_kind: str) -> str | None:
    """The patient's address for a channel's contact kind (WhatsApp falls back to phone)."""
    address = recipient.addresses.get(contact_kind)
    if address is None and contact_kind == "whatsapp":
        address = recipient.addresses.get("phone")
    return address


def in_whatsapp_window(recipient: Recipient, now: dt.datetime) -> bool:
    """True when the patient wrote to us on WhatsApp less than 24 hours ago."""
    last = recipient.last_inbound_whatsapp
    return last is not None and now - last < WHATSAPP_WINDOW


def channel_order(allowed: Iterable[str], preferred: Iterable[str]) -> list[str]:
    """The order to try channels in: the patient's preferred ones first, then the rest.

    *allowed* is the message's (or campaign's) fallback order and decides
    which channels may carry it at all; a preferred channel it does not list is
    ignored, and the allowed channels the patient did not name keep their order.
    """
    allowed = list(dict.fromkeys(allowed))
    first = [channel for channel in dict.fromkeys(preferred) if channel in allowed]
    return first + [channel for channel in allowed if channel not in first]


def channel_refusal(
    recipient: Recipient,
    channel: str,
    purpose: str,
    now: dt.datetime,
    *,
    contact_kinds: Mapping[str, str],
    approved_template_channels: Collection[str] = (),
) -> str | None:
    """Why *channel* cannot carry this message (a reason code), or ``None`` if it can."""
    if channel not in contact_kinds:
        return "channel_unavailable"
    consent = recipient.consents.get((channel, purpose))
    if consent == "withdrawn":
        return "opted_out"
    if consent != "granted":
        return "no_consent"
    if address_for(recipient, contact_kinds[channel]) is None:
        return "no_address"
    if (
        channel == "whatsapp"
        and not in_whatsapp_window(recipient, now)
        and channel not in approved_template_channels
    ):
        return "whatsapp_window"
    return None


def decide(
    recipient: Recipient,
    *,
    purpose: str,
    channels: Iterable[str],
    now: dt.datetime,
    contact_kinds: Mapping[str, str],
    quiet_hours: QuietHours | None = None,
    cap: FrequencyCap | None = None,
    default_zone: str = "UTC",
    approved_template_channels: Collection[str] = (),
) -> Decision:
    """Apply every rule; see the module docstring for their order.

    :param contact_kinds: available channel name -> the contact kind it sends to.
    :param approved_template_channels: channels where the message has a
        provider-approved template (matters for WhatsApp's 24-hour window).
    """
    if not recipient.active:
        return Decision("suppress", reason="patient_inactive")
    if purpose == "marketing" and cap is not None:
        recent = [t for t in recipient.recent_marketing if now - t < cap.period]
        if len(recent) >= cap.count:
            return Decision("suppress", reason="frequency_cap")
    refusals: list[str] = []
    for channel in channel_order(channels, recipient.preferred_channels):
        refusal = channel_refusal(
            recipient,
            channel,
            purpose,
            now,
            contact_kinds=contact_kinds,
            approved_template_channels=approved_template_channels,
        )
        if refusal is not None:
            refusals.append(f"{channel}={refusal}")
            continue
        address = address_for(recipient, contact_kinds[channel])
        template_only = channel == "whatsapp" and not in_whatsapp_window(recipient, now)
        if quiet_hours is not None:
            until = quiet_hours.end_after(now, zone(recipient.time_zone, default_zone))
            if until is not None:
                return Decision("defer", channel, address, "quiet_hours", until, template_only)
        return Decision("send", channel, address, template_only=template_only)
    detail = ",".join(refusals) or "none"
    return Decision("suppress", reason=f"no_channel:{detail}"[:500])


def reason_label(reason: str | None) -> str:
    """A person-readable (translated) label for a stored reason code."""
    if not reason:
        return ""
    code, _, detail = reason.partition(":")
    label = REASONS.get(code)
    if label is None:
        return reason
    if code == "no_channel" and detail:
        parts = []
        for item in detail.split(","):
            channel, _, why = item.partition("=")
            parts.append(f"{channel}: {REASONS[why]}" if why in REASONS else item)
        detail = "; ".join(parts)
    return f"{label} ({detail})" if detail else str(label)


# ---------------------------------------------------------------------------
# Reading the facts
# ---------------------------------------------------------------------------


def recipient_facts(
    session: Session,
    patient_id: int,
    *,
    purpose: str,
    now: dt.datetime,
    cap: FrequencyCap | None = None,
    patient: Any = None,
) -> Recipient:
    """Read what :func:`decide` needs about one patient (see :func:`recipients_facts`)."""
    from core.models import Patient

    if patient is None:
        patient = session.get(Patient, patient_id)
    if patient is None:
        return Recipient(patient_id, active=False)
    facts = recipients_facts(session, {patient_id: patient}, {purpose}, now=now, cap=cap)
    return facts[(patient_id, purpose)]


def recipients_facts(
    session: Session,
    patients: Mapping[int, Any],
    purposes: Collection[str],
    *,
    now: dt.datetime,
    cap: FrequencyCap | None = None,
) -> dict[tuple[int, str], Recipient]:
    """The facts for many (already loaded) patients and purposes in one round trip.

    Contact points, consent events, the last inbound WhatsApp message and (for
    marketing under a cap) recent accepted marketing sends come back from one
    ``UNION ALL``.

    :returns: (patient id, purpose) -> :class:`Recipient` for every pair.
    """
    from sqlalchemy import String, cast, func, literal, null, select, union_all

    from core.db import UTCDateTime
    from core.models import ConsentEvent, ContactPoint, Interaction, OutboundMessage
    from core.models.outbox import ACCEPTED_STATUSES

    ids = list(patients)
    text, stamp = String(), UTCDateTime()
    parts = [
        select(
            literal("c", text),
            ContactPoint.patient_id,
            ContactPoint.kind,
            ContactPoint.value,
            cast(null(), stamp),
            ContactPoint.id,
            ContactPoint.is_primary,
        ).where(ContactPoint.patient_id.in_(ids)),
        select(
            literal("k", text),
            ConsentEvent.patient_id,
            ConsentEvent.channel,
            ConsentEvent.status,
            ConsentEvent.occurred_at,
            ConsentEvent.id,
            ConsentEvent.purpose == "marketing",
        ).where(ConsentEvent.patient_id.in_(ids), ConsentEvent.purpose.in_(list(purposes))),
        select(
            literal("w", text),
            Interaction.patient_id,
            cast(null(), text),
            cast(null(), text),
            func.max(Interaction.started_at),
            literal(0),
            literal(False),
        )
        .where(
            Interaction.patient_id.in_(ids),
            Interaction.channel == "whatsapp",
            Interaction.direction == "inbound",
        )
        .group_by(Interaction.patient_id),
    ]
    if "marketing" in purposes and cap is not None:
        parts.append(
            select(
                literal("m", text),
                OutboundMessage.patient_id,
                cast(null(), text),
                cast(null(), text),
                OutboundMessage.sent_at,
                OutboundMessage.id,
                literal(False),
            ).where(
                OutboundMessage.patient_id.in_(ids),
                OutboundMessage.purpose == "marketing",
                OutboundMessage.status.in_(list(ACCEPTED_STATUSES)),
                OutboundMessage.sent_at >= now - cap.period,
            )
        )
    contacts: dict[int, list[tuple[bool, int, str, str]]] = {pid: [] for pid in ids}
    consent_rows: dict[int, list[tuple[dt.datetime, int, str, str, str]]] = {pid: [] for pid in ids}
    last_wa: dict[int, dt.datetime] = {}
    recent: dict[int, list[dt.datetime]] = {pid: [] for pid in ids}
    for tag, pid, name, value, when, row_id, flag in session.execute(union_all(*parts)):
        if tag == "c":
            contacts[pid].append((not flag, row_id, name, value))
        elif tag == "k":
            consent_rows[pid].append((when, row_id, name, "marketing" if flag else "care", value))
        elif tag == "w":
            if when is not None:
                last_wa[pid] = when
        elif when is not None:
            recent[pid].append(when)
    out: dict[tuple[int, str], Recipient] = {}
    for pid, patient in patients.items():
        addresses: dict[str, str] = {}
        for _secondary, _id, kind, value in sorted(contacts[pid]):
            addresses.setdefault(kind, value)
        consents: dict[tuple[str, str], str] = {}
        for _when, _id, channel, purp, status in sorted(consent_rows[pid]):
            consents[(channel, purp)] = status  # latest by occurred_at, then id, wins
        for purpose in purposes:
            out[(pid, purpose)] = Recipient(
                pid,
                active=patient.archived_at is None and patient.merged_into_id is None,
                time_zone=patient.time_zone,
                addresses=addresses,
                consents={k: v for k, v in consents.items() if k[1] == purpose},
                last_inbound_whatsapp=last_wa.get(pid),
                recent_marketing=tuple(recent[pid]) if purpose == "marketing" else (),
                preferred_channels=tuple(
                    filter(None, (patient.preferred_channels or "").split(","))
                ),
            )
    return out
