"""SMSAPI callbacks: delivery reports and inbound SMS, parsed into events and applied."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.audit import Actor
from core.models.outbox import OutboundMessage
from plugins.sms.channel import message_id_of_idx
from plugins.webhooks import inbound
from plugins.webhooks.models import WebhookEvent
from plugins.webhooks.outbox import record_status
from plugins.webhooks.services import IncomingEvent, register_handler

PROVIDER = "smsapi"
CHANNEL = "sms"
ACTOR = Actor.system("webhook:smsapi")

#: SMSAPI report status code -> outbox status (others change nothing)
STATUS_MAP = {
    "401": "failed",  # NOT_FOUND
    "402": "failed",  # EXPIRED
    "403": "sent",  # SENT
    "404": "delivered",  # DELIVERED
    "405": "failed",  # UNDELIVERED
    "406": "failed",  # FAILED
    "407": "failed",  # REJECTED
}
REPORT_FIELDS = ("MsgId", "status", "status_name", "idx", "donedate", "to", "points", "sent_at")


def parse_reports(params: Mapping[str, str]) -> list[dict[str, str]]:
    """Split a delivery-report request (1-5 reports, comma-separated values) into reports."""
    columns = {name: (params.get(name) or "").split(",") for name in REPORT_FIELDS}
    ids = [i.strip() for i in columns["MsgId"]]
    reports = []
    for n, msg_id in enumerate(ids):
        if not msg_id:
            continue
        report = {"MsgId": msg_id}
        for name in REPORT_FIELDS[1:]:
            values = columns[name]
            report[name] = values[n].strip() if n < len(values) else ""
        reports.append(report)
    return reports


def is_inbound(params: Mapping[str, str]) -> bool:
    """Inbound SMS (MO) callbacks carry ``sms_from``; delivery reports do not."""
    return bool(params.get("sms_from"))


def issued_reports(session: Session, reports: list[dict[str, str]]) -> list[dict[str, str]]:
    """Only reports about SMS we sent: our ``idx`` or a ``MsgId`` we recorded."""
    ids = {r["MsgId"] for r in reports}
    idx = {i for i in (message_id_of_idx(r.get("idx")) for r in reports) if i is not None}
    rows = session.execute(
        select(OutboundMessage.id, OutboundMessage.provider_message_id).where(
            OutboundMessage.channel == CHANNEL,
            or_(OutboundMessage.provider_message_id.in_(ids), OutboundMessage.id.in_(idx)),
        )
    ).all()
    known_ids = {provider_id for _, provider_id in rows if provider_id}
    by_row = {row_id: provider_id for row_id, provider_id in rows}
    accepted = []
    for report in reports:
        idx_value = message_id_of_idx(report.get("idx"))
        if report["MsgId"] in known_ids or (
            idx_value in by_row and by_row[idx_value] in (None, report["MsgId"])
        ):
            accepted.append(report)
    return accepted


def report_events(reports: list[dict[str, str]]) -> list[IncomingEvent]:
    return [
        IncomingEvent(f"dlr:{r['MsgId']}:{r['status']}", "report", {"report": r}) for r in reports
    ]


def inbound_event(params: Mapping[str, str]) -> IncomingEvent | None:
    """The event for an inbound SMS, keyed by its ``MsgId``."""
    msg_id = (params.get("MsgId") or "").strip()
    if not msg_id:
        return None
    fields = ("MsgId", "sms_from", "sms_to", "sms_text", "sms_date", "username")
    doc = {name: params.get(name, "") for name in fields}
    return IncomingEvent(f"mo:{msg_id}", "inbound", {"sms": doc})


def _timestamp(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def handle_event(session: Session, event: WebhookEvent) -> str:
    """Apply one stored event (called once per event by the actor)."""
    if event.kind == "report":
        return handle_report(session, event.payload["report"])
    if event.kind == "inbound":
        return handle_inbound(session, event.payload["sms"])
    return "ignored: unknown kind"


def handle_report(session: Session, report: dict[str, str]) -> str:
    target = STATUS_MAP.get(report.get("status", ""))
    if target is None:
        return f"ignored: status {report.get('status', '')[:10]}"
    reason = None
    if target == "failed":
        reason = f"SMSAPI {report.get('status')} {report.get('status_name', '')}".strip()
    return record_status(
        session,
        CHANNEL,
        target,
        message_id=message_id_of_idx(report.get("idx")),
        provider_message_id=report["MsgId"],
        reason=reason,
        occurred_at=_timestamp(report.get("donedate")),
    )


def handle_inbound(session: Session, sms: dict[str, str]) -> str:
    """An inbound SMS is logged as an interaction; an opt-out keyword withdraws SMS consent."""
    text = sms.get("sms_text") or ""
    reply = inbound.InboundMessage(
        channel=CHANNEL,
        phone=sms.get("sms_from", ""),
        text=text,
        provider_ref=sms.get("MsgId", ""),
        received_at=_timestamp(sms.get("sms_date")) or dt.datetime.now(dt.UTC),
    )
    return inbound.handle_reply(session, reply, ACTOR)


register_handler(PROVIDER, "sms", handle_event)
