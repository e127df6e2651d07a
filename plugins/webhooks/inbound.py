"""Inbound replies (WhatsApp, SMS): patient lookup, lead creation, interaction, opt-out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core import keywords
from core.audit import Actor
from core.config import config_of
from core.errors import InvalidPhoneNumber
from core.identity import normalize_phone
from core.models.enums import ConsentMethod, ConsentPurpose, ConsentStatus, ContactKind
from core.services import consent, interactions, patients


@dataclass(frozen=True)
class InboundMessage:
    """A reply as a provider reported it, before we know the patient."""

    channel: str  #: ``whatsapp`` or ``sms``
    phone: str  #: sender number as the provider wrote it (often digits without ``+``)
    text: str | None
    provider_ref: str
    received_at: dt.datetime
    contact_name: str | None = None
    #: first-touch source for a new lead (e.g. a click-to-WhatsApp ad)
    lead_source: str | None = None


@dataclass(frozen=True)
class InboundResult:
    """What receiving the reply did."""

    patient_ids: tuple[int, ...]
    interaction_id: int
    created_lead: bool
    #: consent was withdrawn by this reply: one confirmation is due
    opted_out: bool
    #: consent withdrawn by an earlier keyword reply was granted again
    opted_in: bool = False


def provider_phone(raw: str) -> str:
    """Provider numbers come as bare international digits: make them E.164-parsable."""
    raw = raw.strip()
    return "+" + raw if raw.isdigit() else raw


def _contact_kind(channel: str) -> str:
    return ContactKind.WHATSAPP.value if channel == "whatsapp" else ContactKind.PHONE.value


def resolve_sender(
    session: Session, message: InboundMessage, actor: Actor
) -> tuple[list[int], bool]:
    """Patients with the sender's number, or a new lead; ``(ids, created)``.

    Raises :class:`InvalidPhoneNumber` when the number cannot be parsed.
    """
    phone = normalize_phone(provider_phone(message.phone))
    matches = patients.find_by_phone(session, phone)
    if matches:
        return [m.id for m in matches], False
    kind = _contact_kind(message.channel)
    data = patients.PatientInput(
        display_name=(message.contact_name or "").strip()[:200] or phone,
        is_lead=True,
        lead_source=message.lead_source or message.channel,
        phones=[phone] if kind == ContactKind.PHONE else [],
        whatsapp=[phone] if kind == ContactKind.WHATSAPP else [],
    )
    lead = patients.create_patient(session, data, actor)
    return [lead.id], True


def withdraw_consent(
    session: Session,
    patient_ids: list[int],
    channel: str,
    purposes: tuple[str, ...],
    actor: Actor,
    *,
    method: str,
    evidence: str,
) -> int:
    """Withdraw *channel* for each purpose not already withdrawn; returns how many changed."""
    changed = 0
    for patient_id in patient_ids:
        state = consent.current_consent(session, patient_id)
        for purpose in purposes:
            current = state.get((channel, purpose))
            if current is not None and current.status == ConsentStatus.WITHDRAWN:
                continue
            consent.withdraw(
                session, patient_id, channel, purpose, actor, method=method, evidence=evidence
            )
            changed += 1
    return changed


ALL_PURPOSES = tuple(p.value for p in ConsentPurpose)


def withdraw_channel(session: Session, patient_ids: list[int], channel: str, actor: Actor) -> bool:
    """An opt-out reply: withdraw every purpose of *channel*; True if anything changed."""
    return bool(
        withdraw_consent(
            session,
            patient_ids,
            channel,
            ALL_PURPOSES,
            actor,
            method=ConsentMethod.REPLY_KEYWORD.value,
            evidence="opt-out keyword reply",
        )
    )


def regrant_channel(session: Session, patient_ids: list[int], channel: str, actor: Actor) -> bool:
    """An opt-in reply (START): grant again what an earlier keyword reply withdrew.

    Only withdrawals made by a reply keyword are undone; a bounce, a complaint
    or a withdrawal recorded by staff stays.
    """
    changed = False
    for patient_id in patient_ids:
        for (ch, purpose), state in consent.current_consent(session, patient_id).items():
            if (
                ch == channel
                and state.status == ConsentStatus.WITHDRAWN
                and state.method == ConsentMethod.REPLY_KEYWORD
            ):
                consent.grant(
                    session,
                    patient_id,
                    channel,
                    purpose,
                    actor,
                    method=ConsentMethod.REPLY_KEYWORD.value,
                    evidence="opt-in keyword reply",
                )
                changed = True
    return changed


def reply_intent(session: Session, text: str | None) -> str | None:
    """``opt_out``, ``opt_in`` or ``None`` for a reply, using core's keyword table
    (``core.keywords``: per-language words, ``CARELOOP_KEYWORDS_FILE`` and
    ``CARELOOP_SMS_OPTOUT_KEYWORDS``)."""
    if not text:
        return None
    found = keywords.keywords_for(config_of(session)).match(text)
    if found is None or found.intent not in (keywords.OPT_OUT, keywords.OPT_IN):
        return None
    return found.intent


def receive(session: Session, message: InboundMessage, actor: Actor) -> InboundResult:
    """Log the reply on the sender's record (the oldest match) and honour opt-out/opt-in.

    An opt-out keyword withdraws the channel's consent for **every** patient
    sharing that number; an opt-in keyword undoes an earlier keyword opt-out.
    """
    patient_ids, created = resolve_sender(session, message, actor)
    interaction = interactions.log_interaction(
        session,
        patient_ids[0],
        channel=message.channel,
        direction="inbound",
        kind="message",
        actor=actor,
        body=message.text,
        started_at=message.received_at,
        provider_ref=message.provider_ref[:200],
        lead_source=message.lead_source,
    )
    intent = reply_intent(session, message.text)
    opted_out = intent == keywords.OPT_OUT and withdraw_channel(
        session, patient_ids, message.channel, actor
    )
    opted_in = intent == keywords.OPT_IN and regrant_channel(
        session, patient_ids, message.channel, actor
    )
    return InboundResult(tuple(patient_ids), interaction.id, created, opted_out, opted_in)


def confirm_optout(session: Session, result: InboundResult, channel: str, phone: str) -> None:
    """Queue the single confirmation for an opt-out reply (see ``confirmations``)."""
    from plugins.webhooks.confirmations import queue_confirmation

    e164 = normalize_phone(provider_phone(phone))
    queue_confirmation(session, result.patient_ids[0], channel, e164, result.interaction_id)


def handle_reply(session: Session, reply: InboundMessage, actor: Actor) -> str:
    """Receive *reply* and queue the opt-out confirmation when due; an outcome label."""
    try:
        result = receive(session, reply, actor)
    except InvalidPhoneNumber:
        return "ignored: unparsable sender number"
    if result.opted_out:
        confirm_optout(session, result, reply.channel, reply.phone)
        return "opted out"
    if result.opted_in:
        return "opted in"
    return "lead created" if result.created_lead else "logged"
