"""Property: no message reaches a channel without consent, after an opt-out, or in quiet hours.

Random consent histories (grants and withdrawals per channel and purpose, in
any order), random patient time zones, random quiet-hour windows and random
"now" moments; every message goes through the real send path
(:func:`core.messaging.sender.process_message`) into recording channels.  The
oracle below is written independently of :mod:`core.messaging.policy`.
"""

from __future__ import annotations

import datetime as dt
from unittest import mock
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.audit import Actor
from core.db import utcnow
from core.messaging import outbox, sender
from core.messaging.sender import process_message
from core.models import OutboundMessage
from core.services import consent

CHANNELS = ["whatsapp", "sms", "email"]
PURPOSES = ["care", "marketing"]
ZONES = [
    "Asia/Jakarta",
    "Asia/Seoul",
    "Europe/Kyiv",
    "America/Los_Angeles",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "UTC",
    None,
]

consent_event = st.tuples(
    st.sampled_from(CHANNELS),
    st.sampled_from(PURPOSES),
    st.sampled_from(["granted", "withdrawn"]),
    st.integers(min_value=1, max_value=60 * 24 * 30),  # minutes before now
)
clock = st.tuples(st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


def _in_window(local: dt.datetime, start: tuple[int, int], end: tuple[int, int]) -> bool:
    minute = local.hour * 60 + local.minute
    a, b = start[0] * 60 + start[1], end[0] * 60 + end[1]
    if a == b:
        return False
    return a <= minute < b if a < b else minute >= a or minute < b


def _latest(history, channel, purpose):
    events = [
        (ago, i, status)
        for i, (c, p, status, ago) in enumerate(history)
        if (c, p) == (channel, purpose)
    ]
    if not events:
        return None
    # latest = smallest "minutes ago"; ties -> the later-recorded one (higher id)
    events.sort(key=lambda e: (-e[0], e[1]))
    return events[-1][2]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=st.lists(consent_event, max_size=8),
    zone=st.sampled_from(ZONES),
    quiet=st.one_of(st.none(), st.tuples(clock, clock)),
    offset_minutes=st.integers(0, 24 * 60),
    purpose=st.sampled_from(PURPOSES),
    order=st.permutations(CHANNELS),
)
def test_no_send_without_consent_or_in_quiet_hours(
    msg_runtime, make_patient, fake_channels, history, zone, quiet, offset_minutes, purpose, order
):
    quiet_text = (
        "off" if quiet is None else "{:02d}:{:02d}-{:02d}:{:02d}".format(*quiet[0], *quiet[1])
    )
    msg_runtime.config = msg_runtime.config.with_overrides(quiet_hours=quiet_text)
    for channel in fake_channels.channels.values():
        channel.sent.clear()
    pid = make_patient(tz=zone, whatsapp="+6281234567899")
    real_now = utcnow()
    actor = Actor.system("property-test")
    with msg_runtime.transaction() as session:
        for channel, purp, status, ago in history:
            consent.record_consent(
                session,
                pid,
                channel,
                purp,
                status,
                "staff",
                actor,
                occurred_at=real_now - dt.timedelta(minutes=ago),
            )
        # a recent inbound WhatsApp message opens the 24-hour window half of the time
        if offset_minutes % 2:
            from core.services.interactions import log_interaction

            log_interaction(
                session, pid, channel="whatsapp", direction="inbound", kind="message", actor=actor
            )
    with mock.patch.object(outbox, "send_to_broker", lambda jobs: 0):
        with msg_runtime.transaction() as session:
            mid = outbox.enqueue_message(
                session, pid, purpose=purpose, channels=list(order), body="hello"
            ).id
        now = real_now + dt.timedelta(minutes=offset_minutes)
        with (
            mock.patch.object(sender, "utcnow", lambda: now),
            mock.patch.object(sender, "send_to_broker", lambda jobs: 0),
        ):
            status = process_message(msg_runtime, mid)

    sent = fake_channels.all_sent()
    local = now.astimezone(ZoneInfo(zone or msg_runtime.config.timezone))
    for message in sent:
        assert _latest(history, message.channel, purpose) == "granted"
        assert quiet is None or not _in_window(local, quiet[0], quiet[1])
    assert len(sent) <= 1
    with msg_runtime.session() as session:
        row = session.get(OutboundMessage, mid)
        assert row.status == status
        if not sent:  # never dropped silently
            assert row.status in ("suppressed", "queued") and row.status_reason
        if row.status == "queued":
            assert row.status_reason == "quiet_hours" and row.scheduled_at > now
        allowed = [c for c in order if _latest(history, c, purpose) == "granted"]
        if not allowed:
            assert row.status == "suppressed"
