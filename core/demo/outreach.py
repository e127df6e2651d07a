"""The demo's outbound messages: reminders and a small recall campaign, through the real outbox.

:func:`queue_outreach` seeds the default templates (six languages) and a demo
check-up recall template, then enqueues with :mod:`core.messaging.outbox`, in
ordinary transactions, exactly as production code does:

* an appointment reminder three days ahead (care) for every upcoming booking, in the
  patient's language; reminders due within the hour go to the broker at commit,
  later ones wait in the database for the dispatcher;
* a marketing check-up recall (``enqueue_bulk``) for patients with diabetes
  (E11) or hypertension (I10).  The worker's policy suppresses those without
  consent or who opted out and defers those in quiet hours.  To show the
  frequency cap, a few of them first receive ``CAP`` earlier marketing messages
  (sent through the same send path, console channel) so the recall is refused.

Nothing leaves the machine while ``CARELOOP_CHANNEL_MODE=console`` (the default).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.messaging import policy
from core.messaging.batch import process_batch
from core.messaging.default_templates import APPOINTMENT_REMINDER, seed_default_templates
from core.messaging.outbox import BROKER_HORIZON, enqueue_bulk, enqueue_message
from core.messaging.templates import save_template
from core.models import Appointment, Condition, Patient
from core.runtime import CareLoop
from core.services.consent import has_consent

#: the recall campaign's template key (a demo template, editable in the back office)
RECALL_TEMPLATE = "demo_checkup_recall"
#: conditions whose patients the recall targets (ICD-10: type 2 diabetes, hypertension)
RECALL_CONDITIONS = ("E11", "I10")
#: how long before an appointment its reminder goes out
REMINDER_LEAD = dt.timedelta(days=3)
#: recall patients who got earlier marketing this week (so the frequency cap shows)
CAPPED_PATIENTS = 2
UPCOMING_STATUSES = ("booked", "confirmed")

#: (subject, body) of the recall per locale; the reply word is that language's opt-out keyword
_RECALL_TEXTS: dict[str, tuple[str, str]] = {
    "en": (
        "Time for your check-up",
        "Hello {{ patient.display_name }}, it is time for your regular check-up "
        "(blood pressure and blood sugar). Reply to this message to book a visit.\n"
        "Reply STOP to receive no more messages.",
    ),
    "id": (
        "Saatnya pemeriksaan rutin",
        "Halo {{ patient.display_name }}, sudah waktunya pemeriksaan rutin Anda "
        "(tekanan darah dan gula darah). Balas pesan ini untuk membuat janji.\n"
        "Balas BERHENTI jika tidak ingin menerima pesan lagi.",
    ),
    "zh": (
        "定期复查提醒",
        "{{ patient.display_name }}您好，您该进行定期复查（血压和血糖）了。回复本消息即可预约。\n"
        "回复“退订”即不再接收消息。",
    ),
    "ru": (
        "Пора на плановый осмотр",
        "Здравствуйте, {{ patient.display_name }}! Пора пройти плановый осмотр "
        "(давление и сахар крови). Ответьте на это сообщение, чтобы записаться.\n"
        "Ответьте СТОП, чтобы больше не получать сообщения.",
    ),
    "uk": (
        "Час для планового огляду",
        "Вітаємо, {{ patient.display_name }}! Час пройти плановий огляд "
        "(тиск і цукор крові). Дайте відповідь на це повідомлення, щоб записатися.\n"
        "Надішліть СТОП, щоб більше не отримувати повідомлень.",
    ),
    "ko": (
        "정기 검진 안내",
        "{{ patient.display_name }}님, 정기 검진(혈압·혈당)을 받으실 때입니다. "
        "이 메시지에 답장하시면 예약해 드립니다.\n"
        "더 이상 메시지를 받지 않으시려면 '수신거부'라고 답장해 주세요.",
    ),
}


@dataclass
class OutreachSummary:
    """What :func:`queue_outreach` queued."""

    templates: int = 0
    reminders: int = 0
    #: reminders not due within the hour: they wait in the database for the dispatcher
    reminders_waiting: int = 0
    recall: int = 0
    #: earlier marketing messages sent during the load (they make the cap bite)
    earlier_sent: int = 0


def queue_outreach(runtime: CareLoop, *, anchor: dt.datetime) -> OutreachSummary:
    """Seed templates and enqueue the demo's reminders and recall campaign.

    Does nothing unless ``CARELOOP_CHANNEL_MODE=console``.

    :param anchor: the demo data's "now"; reminder times keep their distance
        to it, but are counted from the real clock (the outbox's time).
    """
    summary = OutreachSummary()
    if runtime.config.channel_mode != "console":
        return summary  # demo addresses are made up: never hand them to a live provider
    with runtime.transaction() as session:
        summary.templates = seed_default_templates(session) + _seed_recall_template(session)
    with runtime.transaction() as session:
        summary.reminders, summary.reminders_waiting = _queue_reminders(session, anchor)
    with runtime.transaction() as session:
        cohort = _recall_cohort(session)
        capped = _cap_candidates(session, runtime, cohort)
    summary.earlier_sent = _send_earlier_marketing(runtime, capped)
    with runtime.transaction() as session:
        summary.recall = len(
            enqueue_bulk(
                session,
                cohort,
                purpose="marketing",
                template_key=RECALL_TEMPLATE,
                cause="demo:checkup_recall",
            )
        )
    return summary


def _seed_recall_template(session: Session) -> int:
    for locale, (subject, body) in _RECALL_TEXTS.items():
        save_template(
            session,
            key=RECALL_TEMPLATE,
            locale=locale,
            subject=subject,
            body=body,
            description="Demo: check-up recall for patients with E11 or I10",
        )
    return len(_RECALL_TEXTS)


def _queue_reminders(session: Session, anchor: dt.datetime) -> tuple[int, int]:
    """One reminder per upcoming appointment; returns (queued, waiting in the database)."""
    now = utcnow()
    rows = session.execute(
        select(Appointment.id, Appointment.scheduled_start, Patient.id, Patient.preferred_language)
        .join(Patient, Patient.id == Appointment.patient_id)
        .where(
            Appointment.scheduled_start > anchor,
            Appointment.status.in_(UPCOMING_STATUSES),
            Patient.archived_at.is_(None),
        )
        .order_by(Appointment.scheduled_start, Appointment.id)
    )
    queued = waiting = 0
    for appointment_id, start, patient_id, language in rows:
        wait = start - anchor - REMINDER_LEAD
        # due within the horizon: send now (no delayed broker job for a demo to wait on)
        when = now + wait if wait > BROKER_HORIZON else now
        message = enqueue_message(
            session,
            patient_id,
            purpose="care",
            template_key=APPOINTMENT_REMINDER,
            locale=language,
            context={"appointment_id": appointment_id},
            scheduled_at=when,
            idempotency_key=f"reminder:appt:{appointment_id}:3d",
            cause=f"appointment:{appointment_id}:reminder",
        )
        queued += 1
        waiting += message.enqueued_at is None
    return queued, waiting


def _recall_cohort(session: Session) -> list[int]:
    """Active, non-lead patients with one of :data:`RECALL_CONDITIONS`."""
    query = (
        select(Patient.id)
        .join(Patient.conditions)
        .where(
            Condition.code.in_(RECALL_CONDITIONS),
            Patient.archived_at.is_(None),
            Patient.merged_into_id.is_(None),
            Patient.is_lead.is_(False),
        )
        .order_by(Patient.id)
    )
    return list(dict.fromkeys(session.scalars(query)))


def _cap_candidates(session: Session, runtime: CareLoop, cohort: Sequence[int]) -> list[int]:
    """A few recall patients who may get marketing by SMS or e-mail right now."""
    quiet = policy.parse_quiet_hours(runtime.config.quiet_hours)
    now = utcnow()
    picked: list[int] = []
    for patient in session.scalars(select(Patient).where(Patient.id.in_(cohort))):
        if len(picked) >= CAPPED_PATIENTS:
            break
        tz = policy.zone(patient.time_zone, runtime.config.timezone)
        if quiet is not None and quiet.end_after(now, tz) is not None:
            continue
        if any(has_consent(session, patient.id, ch, "marketing") for ch in ("sms", "email")):
            picked.append(patient.id)
    return picked


def _send_earlier_marketing(runtime: CareLoop, patient_ids: Sequence[int]) -> int:
    """Send the cap's worth of marketing to *patient_ids* now (same path as the worker)."""
    cap = policy.parse_frequency_cap(runtime.config.marketing_cap)
    if cap is None or not patient_ids:
        return 0
    sent = 0
    for number in range(cap.count):
        with runtime.transaction() as session:
            ids = enqueue_bulk(
                session,
                patient_ids,
                purpose="marketing",
                channels=("sms", "email"),
                template_key=RECALL_TEMPLATE,
                cause=f"demo:earlier_campaign:{number + 1}",
            )
        statuses = process_batch(runtime, ids)
        sent += sum(1 for status in statuses.values() if status in ("sent", "delivered", "read"))
    return sent


def message_counts(runtime: CareLoop) -> dict[str, int]:
    """How many outbound messages the database holds per status."""
    from sqlalchemy import func

    from core.models import OutboundMessage

    with runtime.session() as session:
        rows = session.execute(
            select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)
        )
        return {status: count for status, count in rows}


def due_on_broker(runtime: CareLoop) -> int:
    """Queued messages handed to the broker that are due now (a worker should take them)."""
    from sqlalchemy import func

    from core.models import OutboundMessage

    with runtime.session() as session:
        query = select(func.count()).where(
            OutboundMessage.status.in_(("queued", "sending")),
            OutboundMessage.enqueued_at.is_not(None),
            OutboundMessage.scheduled_at <= utcnow(),
        )
        return session.scalar(query) or 0
